import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { wantsPrettyLogs } from '../server/cli/prettyLog.js';
import { graphiqlEnabled, serverConfigFromEnv } from '../server/http/config.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import { APP_URL, openTestApp, quietLogger, type TestApp } from './helpers/graphqlApp.js';

const CHROMIUM = '/usr/bin/chromium';
const skipBrowser = !existsSync(CHROMIUM) && process.env.CI !== 'true' ? `${CHROMIUM} is not installed (apt-get install chromium)` : false;

const openGraphiQL = (test: TestApp) => test.app.yoga.fetch(APP_URL, { headers: { accept: 'text/html' } });

describe('GraphiQL', () => {
  let test: TestApp;
  before(async () => {
    test = await openTestApp('pglite', { graphiql: true });
  });
  after(() => test?.close());

  it('is served with its scripts and styles inline, loading nothing from a CDN', async () => {
    const response = await openGraphiQL(test);
    assert.equal(response.status, 200);
    const html = await response.text();
    assert.match(html, /<title>Senpuki GraphiQL<\/title>/);
    assert.match(html, /YogaGraphiQL\.renderYogaGraphiQL\(/);
    const external = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="(https?:[^"]+)"/g)].map((match) => match[1]);
    assert.deepEqual(external, []);
    assert.doesNotMatch(html, /unpkg\.com|cdn\.jsdelivr\.net/);
  });

  it('is not served when turned off, and is off by default under NODE_ENV=production', async () => {
    const off = await openTestApp('pglite', { graphiql: false });
    try {
      assert.doesNotMatch(await (await openGraphiQL(off)).text(), /GraphiQL/);
    } finally {
      await off.close();
    }
    assert.equal(graphiqlEnabled({}, { NODE_ENV: 'production' }), false);
    assert.equal(graphiqlEnabled({ graphiql: true }, { NODE_ENV: 'production' }), true);
    assert.equal(graphiqlEnabled({}, {}), true);
  });

  it('is turned on or off by SENPUKI_GRAPHIQL, and a value that is not a boolean says what to use', () => {
    assert.equal(serverConfigFromEnv({ SENPUKI_GRAPHIQL: 'true' }).graphiql, true);
    assert.equal(serverConfigFromEnv({ SENPUKI_GRAPHIQL: '0' }).graphiql, false);
    assert.equal(serverConfigFromEnv({}).graphiql, undefined);
    assert.throws(() => serverConfigFromEnv({ SENPUKI_GRAPHIQL: 'maybe' }), /SENPUKI_GRAPHIQL must be true or false; got "maybe"/);
  });

  describe('in headless Chromium with no network but the server', { skip: skipBrowser }, () => {
    let server: SenpukiServer;
    before(async () => {
      server = await startServer({ engine: { dataDir: 'memory://' }, port: 0, graphiql: true, logger: quietLogger, processMetrics: false });
    });
    after(() => server?.close());

    it('renders its editor without a request to any other host', async () => {
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run'] });
      try {
        const page = await browser.newPage();
        const elsewhere: string[] = [];
        page.on('request', (request) => {
          const url = request.url();
          if (!url.startsWith(server.url) && !url.startsWith('data:') && !url.startsWith('blob:')) elsewhere.push(url);
        });
        await page.goto(server.graphqlUrl);
        await page.waitForSelector('.graphiql-container', { timeout: 30_000 });
        assert.deepEqual(elsewhere, []);
      } finally {
        await browser.close();
      }
    });
  });
});

describe('log format', () => {
  const terminal = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;

  it('is readable on a terminal and JSON lines in a pipe, and JSON everywhere under NODE_ENV=production', () => {
    assert.equal(wantsPrettyLogs(terminal, {}), true);
    assert.equal(wantsPrettyLogs(pipe, {}), false);
    assert.equal(wantsPrettyLogs(terminal, { NODE_ENV: 'production' }), false);
    assert.equal(wantsPrettyLogs(terminal, { NODE_ENV: 'production', SENPUKI_LOG_FORMAT: 'pretty' }), true);
    assert.equal(wantsPrettyLogs(terminal, { SENPUKI_LOG_FORMAT: 'json' }), false);
  });
});
