import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Execution, TaskListSnapshot } from '../client/index.js';
import { waitFor } from './helpers/conditions.js';
import { startCuttableProxy, type CuttableProxy } from './helpers/cuttableProxy.js';
import { recordingWebSocket } from './helpers/recordingClients.js';
import { startSdkServer, type SdkServer } from './helpers/sdkServer.js';

function assertStrictlyIncreasing(rows: Execution[]): void {
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.version > rows[i - 1]!.version, `versions ${rows.map((row) => row.version)}`);
}

const STEPS = 50;
const STEP_DELAY_MS = 40;

describe('SDK live iterators across dropped connections', () => {
  let sdk: SdkServer;
  before(async () => {
    sdk = await startSdkServer();
  });
  after(async () => {
    await sdk.close();
  });

  for (const transport of ['ws', 'sse'] as const) {
    it(`keeps versions strictly increasing to the terminal state when the server restarts mid-execution (${transport})`, async () => {
      const { RecordingWebSocket, values: sinces } = recordingWebSocket('since');
      const client = sdk.client({ transport, webSocketImpl: RecordingWebSocket });
      const { executionId } = await client.dispatch('steps', [STEPS, STEP_DELAY_MS]);
      const seen: Execution[] = [];
      let restart: Promise<void> | undefined;
      let versionAtRestart = 0;
      for await (const update of client.executionUpdates(executionId)) {
        seen.push(update);
        if (!restart && (update.progress?.done ?? 0) >= 10) {
          versionAtRestart = update.version;
          restart = sdk.restart();
        }
      }
      await restart;
      assertStrictlyIncreasing(seen);
      assert.equal(seen.at(-1)!.state, 'COMPLETED');
      assert.equal(seen.at(-1)!.result, (STEPS * (STEPS - 1)) / 2);
      assert.ok(seen.some((row) => row.version > versionAtRestart && !row.terminal), 'live versions arrived after the restart');
      if (transport === 'ws') {
        assert.equal(sinces[0], undefined);
        assert.ok(sinces.length >= 2, `a resubscribe was sent (${sinces})`);
        for (const since of sinces.slice(1)) assert.ok(typeof since === 'number' && since >= versionAtRestart, `resubscribed with since ${since}, had ${versionAtRestart}`);
      }
    });
  }

  it('resubscribes with the current version when graphql-ws reconnects by itself after an abrupt drop', async () => {
    const proxy = await startCuttableProxy(new URL(sdk.server.graphqlUrl));
    try {
      const { RecordingWebSocket, values: sinces } = recordingWebSocket('since');
      const client = sdk.client({ url: proxy.url, webSocketImpl: RecordingWebSocket });
      const { executionId } = await client.dispatch('steps', [STEPS, STEP_DELAY_MS]);
      const seen: Execution[] = [];
      let versionAtCut = 0;
      for await (const update of client.executionUpdates(executionId)) {
        seen.push(update);
        if (!versionAtCut && (update.progress?.done ?? 0) >= 10) {
          versionAtCut = update.version;
          proxy.cut();
        }
      }
      assertStrictlyIncreasing(seen);
      assert.equal(seen.at(-1)!.state, 'COMPLETED');
      // graphql-ws resent the same subscription (no complete from the server): the payload's
      // variables are read at send time, so it carries the version reached, not the original undefined.
      assert.ok(sinces.length >= 2, `a resubscribe was sent (${sinces})`);
      for (const since of sinces.slice(1)) assert.ok(typeof since === 'number' && since >= versionAtCut, `resubscribed with since ${since}, had ${versionAtCut}`);
    } finally {
      await proxy.close();
    }
  });

  for (const transport of ['ws', 'sse'] as const) {
    it(`break tears the server-side subscription down (${transport})`, async () => {
      const client = sdk.client({ transport });
      const { executionId } = await client.dispatch('gated', [`break-${transport}`]);
      await waitFor(() => sdk.server.app.activeSubscriptions === 0, { message: 'no subscriptions before' });
      for await (const update of client.executionUpdates(executionId)) {
        assert.equal(update.id, executionId);
        await waitFor(() => sdk.server.app.activeSubscriptions === 1, { message: 'one subscription open' });
        break;
      }
      await waitFor(() => sdk.server.app.activeSubscriptions === 0, { message: 'the subscription to be torn down' });
      sdk.gates.open(`break-${transport}`);
    });
  }

  it('gives a second iterator on the same execution the current version at once', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('gated', ['shared']);
    const first = client.executionUpdates(executionId);
    const firstRow = (await first.next()).value as Execution;
    const second = client.executionUpdates(executionId);
    const secondRow = (await second.next()).value as Execution;
    assert.equal(secondRow.id, executionId);
    assert.ok(secondRow.version >= firstRow.version);
    assert.equal(sdk.server.app.activeSubscriptions, 1, 'one server subscription serves both');
    await second.return();
    sdk.gates.open('shared');
    let last = firstRow;
    for await (const row of first) last = row;
    assert.equal(last.state, 'COMPLETED');
  });

  it('resumes executionsUpdates after a restart from the highest changeSeq, missing no execution', async () => {
    const client = sdk.client();
    const tag = `list-${Date.now()}`;
    const updates = client.executionsUpdates({ tag, state: ['COMPLETED'] });
    const pending = updates.next();
    await waitFor(() => sdk.server.app.activeSubscriptions >= 1, { message: 'the list subscription' });
    const completed = new Set<string>();
    const ids: string[] = [];
    ids.push((await client.dispatch('echo', [1], { tags: [tag] })).executionId);
    completed.add(((await pending).value as Execution).id);
    await sdk.restart();
    // Dispatched (on the engine) while the client is still reconnecting: the resume must deliver them.
    for (let i = 2; i <= 4; i++) ids.push((await sdk.engine.senpuki.submit('echo', [i], { tags: [tag] })).execution.id);
    for await (const row of updates) {
      assert.equal(row.state, 'COMPLETED');
      assert.ok(!completed.has(row.id), `no duplicate of ${row.id}`);
      completed.add(row.id);
      if (completed.size === ids.length) break;
    }
    assert.deepEqual([...completed].sort(), [...ids].sort());
  });

  /**
   * With one list subscription open through `proxy`: takes the connection down, completes an
   * execution tagged `tag` while the client is certainly disconnected, and lets it back.
   */
  async function completeWhileDown(proxy: CuttableProxy, tag: string): Promise<string> {
    await waitFor(() => sdk.server.app.activeSubscriptions === 1, { message: 'the list subscription' });
    proxy.down();
    await waitFor(() => sdk.server.app.activeSubscriptions === 0, { message: 'the server to see the drop' });
    const id = await sdk.engine.senpuki.dispatch('echo', ['while down'], { tags: [tag] });
    await sdk.engine.senpuki.waitFor(id, { timeoutMs: 10_000 });
    proxy.up();
    return id;
  }

  for (const transport of ['ws', 'sse'] as const) {
    it(`executionsUpdates that drops before its first event loses no change made while it was down (${transport})`, async () => {
      const proxy = await startCuttableProxy(new URL(sdk.server.graphqlUrl));
      try {
        const client = sdk.client({ url: proxy.url, transport });
        const tag = `early-drop-${transport}`;
        await waitFor(() => sdk.server.app.activeSubscriptions === 0, { message: 'earlier subscriptions to end' });
        const updates = client.executionsUpdates({ tag, state: ['COMPLETED'] });
        let first: Execution | undefined;
        void updates.next().then((next) => (first = next.value));
        const id = await completeWhileDown(proxy, tag);
        await waitFor(() => first, { message: 'the change made while the subscription was down' });
        assert.equal(first!.id, id);
        await updates.return();
      } finally {
        await proxy.close();
      }
    });
  }

  it('executionListUpdates that drops before its first change loses no change made while it was down', async () => {
    const proxy = await startCuttableProxy(new URL(sdk.server.graphqlUrl));
    try {
      const client = sdk.client({ url: proxy.url });
      const tag = 'early-drop-list';
      await waitFor(() => sdk.server.app.activeSubscriptions === 0, { message: 'earlier subscriptions to end' });
      const list = client.executionListUpdates({ tag });
      assert.deepEqual((await list.next()).value!.executions, []);
      const id = await completeWhileDown(proxy, tag);
      let latest: Execution[] = [];
      const reading = (async () => {
        for await (const snapshot of list) {
          latest = snapshot.executions;
          if (latest[0]?.state === 'COMPLETED') return;
        }
      })();
      await waitFor(() => latest[0]?.state === 'COMPLETED', { message: 'the execution made while the list was down' });
      await reading;
      assert.deepEqual(latest.map((row) => row.id), [id]);
    } finally {
      await proxy.close();
    }
  });

  it('taskListUpdates resumes its task stream after a server restart and ends with every task settled', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('steps', [10, STEP_DELAY_MS]);
    let restart: Promise<void> | undefined;
    let last: TaskListSnapshot | undefined;
    for await (const snapshot of client.taskListUpdates(executionId)) {
      last = snapshot;
      if (!restart && snapshot.counts.finished >= 3) restart = sdk.restart();
    }
    await restart;
    assert.ok(restart, 'restarted mid-execution');
    assert.equal(last!.execution.state, 'COMPLETED');
    assert.deepEqual([last!.counts.finished, last!.counts.total], [11, 11]);
  });
});
