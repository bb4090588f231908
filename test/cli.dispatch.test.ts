import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, startServeChild, type ServeChild } from './helpers/cli.js';

const FIXTURE = 'test/fixtures/cliFunctions.ts';

/** A port nothing listens on (one the OS just handed out and took back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the senpuki CLI against a server started with --functions', () => {
  let dataDir: string;
  let server: ServeChild;
  let env: Record<string, string>;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'senpuki-cli-'));
    server = await startServeChild(['--functions', FIXTURE, '--port', '0', '--data-dir', dataDir, '--concurrency', '4']);
    env = { SENPUKI_URL: server.graphqlUrl };
  });
  after(async () => {
    const code = await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
    assert.equal(code, 0, 'serve stops cleanly on SIGTERM');
  });

  it('serve --functions registers the functions the module exports, instead of the examples', async () => {
    assert.match(server.output(), /Functions\s+greet, narrate, refuse, shout, waitForGo/);
    const run = await runCli(['functions', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const names = (JSON.parse(run.stdout) as Array<{ name: string }>).map((fn) => fn.name);
    assert.deepEqual(names, ['greet', 'narrate', 'refuse', 'shout', 'waitForGo']);
  });

  it('dispatch --wait prints progress lines, then the result on stdout, and exits 0 when the execution completes', async () => {
    const run = await runCli(['dispatch', 'greet', '["ana"]', '--wait'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { greeting: 'hello ANA ANA' });
    assert.match(run.stderr, /^dispatched greet [0-9a-f-]{36}$/m);
    assert.match(run.stderr, /^3\/3 tasks {2}completed$/m, 'a plain progress line per change when not on a TTY');
    assert.match(run.stderr, /✓ completed in \S+/);
    assert.doesNotMatch(run.stderr, /\x1b\[/, 'no escape codes when not on a TTY');
  });

  it('dispatch --wait prints the error and exits 1 when the execution fails', async () => {
    const run = await runCli(['dispatch', 'refuse', '["out of stock"]', '--wait'], env);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /✗ failed after \S+: NonRetryableError: out of stock/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });

  it('dispatch --file sends every line of an NDJSON file as one batch and prints the ids in file order', async () => {
    const file = join(dataDir, 'jobs.ndjson');
    await writeFile(file, ['{"function": "greet", "args": ["cy"], "tags": ["bulk"]}', '', '{"function": "greet", "args": ["di"], "idempotencyKey": "cli-bulk"}', '{"function": "greet", "args": ["ed"], "idempotencyKey": "cli-bulk"}'].join('\n'));
    const run = await runCli(['dispatch', '--file', file], env);
    assert.equal(run.code, 0, run.stderr);
    const ids = run.stdout.trim().split('\n');
    assert.equal(ids.length, 3);
    assert.equal(ids[2], ids[1], 'the repeated idempotency key returns the first execution');
    const watched = await runCli(['watch', ids[0]!], env);
    assert.deepEqual(JSON.parse(watched.stdout), { greeting: 'hello CY CY' });
    const bad = join(dataDir, 'bad.ndjson');
    await writeFile(bad, '{"function": "greet", "args": ["ok"]}\n{"function": "nobody"}\n{"function": "greet", "args": "x"}\n');
    const refused = await runCli(['dispatch', '--file', bad], env);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /line 3: "args" must be a JSON array/);
    await writeFile(bad, '{"function": "greet", "args": ["ok"]}\n{"function": "nobody"}\n');
    const unknown = await runCli(['dispatch', '--file', bad], env);
    assert.equal(unknown.code, 4, unknown.stderr);
    assert.match(unknown.stderr, /1 of 2 items are invalid, so none was dispatched\. line 2: No durable function named "nobody"/);
    assert.equal(unknown.stdout, '');
  });

  it('dispatch without --wait prints only the execution id; watch and show follow it by that id', async () => {
    const dispatched = await runCli(['dispatch', 'greet', '["bo"]'], env);
    assert.equal(dispatched.code, 0, dispatched.stderr);
    const id = dispatched.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    const watched = await runCli(['watch', id], env);
    assert.equal(watched.code, 0, watched.stderr);
    assert.deepEqual(JSON.parse(watched.stdout), { greeting: 'hello BO BO' });
    const shown = await runCli(['show', id], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^greet {2}completed {2}/);
    assert.match(shown.stdout, /^greet\s+completed\s+1\/1/m, 'the root task');
    assert.match(shown.stdout, /^├─ shout\s+completed/m);
    assert.match(shown.stdout, /^└─ shout\s+completed/m);
    const listed = await runCli(['executions', '--function', 'greet', '--state', 'completed'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${id}\\s+greet\\s+completed`, 'm'));
  });

  it('watch --stream prints a stream as it is written, text as text and other chunks as JSON lines, with the outcome as exit code', async () => {
    const id = (await runCli(['dispatch', 'narrate', '[["once", "upon", "a", "time"]]'], env)).stdout.trim();
    const story = await runCli(['watch', id, '--stream', 'story'], env);
    assert.equal(story.code, 0, story.stderr);
    assert.equal(story.stdout, 'once upon a time\n');
    assert.match(story.stderr, /^watching narrate [0-9a-f-]{36}, stream "story"$/m);
    assert.match(story.stderr, /✓ completed in/);
    const log = await runCli(['watch', id, '--stream', 'log'], env);
    assert.equal(log.code, 0, log.stderr);
    assert.equal(log.stdout, '{"words":4}\n');
    const failing = (await runCli(['dispatch', 'narrate', '[["so", "long"], true]'], env)).stdout.trim();
    const failed = await runCli(['watch', failing, '--stream', 'story'], env);
    assert.equal(failed.code, 1, failed.stderr);
    assert.equal(failed.stdout, 'so long\n');
    assert.match(failed.stderr, /✗ failed after \S+: NonRetryableError: told to fail after the story/);
  });

  it('signal reaches the waiting function, and cancel --wait exits 0 once the cancel took effect (a requested cancel is success)', async () => {
    const waiting = (await runCli(['dispatch', 'waitForGo'], env)).stdout.trim();
    const signalled = await runCli(['signal', waiting, 'go', '{"by":"ana"}'], env);
    assert.equal(signalled.code, 0, signalled.stderr);
    const watched = await runCli(['watch', waiting], env);
    assert.equal(watched.code, 0, watched.stderr);
    assert.deepEqual(JSON.parse(watched.stdout), { got: { by: 'ana' } });

    const doomed = (await runCli(['dispatch', 'waitForGo'], env)).stdout.trim();
    const cancelled = await runCli(['cancel', doomed, '--wait'], env);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stderr, /✗ cancelled after/);
    const watchedCancelled = await runCli(['watch', doomed], env);
    assert.equal(watchedCancelled.code, 3, 'watch still reports a cancelled execution with 3');
  });

  it('--json prints states as tables and --state write them (completed, timed_out), tasks included', async () => {
    const id = (await runCli(['dispatch', 'greet', '["jo"]', '--wait'], env)).stderr.match(/dispatched greet (\S+)/)![1]!;
    const listed = await runCli(['executions', '--function', 'greet', '--state', 'completed', '--json'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as Array<{ id: string; state: string }>;
    assert.equal(rows.find((row) => row.id === id)?.state, 'completed');
    const shown = JSON.parse((await runCli(['show', id, '--json'], env)).stdout) as { state: string; tasks: Array<{ state: string }> };
    assert.equal(shown.state, 'completed');
    assert.deepEqual([...new Set(shown.tasks.map((task) => task.state))], ['completed']);
  });

  it('dlq discard removes a dead letter; the list no longer shows it', async () => {
    await runCli(['dispatch', 'refuse', '["gone"]', '--wait'], env);
    const letters = JSON.parse((await runCli(['dlq', 'list', '--function', 'refuse', '--json'], env)).stdout) as Array<{ id: string; error: { message: string } }>;
    const letter = letters.find((item) => item.error.message === 'gone')!;
    const discarded = await runCli(['dlq', 'discard', letter.id], env);
    assert.equal(discarded.code, 0, discarded.stderr);
    assert.equal(discarded.stdout.trim(), `discarded ${letter.id}`);
    const after = JSON.parse((await runCli(['dlq', 'list', '--function', 'refuse', '--json'], env)).stdout) as Array<{ id: string }>;
    assert.equal(after.some((item) => item.id === letter.id), false);
    const again = await runCli(['dlq', 'discard', letter.id], env);
    assert.equal(again.code, 4, 'a dead letter that is gone is bad input');
    assert.match(again.stderr, /No dead letter/);
  });

  it('workers lists the server\'s worker; show says why an execution no worker takes is waiting', async () => {
    const listed = await runCli(['workers'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^WORKER\s+BUSY\s+QUEUES/m);
    assert.match(listed.stdout, /\s0\/4\s+default\s+any\s+5\s/);
    const workers = JSON.parse((await runCli(['workers', '--json'], env)).stdout) as Array<{ concurrency: number; functions: string[] }>;
    assert.equal(workers.length, 1);
    assert.deepEqual([workers[0]!.concurrency, [...workers[0]!.functions].sort()], [4, ['greet', 'narrate', 'refuse', 'shout', 'waitForGo']]);
    const id = (await runCli(['dispatch', 'greet', '["x"]', '--queue', 'nowhere'], env)).stdout.trim();
    const shown = await runCli(['show', id], env);
    assert.match(shown.stdout, /waiting\s+No live worker takes queue "nowhere" \(live workers take: default\)/);
    await runCli(['cancel', id], env);
  });

  it('bad input exits 4 with a message that says what to fix', async () => {
    const badJson = await runCli(['dispatch', 'greet', '["ana"'], env);
    assert.equal(badJson.code, 4);
    assert.match(badJson.stderr, /json-args is not valid JSON/);
    const notArray = await runCli(['dispatch', 'greet', '"ana"'], env);
    assert.equal(notArray.code, 4);
    assert.match(notArray.stderr, /must be a JSON array/);
    const unknown = await runCli(['dispatch', 'nope'], env);
    assert.equal(unknown.code, 4);
    assert.match(unknown.stderr, /^senpuki: No durable function named "nope" is registered; registered: greet, narrate, refuse, shout, waitForGo$/m);
    const missing = await runCli(['watch', '00000000-0000-4000-8000-000000000000'], env);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /No execution with id/);
  });

  it('exits 5 with a hint when no server answers', async () => {
    const port = await closedPort();
    const run = await runCli(['executions', '--url', `http://127.0.0.1:${port}/graphql`]);
    assert.equal(run.code, 5);
    assert.match(run.stderr, new RegExp(`cannot reach the Senpuki server at http://127\\.0\\.0\\.1:${port}/graphql \\(ECONNREFUSED\\)`));
    assert.match(run.stderr, /--url \/ SENPUKI_URL/);
  });
});
