import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertBrowserSafe, bundleForBrowser } from './helpers/bundle.js';
import { ROOT, runCli, startServeChild, type SenpukiCommand } from './helpers/cli.js';
import { buildAndPack, createConsumerApp, run, runOk } from './helpers/consumerApp.js';

const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Uses every entry point the way an app does; `planted` adds one line that must not type-check. */
function typedUsage(planted = ''): string {
  return `import { createSenpukiClient, graphql, ExecutionError, type Execution, type ResultOf } from 'senpuki/client';
import { defineDurable, Senpuki, Store } from 'senpuki';
import { startServer, useDashboard } from 'senpuki/server';
import { useExecution } from 'senpuki/react';

export const double = defineDurable('double', async (ctx, n: number) => n * 2);
export async function main(): Promise<void> {
  const senpuki = new Senpuki({ store: await Store.embedded() });
  const doubled: number = await senpuki.waitFor(await senpuki.dispatch(double, [21]));
  const server = await startServer({ senpuki, port: 0, plugins: [useDashboard()] });
  const client = createSenpukiClient({ url: server.graphqlUrl });
  const FunctionNames = graphql(\`query FunctionNames { functions { name queue } }\`);
  const result = await client.urql.query(FunctionNames, {}).toPromise();
  const functions = (result.data as ResultOf<typeof FunctionNames>).functions;
  const names: string[] = functions.map((fn) => fn.name);
  const execution: Execution | null = await client.execution('some-id');
  const state: string | undefined = execution?.state;
  console.log(doubled, names, state, ExecutionError.name, typeof useExecution);
  ${planted}
}
`;
}

/** The SDK alone, as a browser app's bundler sees it. */
function browserUsage(planted = ''): string {
  return `import { createSenpukiClient, graphql, type ResultOf } from 'senpuki/client';
const client = createSenpukiClient({ url: '/graphql', getToken: () => localStorage.getItem('token') });
const Progress = graphql(\`query Progress($id: ID!) { execution(id: $id) { state progress { done total } } }\`);
export async function show(id: string): Promise<number | undefined> {
  const { data } = await client.urql.query(Progress, { id }).toPromise();
  const progress: ResultOf<typeof Progress>['execution'] = data?.execution ?? null;
  ${planted}
  return progress?.progress?.done;
}
`;
}

const FUNCTIONS_MODULE = `import { defineDurable } from 'senpuki';

export const double = defineDurable('double', async (ctx, n: number) => n * 2);
export const sumDoubled = defineDurable('sumDoubled', async (ctx, numbers: number[]) => {
  const doubled = await ctx.map(double, numbers);
  return doubled.reduce((sum, value) => sum + value, 0);
});
`;

