/**
 * `npm run build` (run by `npm pack` and `npm publish` too): the package's dist/ from a clean slate.
 *   dist/server, dist/client, dist/examples   JavaScript, .d.ts and source maps, by tsc (tsconfig.build.json)
 *   dist/server/store/migrations/*.sql        the migrations, which the store reads at run time
 *   dist/client/graphql-env.d.ts              the SDK's generated schema types (tsc does not copy .d.ts sources)
 *   dist/dashboard/app.js, app.css            the dashboard's browser bundle, served as it is
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { bundleDashboard } from '../server/http/dashboardBundle.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist/`;

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
for (const name of readdirSync(`${root}server/store/migrations/`).filter((file) => file.endsWith('.sql'))) {
  cpSync(`${root}server/store/migrations/${name}`, `${dist}server/store/migrations/${name}`);
}
cpSync(`${root}client/graphql-env.d.ts`, `${dist}client/graphql-env.d.ts`);
mkdirSync(`${dist}dashboard`, { recursive: true });
for (const file of await bundleDashboard()) writeFileSync(`${dist}dashboard/${file.name}`, file.text);
console.log(`built ${dist}`);
