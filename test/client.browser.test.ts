import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from './helpers/conditions.js';
import { bundleForBrowser, CLIENT_DIR } from './helpers/bundle.js';
import { startSdkServer, type SdkServer } from './helpers/sdkServer.js';

const CHROMIUM = '/usr/bin/chromium';

/** A React page using the hooks, bundled with the SDK for the browser (React bundled in, as an app would). */
const REACT_APP = `
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { createSenpukiClient } from './index.js';
import { SenpukiProvider, useExecution, useExecutions, useExecutionStream } from './react.js';

function Status({ id }) {
  const { data, status } = useExecution(id);
  return h('p', { id: 'status' }, status + ':' + (data ? data.state : '-'));
}

function List({ tag }) {
  const { data, status } = useExecutions({ tag });
  return h('p', { id: 'list' }, status + ':' + (data ? data.map((execution) => execution.state).join(',') : '-'));
}

function Words({ id }) {
  const { data, status } = useExecutionStream(id, 'words');
  return h('p', { id: 'words' }, status + ':' + (data ? data.length + ':' + (data.at(-1) ?? '') : '-'));
}

window.mountStream = (url, id, token) => {
  const client = createSenpukiClient({ url, token });
  createRoot(document.getElementById('stream-root')).render(h(SenpukiProvider, { client }, h(Words, { id })));
};

window.mountList = (url, tag) => {
  const client = createSenpukiClient({ url });
  createRoot(document.getElementById('list-root')).render(h(SenpukiProvider, { client }, h(List, { tag })));
};

window.mount = (url, id, token) => {
  const client = createSenpukiClient({ url, token });
  createRoot(document.getElementById('root')).render(h(SenpukiProvider, { client }, h(Status, { id })));
};
`;

const PAGE = `<!doctype html><html><body><div id="root"></div><div id="list-root"></div><div id="stream-root"></div>
<script type="module">
  import * as sdk from '/sdk.js';
  window.sdk = sdk;
  await import('/app.js');
  window.ready = true;
</script></body></html>`;

