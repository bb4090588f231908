#!/usr/bin/env node
// The `senpuki` command. An installed package runs its compiled CLI (dist/). A clone of the
// repository, where the TypeScript source sits beside this file, runs that source through tsx (a
// devDependency), so development needs no build step and never runs a stale one.
import { existsSync } from 'node:fs';

const source = new URL('../server/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/server/cli/main.js');
}
