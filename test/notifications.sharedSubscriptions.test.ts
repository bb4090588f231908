import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SharedSubscriptions, SubscribeTimeoutError } from '../server/notifications/sharedSubscriptions.js';
import { waitFor } from './helpers/conditions.js';

/** A transport whose commands complete only when the test says so; it logs every command. */
function manualTransport() {
  const log: string[] = [];
  const inFlight: Array<{ op: string; resolve: () => void; reject: (error: Error) => void }> = [];
  const command = (op: string) =>
    new Promise<void>((resolve, reject) => {
      log.push(op);
      inFlight.push({ op, resolve, reject });
    });
  return {
    log,
    transport: { subscribe: (c: string) => command(`SUBSCRIBE ${c}`), unsubscribe: (c: string) => command(`UNSUBSCRIBE ${c}`) },
    /** Waits for the next command, checks it is `op`, and settles it. */
    async settle(op: string, error?: Error) {
      await waitFor(() => inFlight.length > 0, { message: op });
      const next = inFlight.shift()!;
      assert.equal(next.op, op);
      if (error) next.reject(error);
      else next.resolve();
    },
    get pendingCount() {
      return inFlight.length;
    },
  };
}

/** A transport that confirms everything at once. */
function instantTransport() {
  const log: string[] = [];
  return {
    log,
    transport: {
      subscribe: async (c: string) => void log.push(`SUBSCRIBE ${c}`),
      unsubscribe: async (c: string) => void log.push(`UNSUBSCRIBE ${c}`),
    },
  };
}