/** Serves the page and the bundles on a port of its own: the SDK talks to the API cross-origin. */
async function startPageServer(): Promise<{ url: string; server: Server }> {
  const [sdk, app] = await Promise.all([
    bundleForBrowser({ path: join(CLIENT_DIR, 'index.ts') }),
    bundleForBrowser({ contents: REACT_APP, resolveDir: CLIENT_DIR }),
  ]);
  const files: Record<string, [string, string]> = {
    '/': ['text/html', PAGE],
    '/sdk.js': ['text/javascript', sdk.code],
    '/app.js': ['text/javascript', app.code],
  };
  const server = createServer((request, response) => {
    const file = files[request.url ?? ''];
    response.writeHead(file ? 200 : 404, { 'content-type': file?.[0] ?? 'text/plain' }).end(file?.[1] ?? 'not found');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

const skip = !existsSync(CHROMIUM) && process.env.CI !== 'true' ? `${CHROMIUM} is not installed (apt-get install chromium)` : false;

describe('SDK in headless Chromium', { skip }, () => {
  let sdk: SdkServer;
  let page: { url: string; server: Server };
  let browser: Browser;
  const pageErrors: string[] = [];

  before(async () => {
    page = await startPageServer();
    // The page is on another origin than the API, as a front end usually is: allowed by name.
    sdk = await startSdkServer({ allowedOrigins: [new URL(page.url).origin] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run'],
    });
  });
  after(async () => {
    await browser?.close();
    page?.server.close();
    await sdk?.close();
  });

  async function openPage(): Promise<Page> {
    const tab = await browser.newPage();
    tab.on('pageerror', (error) => pageErrors.push(error.message));
    await tab.goto(page.url);
    await tab.waitForFunction(() => (window as { ready?: boolean }).ready === true);
    return tab;
  }

  for (const transport of ['ws', 'sse'] as const) {
    it(`receives live updates of a dispatched execution through the bundled SDK (${transport})`, async () => {
      const key = `browser-${transport}`;
      const { executionId, token } = await sdk.client().dispatch('gated', [key]);
      const tab = await openPage();
      try {
        await tab.evaluate(
          ({ url, id, token, transport }) => {
            const w = window as unknown as { sdk: any; states: string[]; finished: boolean };
            w.states = [];
            const client = w.sdk.createSenpukiClient({ url, token, transport });
            void (async () => {
              for await (const execution of client.executionUpdates(id)) w.states.push(`${execution.version}:${execution.state}`);
              w.finished = true;
              await client.close();
            })();
          },
          { url: sdk.graphqlUrl, id: executionId, token, transport },
        );
        const states = () => tab.evaluate(() => (window as unknown as { states: string[] }).states);
        await waitFor(async () => (await states()).some((state) => state.endsWith(':RUNNING')), { message: 'RUNNING in the page' });
        sdk.gates.open(key);
        await tab.waitForFunction(() => (window as unknown as { finished?: boolean }).finished === true);
        const seen = await states();
        assert.match(seen.at(-1)!, /:COMPLETED$/);
        const versions = seen.map((state) => Number(state.split(':')[0]));
        assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
        assert.deepEqual(pageErrors, []);
      } finally {
        await tab.close();
      }
    });
  }

  it('renders a live execution with the React hooks: live while it runs, done when it completes', async () => {
    const { executionId, token } = await sdk.client().dispatch('gated', ['browser-react']);
    const tab = await openPage();
    try {
      await tab.evaluate(({ url, id, token }) => (window as unknown as { mount: Function }).mount(url, id, token), { url: sdk.graphqlUrl, id: executionId, token });
      await tab.waitForFunction(() => document.getElementById('status')?.textContent === 'live:RUNNING');
      sdk.gates.open('browser-react');
      await tab.waitForFunction(() => document.getElementById('status')?.textContent === 'done:COMPLETED');
      assert.deepEqual(pageErrors, []);
    } finally {
      await tab.close();
    }
  });

  it('keeps a live list live while its rows change (useExecutions)', async () => {
    const tab = await openPage();
    const listText = () => tab.evaluate(() => document.getElementById('list')?.textContent ?? '');
    try {
      await tab.evaluate(({ url }) => (window as unknown as { mountList: Function }).mountList(url, 'browser-list'), { url: sdk.graphqlUrl });
      await tab.waitForFunction(() => document.getElementById('list')?.textContent === 'live:');
      await sdk.client().dispatch('gated', ['browser-list-1'], { tags: ['browser-list'] });
      await waitFor(async () => /^live:RUNNING$/.test(await listText()), { message: 'the first row, running' });
      await sdk.client().dispatch('gated', ['browser-list-2'], { tags: ['browser-list'] });
      await waitFor(async () => /^live:RUNNING,RUNNING$/.test(await listText()), { message: 'the second row, running, with the list still live' });
      sdk.gates.open('browser-list-1');
      sdk.gates.open('browser-list-2');
      await waitFor(async () => (await listText()) === 'live:COMPLETED,COMPLETED', { message: 'both rows completed, the list still live' });
      assert.deepEqual(pageErrors, []);
    } finally {
      await tab.close();
    }
  });

  it('renders a stream as it is written with useExecutionStream: live with part of it, done with all of it', async () => {
    const { executionId, token } = await sdk.client().dispatch('streamWords', [30, 40]);
    const tab = await openPage();
    try {
      await tab.evaluate(({ url, id, token }) => (window as unknown as { mountStream: Function }).mountStream(url, id, token), { url: sdk.graphqlUrl, id: executionId, token });
      const text = () => tab.evaluate(() => document.getElementById('words')?.textContent ?? '');
      const partial = await waitFor(async () => {
        const match = /^live:(\d+):word-(\d+)$/.exec(await text());
        return match && Number(match[1]) < 30 && match[1] === match[2] ? match : undefined;
      }, { message: 'part of the stream, live' });
      assert.ok(Number(partial[1]) >= 1);
      await tab.waitForFunction(() => document.getElementById('words')?.textContent === 'done:30:word-30', undefined, { timeout: 15_000 });
      assert.deepEqual(pageErrors, []);
    } finally {
      await tab.close();
    }
  });
});
