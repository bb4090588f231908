/**
 * The `senpuki` command: `serve` and `worker` run the engine; the other commands talk to a running
 * server through the SDK. The only module that handles process signals and calls process.exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { pino } from 'pino';
import { SenpukiError } from '../errors.js';
import { cancelCommand, signalCommand } from './commands/cancel.js';
import { dispatchCommand } from './commands/dispatch.js';
import { dlqCommand } from './commands/dlq.js';
import { executionsCommand, functionsCommand } from './commands/executions.js';
import { CliError, EXIT_CODES_HELP, EXIT_USAGE } from './commands/exitCodes.js';
import { durationMs, integer } from './commands/parse.js';
import { showCommand } from './commands/show.js';
import { watchCommand } from './commands/watch.js';
import { workersCommand } from './commands/workers.js';
import { prettyLogStream, wantsPrettyLogs } from './prettyLog.js';
// The engine, store and HTTP server load only for `serve` and `worker`: the client commands start in half the time.
import type { Running, ServeOptions } from './runServe.js';

const logger = pino(
  { name: 'senpuki', level: process.env.SENPUKI_LOG_LEVEL ?? 'info' },
  wantsPrettyLogs(process.stdout) ? prettyLogStream(process.stdout) : undefined,
);

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Options shared by `serve` and `worker`. */
function engineOptions(command: Command): Command {
  return command
    .addOption(new Option('--database <url>', 'Postgres URL (default: embedded store in .senpuki/data)').env('DATABASE_URL'))
    .addOption(new Option('--redis <url>', 'Redis URL for notifications (default: in-process)').env('REDIS_URL'))
    .addOption(new Option('--data-dir <dir>', 'data directory of the embedded store').env('SENPUKI_DATA_DIR'))
    .option('-f, --functions <module>', 'module exporting durable functions (repeatable; default: the examples)', collect)
    .option('-c, --concurrency <n>', 'worker slots in this process', integer(0, 10_000))
    .option('-q, --queue <name>', 'queue to work on (repeatable; default: the functions\' queues)', collect)
    .addOption(
      new Option('--lease <duration>', 'how long a task stays this worker\'s without a heartbeat (default 30s; a worker that dies is noticed within seconds anyway)')
        .env('SENPUKI_LEASE')
        .argParser(durationMs('--lease', 1000)),
    );
}

function toServeOptions(opts: Record<string, unknown>): ServeOptions {
  return {
    port: opts.port as number | undefined,
    host: opts.host as string | undefined,
    databaseUrl: opts.database as string | undefined,
    redisUrl: opts.redis as string | undefined,
    dataDir: opts.dataDir as string | undefined,
    functions: opts.functions as string[] | undefined,
    concurrency: opts.concurrency as number | undefined,
    queues: opts.queue as string[] | undefined,
    leaseMs: opts.lease as number | undefined,
    apiKeys: opts.apiKey as string[] | undefined,
    allowedOrigins: opts.allowedOrigin as string[] | undefined,
    allowedHosts: opts.allowedHost as string[] | undefined,
    graphiql: opts.graphiql as boolean | undefined,
    logger,
  };
}

/** Set by `serve` and `worker`: the process stays up after the command's action returns. */
let longRunning = false;

