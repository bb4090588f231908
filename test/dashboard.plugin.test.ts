import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DASHBOARD_CONFIG_META, useDashboard } from '../server/http/useDashboard.js';
import { openTestApp, type TestApp } from './helpers/graphqlApp.js';

const BASE = 'http://localhost';

describe('the dashboard plugin', () => {
  let test: TestApp;
  const fetchApp = (path: string, init?: RequestInit) => test.app.yoga.fetch(`${BASE}${path}`, init ?? {});

  before(async () => {
    test = await openTestApp('pglite', { plugins: [useDashboard({ exampleArgs: { greet: ['ana'] } })] });
  });
  after(() => test?.close());

  it('serves the page at / with a strict content security policy and its config in a meta tag', async () => {
    const response = await fetchApp('/');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await response.text();
    assert.match(html, /<script type="module" src="\/dashboard\/app\.js">/);
    const meta = new RegExp(`<meta name="${DASHBOARD_CONFIG_META}" content="([^"]*)">`).exec(html);
    const config = JSON.parse(meta![1]!.replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&'));
    assert.deepEqual(config, { graphqlPath: '/graphql', exampleArgs: { greet: ['ana'] } });
  });

  it('bundles the dashboard once, and answers a repeated request with 304 Not Modified', async () => {
    const script = await fetchApp('/dashboard/app.js');
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.ok((await script.text()).length > 10_000);
    const css = await fetchApp('/dashboard/app.css');
    assert.equal(css.status, 200);
    assert.match(await css.text(), /\.state-running/);
    const etag = script.headers.get('etag')!;
    const again = await fetchApp('/dashboard/app.js', { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await fetchApp('/dashboard/missing.js')).status, 404);
  });

  it('leaves GraphQL at its own path', async () => {
    const { status, body } = await test.gql('{ functions { name } }');
    assert.equal(status, 200);
    assert.deepEqual(body.errors, undefined);
  });

  it("reports a bundle that does not build on the page's request, with esbuild's message", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'senpuki-dashboard-'));
    const broken = join(dir, 'broken.ts');
    await writeFile(broken, "import './does-not-exist.js';\n");
    const app = await openTestApp('pglite', { plugins: [useDashboard({ entry: broken, warm: false })] });
    try {
      const response = await app.app.yoga.fetch(`${BASE}/dashboard/app.js`, {});
      assert.equal(response.status, 500);
      assert.match(await response.text(), /The dashboard could not be built: .*does-not-exist/s);
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
