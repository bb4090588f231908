import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runServe, type Running } from '../server/cli/runServe.js';
import { ROOT } from './helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = join(ROOT, 'test-output');
/** Long enough for a dispatch → completion through the worker, on a slow machine. */
const UI_TIMEOUT_MS = 20_000;

const skip = !existsSync(CHROMIUM) && process.env.CI !== 'true' ? `${CHROMIUM} is not installed (apt-get install chromium)` : false;

describe('the dashboard in headless Chromium, served by `senpuki serve` on the embedded store', { skip }, () => {
  let dataDir: string;
  let running: Running;
  let browser: Browser;
  let page: Page;
  let loads = 0;
  const pageErrors: string[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'senpuki-dashboard-'));
    await mkdir(SCREENSHOTS, { recursive: true });
    // An empty env: the embedded store even where DATABASE_URL is set for other suites.
    running = await runServe({ port: 0, dataDir, concurrency: 4, logger: pino({ level: 'silent' }) }, {});
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('load', () => loads++);
    await page.goto(`${running.server!.url}/`);
  });
  after(async () => {
    await browser?.close();
    await running?.stop();
    await rm(dataDir, { recursive: true, force: true });
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });

  /** Picks a function in the dispatch form, types its arguments, dispatches; returns the new execution's id. */
  async function dispatchFromForm(fn: string, args: string): Promise<string> {
    const form = page.locator('form.dispatch-form');
    await form.locator('select[name=function]').selectOption(fn);
    await form.locator('textarea[name=args]').fill(args);
    await form.locator('button[type=submit]').click();
    const link = form.locator('.dispatch-outcome a.dispatched-link');
    await link.waitFor();
    const id = await link.locator('code').getAttribute('title');
    assert.ok(id);
    return id;
  }

  it('lists the registered functions in the dispatch form, and checks the arguments as they are typed', async () => {
    const form = page.locator('form.dispatch-form');
    await form.locator('select[name=function] option[value=placeOrder]').waitFor({ state: 'attached' });
    const options = await form.locator('select[name=function] option').allTextContents();
    assert.deepEqual(options, ['awaitApproval', 'chargePayment', 'placeOrder', 'remindLater', 'reserveItem', 'tellStory']);
    assert.equal(await form.locator('select[name=function]').inputValue(), 'placeOrder', 'starts on the order workflow, with example arguments');
    assert.match(await form.locator('textarea[name=args]').inputValue(), /order-1/);

    await form.locator('textarea[name=args]').fill('["order-1", ');
    await form.locator('.args-status .bad').filter({ hasText: 'Not valid JSON' }).waitFor();
    assert.equal(await form.locator('button[type=submit]').isDisabled(), true);
    await form.locator('textarea[name=args]').fill('{"orderId": "x"}');
    await form.locator('.args-status .bad').filter({ hasText: 'must be a JSON array' }).waitFor();
  });

  it("shows the server's message when it refuses a dispatch", async () => {
    const form = page.locator('form.dispatch-form');
    await form.locator('textarea[name=args]').fill('["order-1", []]');
    await form.locator('details.options summary').click();
    await form.locator('input[name=delay]').fill('soon');
    await form.locator('button[type=submit]').click();
    await form.locator('.dispatch-outcome .error-box').filter({ hasText: 'Duration must be a number of milliseconds or a string like' }).waitFor();
    await form.locator('input[name=delay]').fill('');
  });

  it('shows a dispatched execution on the list and moves it to completed there, without a reload', async () => {
    const loadsBefore = loads;
    const id = await dispatchFromForm('placeOrder', '["order-7", [{"sku": "apple", "quantity": 2, "unitPriceCents": 120}, {"sku": "pear", "quantity": 1, "unitPriceCents": 250}]]');
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    // Record every state the row shows, to prove it changed in place. (A string, not a function:
    // tsx would wrap a function's inner closures in a helper the page does not have.)
    await page.evaluate(`(() => {
      const seen = (window.seenStates = []);
      const record = () => {
        const state = document.querySelector('tr[data-id="${id}"]')?.getAttribute('data-state');
        if (state && seen.at(-1) !== state) seen.push(state);
      };
      record();
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
    })()`);
    await page.locator(`tr[data-id="${id}"][data-state=COMPLETED]`).waitFor();
    const seen = await page.evaluate(() => (window as unknown as { seenStates: string[] }).seenStates);
    assert.equal(seen.at(-1), 'COMPLETED');
    assert.equal(loads, loadsBefore, 'the page was not reloaded');
    assert.equal(await row.locator('.fn').textContent(), 'placeOrder');
    assert.match((await row.locator('.progress-text').textContent()) ?? '', /^2\/2/);
    await page.locator('.connection[data-status=live]').waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-executions.png'), fullPage: true });

    // Its page, reached by a click, shows the finished tree.
    await row.locator('.fn a').click();
    await page.locator('.exec-title [data-state=COMPLETED]').waitFor();
    assert.equal(await page.locator('tr.task-row').count(), 4, 'placeOrder, two reserveItem, chargePayment');
    assert.equal(await page.locator('tr.task-row[data-state=COMPLETED]').count(), 4);
    await page.locator('tr.task-row').filter({ hasText: 'chargePayment' }).click();
    await page.locator('tr.task-details').waitFor();
    assert.equal(loads, loadsBefore, 'hash navigation, no reload');
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-execution.png'), fullPage: true });
  });

  it('moves an execution to completed on its page when a signal is sent from its signal button', async () => {
    await page.locator('.crumbs a').click();
    const loadsBefore = loads;
    const id = await dispatchFromForm('awaitApproval', '["order-8", 60000]');
    await page.locator('.dispatch-outcome a.dispatched-link').click();
    assert.match(page.url(), new RegExp(`#/executions/${id}$`));
    // Running, with its signal task waiting.
    await page.locator('tr.task-row[data-state=WAITING]:has(.kind-signal)').filter({ hasText: 'approve' }).waitFor();
    await page.locator('.exec-title [data-state=RUNNING]').waitFor();
    await page.locator('.actions button', { hasText: 'Send signal "approve"' }).click();
    const form = page.locator('form.signal-form');
    assert.equal(await form.locator('input[name=signalName]').inputValue(), 'approve', 'the name of the signal its task waits for');
    await form.locator('textarea[name=signalPayload]').fill('{"by": "ana"}');
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-execution-signal.png'), fullPage: true });
    await form.locator('button[type=submit]').click();
    await page.locator('.exec-title [data-state=COMPLETED]').waitFor();
    await page.locator('.io.completed pre').filter({ hasText: '"by": "ana"' }).waitFor();
    await page.locator('tr.task-row[data-state=COMPLETED]:has(.kind-signal)').filter({ hasText: 'approve' }).waitFor();
    assert.equal(loads, loadsBefore, 'the page was not reloaded');
  });

  it("shows an execution's stream growing live on its page, then closed with the whole text", async () => {
    await page.locator('.crumbs a').click();
    const id = await dispatchFromForm('tellStory', '["a dashboard test", 40]');
    await page.locator('.dispatch-outcome a.dispatched-link').click();
    const output = page.locator('pre.stream-output[data-stream=story]');
    await output.waitFor();
    // Seen part-way: some words, fewer than the story has, while the execution runs.
    const partial = await page.waitForFunction(() => {
      const text = document.querySelector('pre.stream-output[data-stream=story]')?.textContent ?? '';
      const running = document.querySelector('.exec-title [data-state=RUNNING]');
      return running && text.split(' ').length >= 3 ? text : false;
    });
    const partialText = (await partial.jsonValue()) as string;
    await page.locator('.stream.closed pre.stream-output[data-stream=story]').waitFor();
    await page.locator('.exec-title [data-state=COMPLETED]').waitFor();
    const result = JSON.parse((await page.locator('.io.completed pre').textContent()) ?? '{}') as { text: string };
    assert.equal(await output.textContent(), result.text, 'the stream holds the whole story, each word once');
    assert.ok(result.text.startsWith(partialText) && partialText.length < result.text.length, 'it was shown while it grew');
    assert.match((await page.locator('.stream-head').textContent()) ?? '', /story\d+ chunks · closed/);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-execution-stream.png'), fullPage: true });
    assert.ok(id);
  });

  it('cancels a sleeping execution from its page, and keeps the page on reload', async () => {
    await page.locator('.crumbs a').click();
    const id = await dispatchFromForm('remindLater', '["stretch", 600000]');
    await page.locator(`tr[data-id="${id}"] .fn a`).click();
    await page.locator('tr.task-row[data-state=WAITING]:has(.kind-sleep)').waitFor();
    await page.reload();
    await page.locator('.exec-title h1', { hasText: 'remindLater' }).waitFor();
    const cancel = page.locator('.actions button.danger');
    await cancel.click();
    await cancel.filter({ hasText: 'Confirm cancel' }).click();
    await page.locator('.exec-title [data-state=CANCELLED]').waitFor();
    assert.equal(await cancel.isDisabled(), true);
  });

  it('lists a task that failed for good on the dead letters page', async () => {
    await page.locator('.crumbs a').click();
    const id = await dispatchFromForm('placeOrder', '["order-0", [{"sku": "apple", "quantity": 0, "unitPriceCents": 120}]]');
    await page.locator(`tr[data-id="${id}"][data-state=FAILED]`).waitFor();
    await page.locator('.topbar nav a', { hasText: 'Dead letters' }).click();
    const letter = page.locator('.page-dead-letters tr.row').filter({ has: page.locator('td.fn', { hasText: /^reserveItem$/ }) });
    await letter.filter({ hasText: 'quantity of apple must be a positive integer' }).waitFor();
    assert.equal(await letter.locator('button', { hasText: 'Replay' }).count(), 1);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-dead-letters.png'), fullPage: true });
  });

  it('filters the list by state, keeping the filter in the address', async () => {
    await page.locator('.topbar nav a', { hasText: 'Executions' }).click();
    await page.locator('.chips button[data-state=CANCELLED]').click();
    await page.waitForFunction(() => location.hash.includes('state=CANCELLED'));
    await page.waitForFunction(() => [...document.querySelectorAll('tbody tr.row')].every((row) => row.getAttribute('data-state') === 'CANCELLED'));
    assert.equal(await page.locator('tbody tr.row').count(), 1);
    await page.reload();
    await page.locator('.chips button[data-state=CANCELLED].on').waitFor();
    await page.locator('tbody tr.row[data-state=CANCELLED]').waitFor();
    assert.equal(await page.locator('tbody tr.row').count(), 1);
  });

  it('groups a fan-out of 40 calls into one row with their counts and a bar, and expands it on a click', async () => {
    await page.locator('.topbar nav a', { hasText: 'Executions' }).click();
    const items = Array.from({ length: 40 }, (_, i) => ({ sku: `sku-${i}`, quantity: 1, unitPriceCents: 100 }));
    const id = await dispatchFromForm('placeOrder', JSON.stringify(['order-40', items]));
    await page.locator(`tr[data-id="${id}"][data-state=COMPLETED] .fn a`).click();
    const group = page.locator('tr.fanout-row[data-group=reserveItem]');
    await group.filter({ hasText: '× 40' }).waitFor();
    await group.locator('.progress-text', { hasText: /^40\/40/ }).waitFor();
    assert.match((await group.locator('.progress').getAttribute('title')) ?? '', /40 completed/);
    assert.equal(await page.locator('tr.task-row:not(.fanout-row)').count(), 2, 'the orchestrator and chargePayment; the 40 calls are folded');
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-fanout-grouped.png'), fullPage: true });
    await group.click();
    await page.waitForFunction(() => document.querySelectorAll('tr.task-row:not(.fanout-row)').length === 42);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-fanout-expanded.png'), fullPage: true });
  });

  it('says why an execution waits when no live worker takes its queue, and offers no signal button while nothing waits for one', async () => {
    await page.locator('.topbar nav a', { hasText: 'Executions' }).click();
    const form = page.locator('form.dispatch-form');
    await form.locator('select[name=function]').selectOption('remindLater');
    await form.locator('textarea[name=args]').fill('["nowhere", 1000]');
    await form.locator('details.options').evaluate((details) => ((details as HTMLDetailsElement).open = true));
    await form.locator('input[name=queue]').fill('nowhere');
    await form.locator('button[type=submit]').click();
    await form.locator('.dispatch-outcome a.dispatched-link').click();
    await page.locator('.warning-box', { hasText: 'No live worker takes queue "nowhere"' }).waitFor();
    assert.equal(await page.locator('.actions button', { hasText: 'Send signal' }).isVisible(), false, 'nothing waits for a signal');
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-execution-waiting.png'), fullPage: true });
    await form.locator('input[name=queue]').fill('').catch(() => {});
  });

  it('lists the live workers, with what each serves and how busy it is', async () => {
    await page.locator('.topbar nav a', { hasText: 'Workers' }).click();
    const row = page.locator('.page-workers tr.row');
    await row.first().waitFor();
    assert.equal(await row.count(), 1);
    assert.match((await row.textContent()) ?? '', /default/);
    assert.match((await row.locator('td.functions').textContent()) ?? '', /placeOrder/);
    await page.locator('.page-workers .panel-head', { hasText: /1 live worker · \d+\/4 slots busy/ }).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-workers.png'), fullPage: true });
  });

  it('opens an execution by the id typed in the search box, and says what an id looks like otherwise', async () => {
    const [execution] = await running.senpuki.listExecutions({ functionName: 'awaitApproval' });
    const search = page.locator('.topbar form.search input');
    await search.fill('not-an-id');
    await search.press('Enter');
    await page.locator('.search-status', { hasText: 'An execution id looks like' }).waitFor();
    await search.fill(execution!.id.toUpperCase());
    await search.press('Enter');
    await page.waitForFunction((id) => location.hash === `#/executions/${id}`, execution!.id);
    await page.locator('.exec-title h1', { hasText: 'awaitApproval' }).waitFor();
  });

  it("draws each task's runs on a timeline, and lists a task's runs with each error in its details", async () => {
    await page.locator('.topbar nav a', { hasText: 'Executions' }).click();
    const id = await dispatchFromForm('placeOrder', '["order-t", [{"sku": "apple", "quantity": 1, "unitPriceCents": 120}, {"sku": "pear", "quantity": 2, "unitPriceCents": 250}]]');
    await page.locator(`tr[data-id="${id}"][data-state=COMPLETED] .fn a`).click();
    await page.locator('.exec-title [data-state=COMPLETED]').waitFor();
    const rows = page.locator('.timeline .tl-row:not(.tl-axis)');
    assert.equal(await rows.count(), 4, 'one row per task');
    assert.ok((await page.locator('.timeline .tl-bar.tl-completed').count()) >= 4, 'every task has a completed run');
    const payment = page.locator('tr.task-row').filter({ hasText: 'chargePayment' });
    const attempts = Number(((await payment.locator('td.num').first().textContent()) ?? '').split('/')[0]);
    await payment.click();
    const runs = page.locator('tr.task-details table.runs tbody tr');
    await runs.first().waitFor();
    assert.equal(await runs.count(), attempts, 'one row per attempt');
    assert.equal(await runs.last().getAttribute('data-outcome'), 'COMPLETED');
    for (let i = 0; i < attempts - 1; i++) {
      assert.equal(await runs.nth(i).getAttribute('data-outcome'), 'RETRIED');
      assert.match((await runs.nth(i).locator('td.error-text').textContent()) ?? '', /GatewayTimeout: payment gateway timed out/);
    }
    await page.evaluate(() => window.scrollTo(0, 0)); // a full-page shot with the sticky header on top
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-timeline.png'), fullPage: true });
  });
});
