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

  /**
   * Runs the workflow in a worker process until it hangs in step 3, kills the process and resumes
   * in this one. `dispatchInChild`: the process dispatches it itself, so its idle worker takes it
   * in the dispatch's own write (a lease that never went through a claim).
   */
  async function crashAndResume(dispatchInChild: boolean): Promise<void> {
    const logPath = join(dir, `runs-${dispatchInChild ? 'taken' : 'claimed'}.log`);
    const log = () => readFileSync(logPath, 'utf8').trim().split('\n');
    const args = [postgresUrl, testStore.schema!, logPath, '3', ...(dispatchInChild ? ['dispatch'] : [])];
    const child = fork(join(import.meta.dirname, 'fixtures', 'crashWorker.ts'), args, {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const message = await new Promise<unknown>((resolve, reject) => {
        child.once('message', resolve);
        child.once('exit', (code) => reject(new Error(`worker process exited early with ${code}`)));
      });
      const senpuki = new Senpuki({ store: testStore.store, pollMinIntervalMs: 20 });
      const workflow = registerCrashFunctions(senpuki, { logPath });
      const id = dispatchInChild ? (message as { executionId: string }).executionId : await senpuki.dispatch(workflow, []);
      await waitFor(() => { try { return log().includes(`step 3 pid ${child.pid}`); } catch { return false; } }, { message: 'the worker process to reach step 3' });
      if (dispatchInChild) {
        const execution = await senpuki.stateOf(id);
        const root = await senpuki.getTask(execution.rootTaskId);
        assert.equal(root.leaseOwner?.split(':')[1], String(child.pid), 'the root task is leased to the dispatching process');
        assert.equal(execution.version, 1, 'started by the dispatch itself: no claim wrote the execution again');
      }
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
  }

  it('resumes the workflow on another worker without re-running its completed steps', () => crashAndResume(false));

  it('resumes a workflow its dead process took at dispatch the same way', () => crashAndResume(true));
});
