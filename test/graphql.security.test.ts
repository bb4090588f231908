import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { Worker } from '../server/engine/worker.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { waitFor } from './helpers/conditions.js';
import { quietLogger } from './helpers/graphqlApp.js';

const TYPENAME = JSON.stringify({ query: '{ __typename }' });

/** A raw HTTP request, so tests choose the Host header (fetch does not let them). */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

/** Opens a graphql-ws socket with the given headers; resolves with the HTTP status of a refused upgrade, or 101. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', { headers });
    socket.on('open', () => {
      socket.close();
      resolve(101);
    });
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode!));
    socket.on('error', () => {});
  });
}

describe('a server without API keys, on loopback (the laptop default)', () => {
  let engine: TestEngine;
  let server: SenpukiServer;
  let worker: Worker;
  let base: URL;

  before(async () => {
    engine = await openEngine('pglite');
    engine.senpuki.durable('echo', async (_ctx, value: unknown) => value);
    server = await startServer({ senpuki: engine.senpuki, port: 0, logger: quietLogger, processMetrics: false, allowedOrigins: ['https://app.example.com'] });
    worker = await engine.senpuki.serve();
    base = new URL(server.graphqlUrl);
  });
  after(async () => {
    await worker.stop();
    await server.close();
    await engine.close();
  });

  const post = (headers: Record<string, string>, body = TYPENAME) =>
    rawRequest(server.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('refuses a page on another origin, and echoes no CORS grant to it', async () => {
    const response = await post({ origin: 'http://evil.example' });
    assert.equal(response.status, 403);
    assert.equal(JSON.parse(response.body).errors[0].extensions.code, 'FORBIDDEN');
    assert.match(JSON.parse(response.body).errors[0].message, /allowedOrigins/);
    assert.equal(response.headers['access-control-allow-origin'], undefined);
    assert.equal(response.headers['access-control-allow-credentials'], undefined);
    const dispatch = await post({ origin: 'http://evil.example' }, JSON.stringify({ query: 'mutation { dispatch(input: { function: "echo", args: [1] }) { created } }' }));
    assert.equal(dispatch.status, 403);
    assert.equal((await engine.senpuki.listExecutions()).length, 0, 'nothing was dispatched');
  });

  it("answers its own pages (same origin), and grants allowedOrigins CORS without credentials", async () => {
    const own = await post({ origin: `http://${base.host}` });
    assert.equal(own.status, 200);
    assert.deepEqual(JSON.parse(own.body), { data: { __typename: 'Query' } });
    const allowed = await post({ origin: 'https://app.example.com' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(allowed.headers['access-control-allow-credentials'], undefined);
    const preflight = await rawRequest(server.graphqlUrl, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(preflight.headers['access-control-allow-headers']), /authorization/);
  });

  it('refuses a form-encoded or text/plain POST (what another page can send without a preflight)', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      const response = await rawRequest(server.graphqlUrl, { method: 'POST', headers: { 'content-type': type }, body: 'query=%7B__typename%7D' });
      assert.equal(response.status, 415, type);
      assert.equal(JSON.parse(response.body).errors[0].extensions.code, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('refuses a Host name that is not loopback (DNS rebinding), but answers health probes', async () => {
    const rebound = await post({ host: `evil.example:${base.port}`, origin: `http://evil.example:${base.port}` });
    assert.equal(rebound.status, 403);
    assert.match(JSON.parse(rebound.body).errors[0].message, /answers only requests addressed to localhost/);
    const page = await rawRequest(`${server.url}/`, { headers: { host: 'evil.example' } });
    assert.equal(page.status, 403);
    for (const host of [`localhost:${base.port}`, `127.0.0.1:${base.port}`, `[::1]:${base.port}`]) {
      assert.equal((await post({ host })).status, 200, host);
    }
    assert.equal((await rawRequest(`${server.url}/healthz`, { headers: { host: '10.0.0.7:4000' } })).status, 200);
  });

  it('refuses a graphql-ws upgrade from another origin or Host, and accepts its own pages and non-browser clients', async () => {
    assert.equal(await upgradeStatus(server.graphqlUrl, { origin: 'http://evil.example' }), 403);
    assert.equal(await upgradeStatus(server.graphqlUrl, { host: `evil.example:${base.port}` }), 403);
    assert.equal(await upgradeStatus(server.graphqlUrl, { origin: `http://${base.host}` }), 101);
    assert.equal(await upgradeStatus(server.graphqlUrl, { origin: 'https://app.example.com' }), 101);
    assert.equal(await upgradeStatus(server.graphqlUrl, {}), 101);
  });

  it('refuses an SSE subscription from another origin', async () => {
    const response = await post(
      { origin: 'http://evil.example', accept: 'text/event-stream' },
      JSON.stringify({ query: 'subscription { executionsUpdated { id } }' }),
    );
    assert.equal(response.status, 403);
  });
});

describe('a server with API keys', () => {
  let engine: TestEngine;
  let server: SenpukiServer;

  before(async () => {
    engine = await openEngine('pglite');
    server = await startServer({ senpuki: engine.senpuki, port: 0, apiKeys: ['key-0123456789abcdef'], logger: quietLogger, processMetrics: false });
  });
  after(async () => {
    await server.close();
    await engine.close();
  });

  it('answers a request without a key 401 before parsing: no validation errors, no schema hints', async () => {
    for (const query of ['{ executon(id: "x") { id } }', '{ {{{ not graphql', `{ ${'a: __typename '.repeat(500)} }`]) {
      const response = await rawRequest(server.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
      assert.equal(response.status, 401);
      const body = JSON.parse(response.body);
      assert.equal(body.errors.length, 1);
      assert.equal(body.errors[0].extensions.code, 'UNAUTHENTICATED');
      assert.doesNotMatch(response.body, /Did you mean|execution|Syntax|alias/i);
    }
  });

  it('any Host is fine with keys: the key is what guards it', async () => {
    const response = await rawRequest(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', host: 'senpuki.internal:4000', authorization: 'Bearer key-0123456789abcdef' },
      body: TYPENAME,
    });
    assert.equal(response.status, 200);
  });

  it('keeps memory flat under distinct ~1.9 MB queries sent without a key', async () => {
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 12; i++) {
      const query = `query Q${i} { ${'__typename '.repeat(170_000)} }`;
      const response = await fetch(server.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
      assert.equal(response.status, 401);
      await response.arrayBuffer();
    }
    global.gc?.();
    const grownMb = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
    assert.ok(grownMb < 100, `the heap grew by ${grownMb.toFixed(0)} MB`);
  });
});

describe('subscriptions over SSE', () => {
  let engine: TestEngine;
  let server: SenpukiServer;

  before(async () => {
    engine = await openEngine('pglite');
    engine.senpuki.durable('waits', async (ctx) => ctx.waitForSignal('go'));
    server = await startServer({ senpuki: engine.senpuki, port: 0, logger: quietLogger, processMetrics: false, limits: { maxSubscriptionsPerConnection: 3 } });
  });
  after(async () => {
    await server.close();
    await engine.close();
  });

  const subscribe = (query: string, signal?: AbortSignal) =>
    fetch(server.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ query }), signal });

  it('answers a subscription refused at the start with a 4xx status and the error event saying why', async () => {
    const cases: Array<[string, number, string]> = [
      ['subscription { executionUpdated(id: "3f2c8a9e-1b7d-4c3e-9a51-6d0e2f4b8c17") { id } }', 404, 'NOT_FOUND'],
      ['subscription { executionUpdated(id: "not-an-id") { id } }', 400, 'BAD_USER_INPUT'],
      ['subscription { executionsUpdated(since: "abc") { id } }', 400, 'BAD_USER_INPUT'],
    ];
    for (const [query, status, code] of cases) {
      const response = await subscribe(query);
      assert.equal(response.status, status, query);
      assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
      const data = /^data: (.*)$/m.exec(await response.text())?.[1];
      assert.equal(JSON.parse(data!).errors[0].extensions.code, code);
    }
  });

  it('counts the SSE subscriptions of one client against maxSubscriptionsPerConnection, and frees a place when one ends', async () => {
    const id = await engine.senpuki.dispatch('waits', []);
    const query = `subscription { executionUpdated(id: "${id}") { id state } }`;
    const open = Array.from({ length: 3 }, () => new AbortController());
    const streams = await Promise.all(open.map((controller) => subscribe(query, controller.signal)));
    assert.deepEqual(streams.map((response) => response.status), [200, 200, 200]);
    const refused = await subscribe(query);
    assert.equal(refused.status, 429);
    assert.match(await refused.text(), /limits\.maxSubscriptionsPerConnection.*LIMIT_EXCEEDED/);
    open[0]!.abort();
    await streams[0]!.body?.cancel().catch(() => {});
    await waitFor(() => server.app.activeSubscriptions === 2, { message: 'the ended subscription to be counted off' });
    const again = new AbortController();
    const accepted = await subscribe(query, again.signal);
    assert.equal(accepted.status, 200);
    for (const controller of [...open, again]) controller.abort();
  });
});
