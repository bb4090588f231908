import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createSenpukiClient, type SenpukiClient } from '../client/index.js';
import { startServeChild, type ServeChild } from './helpers/cli.js';
import { hostileHttpRequests, hostileWsExchanges, type HostileHttpRequest, type HostileWsExchange } from './helpers/hostileCorpus.js';

const FUNCTIONS = 'test/fixtures/cliFunctions.ts';
/** How much more resident memory the server may use while it is fed the corpus than before it. */
const RSS_GROWTH_CEILING_MB = 300;
const REQUEST_TIMEOUT_MS = 15_000;

interface WireError {
  message?: string;
  extensions?: { code?: string };
}

/** Resident memory of a process, in MB (Linux). */
async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** The errors of a response body: JSON, or the first event of an event stream. */
function errorsOf(contentType: string, body: string): WireError[] | undefined {
  try {
    if (contentType.includes('text/event-stream')) {
      const data = /^data: (.*)$/m.exec(body)?.[1];
      return data ? (JSON.parse(data) as { errors?: WireError[] }).errors : undefined;
    }
    return (JSON.parse(body) as { errors?: WireError[] }).errors;
  } catch {
    return undefined;
  }
}

/** Why an answer does not count as a proper refusal (or, with `mayAnswer`, as a proper answer); undefined when it does. */
function refusalProblem(status: number, errors: WireError[] | undefined, mayAnswer = false): string | undefined {
  if (status >= 500) return `HTTP ${status}`;
  if (mayAnswer && !errors?.length) return undefined;
  if (status >= 400) return errors?.some((error) => error.extensions?.code === 'INTERNAL_SERVER_ERROR') ? 'a masked error' : undefined;
  if (!errors || errors.length === 0) return `HTTP ${status} without errors: the request was accepted`;
  const uncoded = errors.find((error) => !error.extensions?.code || error.extensions.code === 'INTERNAL_SERVER_ERROR');
  return uncoded ? `an error without a code, or masked: ${JSON.stringify(uncoded).slice(0, 200)}` : undefined;
}

async function sendHttp(url: string, request: HostileHttpRequest): Promise<string | undefined> {
  const response = await fetch(url + (request.search ?? ''), {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  // An SSE stream that did start must end by itself after its error (a hang fails on the timeout).
  const body = await response.text();
  return refusalProblem(response.status, errorsOf(response.headers.get('content-type') ?? '', body), request.mayAnswer);
}

/**
 * Runs one graphql-ws exchange: connects, sends its frames, waits for the operations they start to
 * end, then checks the connection still answers a query (unless the server closed it with a 44xx
 * code, which is how graphql-ws refuses a protocol violation).
 */
function sendWs(url: string, exchange: HostileWsExchange, functionName: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const errors: WireError[] = [];
    const started = new Set(exchange.frames.map((frame) => (frame.includes('"subscribe"') ? (JSON.parse(frame) as { id?: string }).id : undefined)).filter(Boolean));
    const ended = new Set<string>();
    const expectEnded = exchange.expectEnded ?? started.size;
    let probing = false;
    let settled = false;
    const finish = (problem: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.terminate();
      resolve(problem);
    };
    const timer = setTimeout(() => finish(`no answer within the timeout (a hang; ${ended.size}/${expectEnded} operations ended)`), REQUEST_TIMEOUT_MS);
    const verdict = () => {
      if (!exchange.mayAnswer && exchange.frames.length > 0 && errors.length === 0) return 'the hostile frames were accepted without an error';
      const uncoded = errors.find((error) => !error.extensions?.code || error.extensions.code === 'INTERNAL_SERVER_ERROR');
      return uncoded ? `an error without a code, or masked: ${JSON.stringify(uncoded).slice(0, 200)}` : undefined;
    };
    const afterOperations = () => {
      if (probing || ended.size < expectEnded) return;
      probing = true;
      if (exchange.probe === false) return finish(verdict());
      socket.send(JSON.stringify({ id: 'probe', type: 'subscribe', payload: { query: '{ functions { name } }' } }));
    };
    const sendFrames = () => {
      for (const frame of exchange.frames) socket.send(frame);
      afterOperations();
    };
    socket.on('open', () => {
      if (exchange.init === false) sendFrames();
      else socket.send(JSON.stringify({ type: 'connection_init' }));
    });
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { id?: string; type: string; payload?: unknown };
      if (message.type === 'connection_ack') return sendFrames();
      if (message.id === 'probe') {
        if (message.type !== 'next') return;
        const names = ((message.payload as { data?: { functions?: Array<{ name: string }> } }).data?.functions ?? []).map((fn) => fn.name);
        return finish(names.includes(functionName) ? verdict() : `the probe query failed: ${JSON.stringify(message.payload)}`);
      }
      if (message.type === 'error') errors.push(...((message.payload as WireError[]) ?? [{}]));
      if (message.type === 'next') errors.push(...(((message.payload as { errors?: WireError[] }).errors) ?? []));
      if ((message.type === 'error' || message.type === 'complete') && message.id !== undefined) {
        ended.add(message.id);
        afterOperations();
      }
    });
    socket.on('close', (code) => {
      // graphql-ws answers protocol violations with 44xx; ws answers an oversized frame with 1009.
      finish((code >= 4400 && code < 4500) || code === 1009 ? undefined : `closed with ${code}`);
    });
    socket.on('error', () => {});
  });
}

