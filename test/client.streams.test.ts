import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StreamChunk } from '../client/index.js';
import { waitFor } from './helpers/conditions.js';
import { startCuttableProxy } from './helpers/cuttableProxy.js';
import { recordingFetch, recordingWebSocket } from './helpers/recordingClients.js';
import { startSdkServer, type SdkServer } from './helpers/sdkServer.js';

const WORDS = 60;
const WORD_DELAY_MS = 25;
const words = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => `word-${from + index}`);

function assertWholeStream(chunks: StreamChunk[], from = 1): void {
  assert.deepEqual(chunks.map((chunk) => chunk.seq), words(from, WORDS).map((_, index) => from + index), 'every seq once, in order');
  assert.deepEqual(chunks.map((chunk) => chunk.data), words(from, WORDS));
}

describe('SDK client.stream', () => {
  let sdk: SdkServer;
  before(async () => {
    sdk = await startSdkServer();
  });
  after(async () => {
    await sdk.close();
  });

  for (const transport of ['ws', 'sse'] as const) {
    it(`misses nothing and repeats nothing when the server restarts mid-stream (${transport})`, async () => {
      const ws = recordingWebSocket('after');
      const sse = recordingFetch('executionStream', 'after');
      const client = sdk.client({ transport, webSocketImpl: ws.RecordingWebSocket, fetch: sse.recording });
      const afters = transport === 'ws' ? ws.values : sse.values;
      const { executionId } = await client.dispatch('streamWords', [WORDS, WORD_DELAY_MS]);
      const seen: StreamChunk[] = [];
      let restart: Promise<void> | undefined;
      let seqAtRestart = 0;
      for await (const chunk of client.stream(executionId, 'words')) {
        seen.push(chunk);
        if (!restart && chunk.seq >= 10) {
          seqAtRestart = chunk.seq;
          restart = sdk.restart();
        }
      }
      await restart;
      assertWholeStream(seen);
      assert.equal(afters[0], undefined);
      assert.ok(afters.length >= 2, `a resubscribe was sent (${afters})`);
      for (const after of afters.slice(1)) assert.ok(typeof after === 'number' && after >= seqAtRestart && after < WORDS, `resubscribed after ${after}, had ${seqAtRestart}`);
    });
  }

  it('resumes with the seq reached when graphql-ws reconnects by itself after an abrupt drop', async () => {
    const proxy = await startCuttableProxy(new URL(sdk.server.graphqlUrl));
    try {
      const { RecordingWebSocket, values: afters } = recordingWebSocket('after');
      const client = sdk.client({ url: proxy.url, webSocketImpl: RecordingWebSocket });
      const { executionId } = await client.dispatch('streamWords', [WORDS, WORD_DELAY_MS]);
      const seen: StreamChunk[] = [];
      let seqAtCut = 0;
      for await (const chunk of client.stream(executionId, 'words')) {
        seen.push(chunk);
        if (!seqAtCut && chunk.seq >= 10) {
          seqAtCut = chunk.seq;
          proxy.cut();
        }
      }
      assertWholeStream(seen);
      assert.ok(afters.length >= 2, `a resubscribe was sent (${afters})`);
      for (const after of afters.slice(1)) assert.ok(typeof after === 'number' && after >= seqAtCut, `resubscribed after ${after}, had ${seqAtCut}`);
    } finally {
      await proxy.close();
    }
  });

  it('gives each iterator the stream from its own position, even two on the same stream', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('streamWords', [WORDS, 5]);
    const readAll = async (after?: number) => {
      const chunks: StreamChunk[] = [];
      for await (const chunk of client.stream(executionId, 'words', { after })) chunks.push(chunk);
      return chunks;
    };
    const whole = readAll();
    await waitFor(async () => ((await client.streams(executionId))[0]?.length ?? 0) >= 20, { message: '20 words written' });
    const [fromStart, late, fromTen] = await Promise.all([whole, readAll(), readAll(10)]);
    assertWholeStream(fromStart!);
    assertWholeStream(late!);
    assertWholeStream(fromTen!, 11);
  });

  it('tears the server-side subscription down on break', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('streamWords', [WORDS, WORD_DELAY_MS]);
    await waitFor(() => sdk.server.app.activeSubscriptions === 0, { message: 'no subscriptions before' });
    for await (const chunk of client.stream(executionId, 'words')) {
      assert.equal(chunk.seq, 1);
      await waitFor(() => sdk.server.app.activeSubscriptions === 1, { message: 'one subscription open' });
      break;
    }
    await waitFor(() => sdk.server.app.activeSubscriptions === 0, { message: 'the subscription to be torn down' });
  });

  it('reads a finished execution\'s stream at once and lists its streams', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('streamWords', [WORDS, 0]);
    await client.waitFor(executionId, { timeoutMs: 10_000 });
    const chunks: StreamChunk<string>[] = [];
    for await (const chunk of client.stream<string>(executionId, 'words')) chunks.push(chunk);
    assertWholeStream(chunks);
    const streams = await client.streams(executionId);
    assert.deepEqual(streams.map(({ name, length, closed, run }) => ({ name, length, closed, run })), [{ name: 'words', length: WORDS, closed: true, run: 1 }]);
    await assert.rejects(client.streams('00000000-0000-4000-8000-000000000000'), { code: 'NOT_FOUND' });
  });
});
