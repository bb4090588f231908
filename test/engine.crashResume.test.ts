import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Senpuki } from '../server/engine/senpuki.js';
import { registerCrashFunctions } from './fixtures/crashFunctions.js';
import { postgresUrl, openPostgresTestStore, postgresReachable, type TestStore } from './helpers/stores.js';
import { waitFor } from './helpers/conditions.js';

// Two processes share one database, so this needs real Postgres (PGlite is one process).
describe('crash resume (postgres, a real process killed with SIGKILL)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  let dir: string;
  before(async () => {
    testStore = await openPostgresTestStore();
    dir = mkdtempSync(join(tmpdir(), 'senpuki-crash-'));
  });
  after(async () => {
    await testStore.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes the workflow on another worker without re-running its completed steps', async () => {
    const logPath = join(dir, 'runs.log');
    const log = () => readFileSync(logPath, 'utf8').trim().split('\n');
    const child = fork(join(import.meta.dirname, 'fixtures', 'crashWorker.ts'), [postgresUrl, testStore.schema!, logPath, '3'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`worker process exited early with ${code}`)));
      });
      const senpuki = new Senpuki({ store: testStore.store, pollMinIntervalMs: 20 });
      const workflow = registerCrashFunctions(senpuki, { logPath });
      const id = await senpuki.dispatch(workflow, []);
      await waitFor(() => { try { return log().includes(`step 3 pid ${child.pid}`); } catch { return false; } }, { message: 'the worker process to reach step 3' });
      child.kill('SIGKILL');
      await exited;

      const worker = await senpuki.serve({ maintenanceIntervalMs: 100 });
      try {
        assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 20_000 }), [10, 20, 30]);
      } finally {
        await worker.stop();
      }
      const lines = log();
      const count = (prefix: string) => lines.filter((line) => line.startsWith(prefix)).length;
      assert.equal(count('step 1 '), 1, `step 1 must run once; log:\n${lines.join('\n')}`);
      assert.equal(count('step 2 '), 1, `step 2 must run once; log:\n${lines.join('\n')}`);
      assert.equal(count('step 3 '), 2, 'step 3 was interrupted by the kill and runs again');
      assert.equal(count('workflow '), 2, 'the orchestrator is replayed once');
      assert.ok(lines.includes(`step 3 pid ${process.pid}`), 'the surviving process finished step 3');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
