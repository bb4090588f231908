import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './conditions.js';

/** A redis-server child process of our own (for kill/restart tests); `stop()` is idempotent. */
export interface RedisServerProcess {
  readonly port: number;
  readonly url: string;
  /** SIGKILLs the server and resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts a fresh server on the same port with the same arguments. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A TCP port nobody listened on a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Whether a `redis-server` binary can be started here. */
export async function hasRedisServerBinary(): Promise<boolean> {
  const child = spawn('redis-server', ['--version'], { stdio: 'ignore' });
  const [code] = (await Promise.race([once(child, 'exit'), once(child, 'error').then(() => [-1])])) as [number | null];
  return code === 0;
}

export interface RedisServerOptions {
  /** Extra command-line arguments (`--requirepass x`, `--cluster-enabled yes`...). */
  args?: string[];
  /** Password the readiness probe authenticates with. */
  password?: string;
  /** Run as a Sentinel with these config lines (Sentinel needs a writable config file). */
  sentinelConfig?: string[];
  port?: number;
}

/**
 * Starts `redis-server` on a free port (no persistence), in a temporary directory of its own
 * (cluster and sentinel state files go there), and waits until it answers PING.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerProcess> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'senpuki-redis-'));
  const head: string[] = [];
  if (options.sentinelConfig) {
    const file = join(dir, 'sentinel.conf');
    await writeFile(file, `${options.sentinelConfig.join('\n')}\n`);
    head.push(file, '--sentinel');
  }
  const args = [...head, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...(options.args ?? [])];
  let child: ChildProcess | undefined;

  const start = async () => {
    const started = spawn('redis-server', args, { stdio: 'ignore', cwd: dir });
    child = started;
    await waitFor(
      async () => {
        if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode}`);
        const probe = new Redis({
          port,
          host: '127.0.0.1',
          password: options.password,
          lazyConnect: true,
          retryStrategy: () => null,
          maxRetriesPerRequest: 0,
        });
        probe.on('error', () => {});
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } finally {
          probe.disconnect();
        }
      },
      { message: `redis-server on port ${port} to accept connections` },
    );
  };
  const kill = async () => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, 'exit');
    current.kill('SIGKILL');
    await exited;
  };

  try {
    await start();
  } catch (error) {
    await kill();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