/** Keeps the process up until SIGINT/SIGTERM, then stops gracefully; a second signal exits at once. */
function untilSignalled(running: Running): void {
  longRunning = true;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'stopping: draining the worker, then closing');
    running.stop().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export function buildProgram(): Command {
  const program = new Command('senpuki')
    .description('Durable functions with a realtime GraphQL API')
    .addHelpText(
      'after',
      `
Run a server:          senpuki serve [--functions ./my-functions.ts]
Talk to a server:      senpuki dispatch|watch|executions|show|cancel|signal|dlq|functions|workers
                       (--url or SENPUKI_URL, default http://127.0.0.1:4000/graphql;
                        --api-key or SENPUKI_API_KEY)
Debugging:             SENPUKI_DEBUG=1 prints stack traces with errors

${EXIT_CODES_HELP}`,
    );

  engineOptions(
    program
      .command('serve')
      .description('run the GraphQL API, the dashboard and a worker')
      .addOption(new Option('-p, --port <port>', 'port to listen on').env('PORT').argParser(integer(0, 65_535)).default(4000))
      .addOption(new Option('--host <host>', 'address to listen on').env('HOST').default('127.0.0.1'))
      .option('--api-key <key>', 'accepted API key (repeatable; or SENPUKI_API_KEYS)', collect)
      .option('--allowed-origin <origin>', 'origin whose pages may call the API, e.g. https://app.example.com (repeatable; or SENPUKI_ALLOWED_ORIGINS)', collect)
      .option('--allowed-host <name>', 'Host name answered without API keys besides localhost (repeatable; or SENPUKI_ALLOWED_HOSTS)', collect)
      .option('--graphiql', 'serve GraphiQL at the GraphQL path (default: unless NODE_ENV=production; or SENPUKI_GRAPHIQL)')
      .option('--no-graphiql', 'do not serve GraphiQL'),
  ).action(async (opts: Record<string, unknown>) => {
    const [{ runServe }, { banner }] = await Promise.all([import('./runServe.js'), import('./banner.js')]);
    const running = await runServe(toServeOptions(opts));
    console.log(banner(running, opts.dataDir as string | undefined));
    untilSignalled(running);
  });

  engineOptions(
    program
      .command('worker')
      .description('run a worker only (no GraphQL server)')
      .addOption(new Option('--metrics-port <port>', 'serve /metrics and /healthz on this port (127.0.0.1, or --metrics-host)').env('SENPUKI_METRICS_PORT').argParser(integer(0, 65_535)))
      .addOption(new Option('--metrics-host <host>', 'address of the metrics port').env('SENPUKI_METRICS_HOST').default('127.0.0.1')),
  ).action(async (opts: Record<string, unknown>) => {
    const { runWorker } = await import('./runServe.js');
    const running = await runWorker({ ...toServeOptions(opts), metricsPort: opts.metricsPort as number | undefined, metricsHost: opts.metricsHost as string | undefined });
    console.log(`worker ${running.worker?.id} running ${running.senpuki.registry.names().sort().join(', ')}`);
    if (running.metrics) console.log(`metrics ${running.metrics.url}/metrics  health ${running.metrics.url}/healthz`);
    untilSignalled(running);
  });

  for (const command of [dispatchCommand(), watchCommand(), executionsCommand(), showCommand(), cancelCommand(), signalCommand(), dlqCommand(), functionsCommand(), workersCommand()]) {
    program.addCommand(command);
  }
  // Usage errors throw instead of exiting, so they leave with EXIT_USAGE like other bad input.
  const configure = (command: Command) => {
    command.exitOverride().showHelpAfterError('(run with --help for usage)');
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Exits once what was written to stdout and stderr has been flushed (pipes may be asynchronous). */
async function exit(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
  process.exit(code);
}

try {
  await buildProgram().parseAsync(process.argv);
  if (!longRunning) await exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
} catch (error) {
  // Commander has printed its message already (or the help, which is no error).
  if (error instanceof CommanderError) await exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
  // Errors we raise on purpose say what to fix; a stack trace would only hide that.
  if (error instanceof CliError || error instanceof SenpukiError) console.error(`senpuki: ${error.message}`);
  else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    const { port } = error as { port?: number };
    console.error(`senpuki: port ${port} is in use (another Senpuki?). Stop that process, or pick another port with --port or PORT.`);
  } else console.error(`senpuki: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.SENPUKI_DEBUG) console.error(error instanceof CliError && error.cause ? error.cause : error);
  await exit(error instanceof CliError ? error.exitCode : 1);
}