describe('SharedSubscriptions', () => {
  test('a listen in the same tick as the last unlisten keeps the subscription without a round trip', async () => {
    const { log, transport } = instantTransport();
    const subscriptions = new SharedSubscriptions(transport, { subscribeTimeoutMs: 1000 });
    (await subscriptions.listen('c', () => {}))();
    const unlisten = await subscriptions.listen('c', () => {});
    assert.deepEqual(log, ['SUBSCRIBE c']);
    assert.equal(subscriptions.channelCount, 1);
    unlisten();
    await waitFor(() => subscriptions.channelCount === 0, { message: 'UNSUBSCRIBE' });
  });

  test('the first listener subscribes, further ones share it, and the last one unsubscribes', async () => {
    const { log, transport } = instantTransport();
    const subscriptions = new SharedSubscriptions(transport, { subscribeTimeoutMs: 1000 });
    const received: string[] = [];
    const a = await subscriptions.listen('c', (p) => received.push(`a:${p}`));
    const b = await subscriptions.listen('c', (p) => received.push(`b:${p}`));
    assert.deepEqual(log, ['SUBSCRIBE c']);
    subscriptions.dispatch('c', '1');
    a();
    a(); // idempotent: must not drop b's reference
    subscriptions.dispatch('c', '2');
    assert.equal(subscriptions.channelCount, 1);
    b();
    await waitFor(() => subscriptions.channelCount === 0, { message: 'UNSUBSCRIBE' });
    assert.deepEqual(log, ['SUBSCRIBE c', 'UNSUBSCRIBE c']);
    assert.deepEqual(received, ['a:1', 'b:1', 'b:2']);
  });

  test('the same callback may listen several times: each registration gets each message and is removed once', async () => {
    const { log, transport } = instantTransport();
    const subscriptions = new SharedSubscriptions(transport, { subscribeTimeoutMs: 1000 });
    const received: string[] = [];
    const same = (payload: string) => received.push(`same:${payload}`);
    const first = await subscriptions.listen('c', same);
    const second = await subscriptions.listen('c', same);
    subscriptions.dispatch('c', '1');
    first(); // the registration held in the entry's own field goes; the other stays
    assert.equal(subscriptions.listenerCount, 1);
    subscriptions.dispatch('c', '2');
    const third = await subscriptions.listen('c', (payload) => received.push(`third:${payload}`));
    subscriptions.dispatch('c', '3');
    second();
    second();
    first();
    assert.equal(subscriptions.listenerCount, 1);
    subscriptions.dispatch('c', '4');
    third();
    await waitFor(() => subscriptions.channelCount === 0, { message: 'UNSUBSCRIBE' });
    assert.deepEqual(log, ['SUBSCRIBE c', 'UNSUBSCRIBE c']);
    assert.deepEqual(received.sort(), ['same:1', 'same:1', 'same:2', 'same:3', 'third:3', 'third:4'].sort());
  });

  test('a listen right after the last unlisten waits for the UNSUBSCRIBE and ends up subscribed', async () => {
    const manual = manualTransport();
    const subscriptions = new SharedSubscriptions(manual.transport, { subscribeTimeoutMs: 5000 });
    const first = subscriptions.listen('c', () => {});
    await manual.settle('SUBSCRIBE c');
    (await first)();
    await waitFor(() => manual.pendingCount === 1, { message: 'UNSUBSCRIBE in flight' });
    let secondResolved = false;
    const second = subscriptions.listen('c', () => {}).then((unlisten) => ((secondResolved = true), unlisten));
    await manual.settle('UNSUBSCRIBE c');
    assert.equal(secondResolved, false);
    await manual.settle('SUBSCRIBE c');
    const unlisten = await second;
    assert.equal(subscriptions.channelCount, 1);
    assert.deepEqual(manual.log, ['SUBSCRIBE c', 'UNSUBSCRIBE c', 'SUBSCRIBE c']);
    unlisten();
    await manual.settle('UNSUBSCRIBE c');
    await waitFor(() => subscriptions.channelCount === 0, { message: 'channel count 0' });
  });

  test('an unconfirmed listen times out, and the late SUBSCRIBE is undone when it completes', async () => {
    const manual = manualTransport();
    const subscriptions = new SharedSubscriptions(manual.transport, { subscribeTimeoutMs: 50 });
    await assert.rejects(subscriptions.listen('c', () => {}), SubscribeTimeoutError);
    assert.equal(subscriptions.listenerCount, 0);
    await manual.settle('SUBSCRIBE c');
    await manual.settle('UNSUBSCRIBE c');
    await waitFor(() => subscriptions.channelCount === 0 && manual.pendingCount === 0, { message: 'idle' });
    assert.deepEqual(subscriptions.subscribedChannels(), []);
  });

  test('failPending rejects waiting listens without abandoning their command', async () => {
    const manual = manualTransport();
    const subscriptions = new SharedSubscriptions(manual.transport, { subscribeTimeoutMs: 5000 });
    const waiting = subscriptions.listen('c', () => {});
    await waitFor(() => manual.pendingCount === 1, { message: 'SUBSCRIBE sent' });
    subscriptions.failPending(new Error('connection lost'));
    await assert.rejects(waiting, /connection lost/);
    await manual.settle('SUBSCRIBE c');
    await manual.settle('UNSUBSCRIBE c');
    await waitFor(() => subscriptions.channelCount === 0, { message: 'idle' });
  });

  test('a failed SUBSCRIBE rejects every waiting listener and leaves nothing behind', async () => {
    const manual = manualTransport();
    const subscriptions = new SharedSubscriptions(manual.transport, { subscribeTimeoutMs: 5000 });
    const a = subscriptions.listen('c', () => {});
    const b = subscriptions.listen('c', () => {});
    await manual.settle('SUBSCRIBE c', new Error('NOPERM'));
    await assert.rejects(a, /NOPERM/);
    await assert.rejects(b, /NOPERM/);
    assert.equal(subscriptions.listenerCount, 0);
    assert.equal(manual.pendingCount, 0);
    const c = subscriptions.listen('c', () => {});
    await manual.settle('SUBSCRIBE c');
    (await c)();
    await manual.settle('UNSUBSCRIBE c');
  });

  test('a failed UNSUBSCRIBE is reported, and resync retries it', async () => {
    const manual = manualTransport();
    const errors: string[] = [];
    const subscriptions = new SharedSubscriptions(manual.transport, {
      subscribeTimeoutMs: 5000,
      onError: (error, channel) => errors.push(`${channel}: ${(error as Error).message}`),
    });
    const listening = subscriptions.listen('c', () => {});
    await manual.settle('SUBSCRIBE c');
    (await listening)();
    await manual.settle('UNSUBSCRIBE c', new Error('down'));
    await waitFor(() => errors.length === 1, { message: 'the error report' });
    assert.deepEqual(errors, ['c: down']);
    assert.equal(subscriptions.channelCount, 1);
    subscriptions.resync();
    await manual.settle('UNSUBSCRIBE c');
    await waitFor(() => subscriptions.channelCount === 0, { message: 'idle' });
  });

  test('one throwing listener does not keep a message from the others', async () => {
    const { transport } = instantTransport();
    const subscriptions = new SharedSubscriptions(transport, { subscribeTimeoutMs: 1000 });
    const received: string[] = [];
    await subscriptions.listen('c', () => {
      throw new Error('bug');
    });
    await subscriptions.listen('c', (p) => received.push(p));
    subscriptions.dispatch('c', 'hello');
    subscriptions.dispatch('other', 'ignored');
    assert.deepEqual(received, ['hello']);
  });

  test('after clear, listens reject and nothing more is sent', async () => {
    const manual = manualTransport();
    const subscriptions = new SharedSubscriptions(manual.transport, { subscribeTimeoutMs: 5000 });
    const waiting = subscriptions.listen('c', () => {});
    subscriptions.clear(new Error('closed'));
    await assert.rejects(waiting, /closed/);
    await assert.rejects(subscriptions.listen('d', () => {}), /closed/);
    assert.deepEqual(manual.log, []);
  });
});