describe('the packed package, installed into a fresh app outside the repository', () => {
  let workDir: string;
  let app: string;
  let npx: SenpukiCommand;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'senpuki-pack-'));
    app = await createConsumerApp(await buildAndPack(workDir));
    npx = { command: 'npx', args: ['--no-install', 'senpuki'], cwd: app, processGroup: true };
    await writeFile(join(app, 'fns.ts'), FUNCTIONS_MODULE);
  });
  after(async () => {
    await rm(workDir, { recursive: true, force: true });
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('lives outside the repository, ships compiled JavaScript only, and depends on no build tool', async () => {
    assert.ok(relative(ROOT, app).startsWith('..'), `${app} is outside ${ROOT}`);
    const installed = join(app, 'node_modules', 'senpuki');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const tool of ['esbuild', 'tsx', 'typescript', 'playwright-core']) assert.equal(manifest.dependencies[tool], undefined, `${tool} is no dependency`);
    const files = (await readdir(installed, { recursive: true })).filter((file) => !file.startsWith('node_modules'));
    assert.deepEqual(files.filter((file) => /(?<!\.d)\.ts$/.test(file)), [], 'no TypeScript source is shipped');
    assert.ok(files.includes(join('dist', 'server', 'store', 'migrations', '001_init.sql')), 'the migrations are shipped');
    assert.ok(!files.some((file) => file.startsWith('test') || file.startsWith('bench')), 'no tests or benchmarks');
  });

  it('plain node imports every entry point, with no TypeScript loader', async () => {
    const script = `import * as engine from 'senpuki';
import * as server from 'senpuki/server';
import * as client from 'senpuki/client';
import * as react from 'senpuki/react';
console.log(JSON.stringify([typeof engine.Senpuki, typeof engine.defineDurable, typeof engine.Store.embedded, typeof engine.RedisBackend,
  typeof engine.NonRetryableError, typeof server.startServer, typeof server.useDashboard, typeof client.createSenpukiClient,
  typeof client.graphql, typeof react.useExecution, typeof react.SenpukiProvider]));`;
    await writeFile(join(app, 'imports.mjs'), script);
    const { stdout } = await runOk(process.execPath, ['imports.mjs'], app);
    assert.deepEqual(JSON.parse(stdout), Array(11).fill('function'));
  });

  for (const [resolution, options, source] of [
    // A server app as `tsc --init` makes one (skipLibCheck: some dependencies' own declarations need newer libs).
    ['NodeNext', { module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], skipLibCheck: true }, typedUsage],
    // A browser app: DOM, no Node types, and every declaration checked.
    ['Bundler', { module: 'ESNext', moduleResolution: 'Bundler', types: [], lib: ['ES2022', 'DOM', 'DOM.Iterable'], skipLibCheck: false }, browserUsage],
  ] as const) {
    it(`tsc --noEmit with moduleResolution ${resolution} accepts typed use of the package and rejects a planted type error`, async () => {
      const dir = join(app, resolution.toLowerCase());
      await mkdir(dir, { recursive: true });
      const compilerOptions = { target: 'ES2022', strict: true, noEmit: true, ...options };
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['usage.ts'] }));
      await writeFile(join(dir, 'usage.ts'), source());
      const clean = await run(process.execPath, [TSC, '-p', dir], app);
      assert.equal(clean.code, 0, clean.stdout + clean.stderr);

      // Types flow through the package's declarations (an unresolved one would be `any` and pass):
      // from the schema into a typed document, and from a durable function into `waitFor`.
      const planted =
        resolution === 'NodeNext'
          ? ['const wrongField: number = functions[0]!.queue;', 'const wrongResult: string = await senpuki.waitFor(await senpuki.dispatch(double, [1]));']
          : ['const wrongState: number | undefined = progress?.state;'];
      await writeFile(join(dir, 'usage.ts'), source(planted.join('\n  ')));
      const broken = await run(process.execPath, [TSC, '-p', dir], app);
      assert.notEqual(broken.code, 0);
      const errors = broken.stdout.trim().split('\n').filter((line) => line.includes('error TS'));
      assert.equal(errors.length, planted.length, broken.stdout);
      for (const error of errors) assert.match(error, /(^|\/)usage\.ts\(\d+,\d+\): error TS2322/);
    });
  }

  it('bundles senpuki/client for the browser (esbuild, platform browser) without Node built-ins', async () => {
    const bundle = await bundleForBrowser({ contents: browserUsage(), resolveDir: app });
    assert.ok(bundle.inputs.some((input) => input.includes('node_modules/senpuki/dist/client/')), 'the SDK came from the installed package');
    assertBrowserSafe(bundle);
  });

  it('`npx senpuki serve --functions ./fns.ts` answers /healthz and runs an execution to completion', async () => {
    const serve = await startServeChild(['--functions', './fns.ts', '--port', '0', '--data-dir', join(app, '.senpuki-data')], {}, npx);
    try {
      const health = await fetch(new URL('/healthz', serve.graphqlUrl));
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { status: string }).status, 'ok');
      const dispatched = await runCli(['dispatch', 'sumDoubled', '[[1, 2, 3]]', '--wait', '--url', serve.graphqlUrl], {}, 60_000, npx);
      assert.equal(dispatched.code, 0, dispatched.stderr);
      assert.equal(dispatched.stdout.trim(), '12');
      const dashboard = await fetch(new URL('/dashboard/app.js', serve.graphqlUrl));
      assert.equal(dashboard.status, 200, 'the prebuilt dashboard is served');
    } finally {
      await serve.stop();
    }
  });

  it('a .js functions module needs no loader, and NODE_ENV=production serves no GraphiQL and logs JSON', async () => {
    // A folder with no node_modules above it (but the system's): nothing to resolve tsx or senpuki from.
    const bare = await mkdtemp(join(tmpdir(), 'senpuki-bare-'));
    try {
      await writeFile(join(bare, 'fns.js'), "export default (senpuki) => { senpuki.durable('hello', async (ctx, name) => `hello ${name}`); };\n");
      const env = { NODE_ENV: 'production', SENPUKI_LOG_LEVEL: 'info' };
      const serve = await startServeChild(['--functions', join(bare, 'fns.js'), '--port', '0', '--data-dir', join(bare, 'data')], env, npx);
      try {
        const page = await fetch(serve.graphqlUrl, { headers: { accept: 'text/html' } });
        assert.doesNotMatch(await page.text(), /GraphiQL/);
        const dispatched = await runCli(['dispatch', 'hello', '["ana"]', '--wait', '--url', serve.graphqlUrl], {}, 60_000, npx);
        assert.equal(dispatched.stdout.trim(), '"hello ana"', dispatched.stderr);
        const logLine = serve.output().split('\n').find((line) => line.includes('GraphQL server listening'));
        assert.equal(JSON.parse(logLine!).msg, 'GraphQL server listening');
      } finally {
        await serve.stop();
      }
    } finally {
      await rm(bare, { recursive: true, force: true });
    }
  });

  it('a .ts functions module where no tsx can be found fails with what to install', async () => {
    const bare = await mkdtemp(join(tmpdir(), 'senpuki-bare-'));
    try {
      await writeFile(join(bare, 'fns.ts'), FUNCTIONS_MODULE);
      const result = await runCli(['serve', '--functions', join(bare, 'fns.ts'), '--port', '0', '--data-dir', join(bare, 'data')], {}, 60_000, npx);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /fns\.ts is TypeScript, and loading it needs tsx in your project: run `npm install --save-dev tsx`/);
    } finally {
      await rm(bare, { recursive: true, force: true });
    }
  });
});