/** Runs `tasks` with at most `width` at once. */
async function inParallel<T>(items: T[], width: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await run(items[next++]!);
    }),
  );
}

describe('a running server fed a corpus of malformed and hostile requests (HTTP, SSE, graphql-ws)', () => {
  let dataDir: string;
  let server: ServeChild;
  let client: SenpukiClient;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'senpuki-hostile-'));
    server = await startServeChild(['--functions', FUNCTIONS, '--port', '0', '--data-dir', dataDir, '--concurrency', '4']);
    client = createSenpukiClient({ url: server.graphqlUrl, webSocketImpl: WebSocket });
  });
  after(async () => {
    await client?.close();
    const code = await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
    assert.equal(code, 0, 'the server stops cleanly afterwards');
  });

  it('refuses every one with a 4xx or a coded error, never a masked 500 or a hang; stays up, within its memory ceiling, and keeps working', async () => {
    const http = hostileHttpRequests('greet');
    const ws = hostileWsExchanges('greet');
    assert.ok(http.length + ws.length >= 500, `a corpus of ${http.length + ws.length} requests`);
    const pid = server.process.pid!;
    const startMb = await rssMb(pid);
    let peakMb = startMb;
    const sampler = setInterval(() => void rssMb(pid).then((mb) => (peakMb = Math.max(peakMb, mb)), () => {}), 100);
    // A control execution runs meanwhile: it waits for a signal sent at the end.
    const control = await client.dispatch('waitForGo', []);
    const problems: string[] = [];
    try {
      await inParallel(http, 6, async (request) => {
        const problem = await sendHttp(server.graphqlUrl, request).catch((error: unknown) => `failed: ${(error as Error).message}`);
        if (problem) problems.push(`HTTP ${request.name}: ${problem}`);
      });
      await inParallel(ws, 4, async (exchange) => {
        const problem = await sendWs(server.graphqlUrl, exchange, 'greet');
        if (problem) problems.push(`graphql-ws ${exchange.name}: ${problem}`);
      });
    } finally {
      clearInterval(sampler);
    }
    assert.deepEqual(problems, []);
    assert.equal(server.process.exitCode, null, 'the server is still running');
    assert.ok(peakMb - startMb < RSS_GROWTH_CEILING_MB, `server RSS went from ${startMb.toFixed(0)} MB to a peak of ${peakMb.toFixed(0)} MB`);
    await client.sendSignal(control.executionId, 'go', { ok: true });
    assert.deepEqual(await client.waitFor(control.executionId, { timeoutMs: 20_000 }), { got: { ok: true } });
    const greeting = await client.dispatch('greet', ['after']);
    assert.deepEqual(await client.waitFor(greeting.executionId, { timeoutMs: 20_000 }), { greeting: 'hello AFTER AFTER' });
  });
});
