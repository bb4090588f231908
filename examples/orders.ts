/**
 * Example durable functions, registered by `npm start`: an order workflow that fans out over
 * its items (and reports progress), a payment step that fails at random and is retried, an
 * approval that waits for a signal, and a reminder that sleeps.
 *
 * A functions module exports durable functions made with `defineDurable`; `senpuki serve
 * --functions ./module.ts` registers every one it exports, and an `exampleArgs` export
 * pre-fills the dashboard's dispatch form.
 */
import { NonRetryableError, SignalTimeoutError } from '../server/errors.js';
import { defineDurable } from '../server/engine/registry.js';

export interface OrderItem {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

/** Reserves stock for one item; takes a moment, as a real inventory call would. */
export const reserveItem = defineDurable(
  'reserveItem',
  async (ctx, item: OrderItem) => {
    if (!Number.isInteger(item?.quantity) || item.quantity <= 0) {
      throw new NonRetryableError(`quantity of ${item?.sku} must be a positive integer`);
    }
    await pause(100 + Math.random() * 400, ctx.signal);
    return { sku: item.sku, reserved: item.quantity, amountCents: item.quantity * item.unitPriceCents };
  },
  { description: 'Reserve stock for one order line' },
);

/** Attempts on which the example gateway may fail; from this one on it always answers. */
const GATEWAY_FLAKY_ATTEMPTS = 2;

/**
 * Charges the card; the gateway fails half of the first calls at random, and the retry policy
 * handles it (so an order always completes, after one to three attempts).
 */
export const chargePayment = defineDurable(
  'chargePayment',
  async (ctx, orderId: string, amountCents: number) => {
    await pause(150, ctx.signal);
    if (ctx.attempt <= GATEWAY_FLAKY_ATTEMPTS && Math.random() < 0.5) {
      throw Object.assign(new Error('payment gateway timed out'), { name: 'GatewayTimeout' });
    }
    return { orderId, amountCents, chargeId: `ch_${orderId}_${ctx.attempt}` };
  },
  {
    retry: { maxAttempts: 5, initialDelayMs: '200ms', backoffFactor: 2, retryOn: ['GatewayTimeout'] },
    description: 'Charge the customer (fails at random, retried)',
  },
);

/** The order workflow: reserve every line at once, charge the total, then confirm. */
export const placeOrder = defineDurable(
  'placeOrder',
  async (ctx, orderId: string, items: OrderItem[]) => {
    if (!Array.isArray(items) || items.length === 0) throw new NonRetryableError('an order needs at least one item');
    ctx.progress(0, 2, `reserving ${items.length} item${items.length === 1 ? "" : "s"}`);
    const reservations = await ctx.map(reserveItem, items);
    const totalCents = reservations.reduce((sum, line) => sum + line.amountCents, 0);
    ctx.progress(1, 2, 'charging');
    const payment = await ctx.call(chargePayment, orderId, totalCents);
    ctx.progress(2, 2, 'done');
    return { orderId, lines: reservations.length, totalCents, chargeId: payment.chargeId };
  },
  { description: 'Order workflow: fan-out over items, then payment with retries' },
);

/** How long `awaitApproval` waits for its signal unless told otherwise. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 10 * 60_000;

/**
 * Waits for someone to approve an order: send the signal `approve` with `{ "by": "ana" }` (from
 * the dashboard, `senpuki signal <id> approve '{"by":"ana"}'` or the `sendSignal` mutation).
 * Waiting holds no worker slot; without a signal in time it ends with `approved: false`.
 */
export const awaitApproval = defineDurable(
  'awaitApproval',
  async (ctx, orderId: string, timeoutMs: number = DEFAULT_APPROVAL_TIMEOUT_MS) => {
    try {
      const payload = await ctx.waitForSignal<{ by?: string } | null>('approve', { timeoutMs });
      return { orderId, approved: true, by: payload?.by ?? 'someone' };
    } catch (error) {
      if (error instanceof SignalTimeoutError) return { orderId, approved: false, reason: `no approval within ${timeoutMs} ms` };
      throw error;
    }
  },
  { description: 'Wait for the signal "approve" (payload {"by": "…"}), up to a timeout' },
);

/** Sends a reminder after a durable sleep (the delay survives restarts). */
export const remindLater = defineDurable(
  'remindLater',
  async (ctx, message: string, afterMs: number) => {
    await ctx.sleep(afterMs);
    return { reminded: message, at: new Date().toISOString() };
  },
  { description: 'Sleep durably, then remind' },
);

/**
 * Arguments the dashboard's dispatch form starts with, by function name. Any functions module may
 * export `exampleArgs` like this one; it is optional.
 */
export const exampleArgs: Record<string, unknown[]> = {
  placeOrder: [
    'order-1',
    [
      { sku: 'apple', quantity: 3, unitPriceCents: 120 },
      { sku: 'pear', quantity: 1, unitPriceCents: 250 },
    ],
  ],
  reserveItem: [{ sku: 'apple', quantity: 1, unitPriceCents: 120 }],
  chargePayment: ['order-1', 610],
  awaitApproval: ['order-2', 600_000],
  remindLater: ['water the plants', 5000],
};

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
