// `pnpm start`: runs Keygate until SIGINT/SIGTERM.
//
// Signals arrive however the supervisor sends them: to pnpm (which relays them
// to Keygate), to Keygate itself, or to the whole process group (systemd's
// default, Ctrl-C), where Keygate gets the group's copy and pnpm's relay of
// it within milliseconds. Each way leads to one graceful shutdown; a second
// signal from a person, later than a relay would come, exits at once.
import { setFlagsFromString } from 'node:v8';
import { startServer } from './app/server.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './observability/logger.ts';
import { startTracing, tracingConfig } from './observability/tracing.ts';
import { StartupError } from './startup-error.ts';

/** How close together two deliveries of one signal count as one (a relay comes within milliseconds). */
const RELAY_WINDOW_MS = 500;

const logger = createLogger();
try {
  const config = loadConfig();
  if (config.storage.kind === 'postgres') {
    // Prisma's query compiler is WebAssembly. V8 compiles it with its baseline compiler, then
    // recompiles hot functions with its optimizing one in the background, which held 55 MB more
    // resident memory at idle and made no measurable difference to a query (0.83 against 0.91 ms
    // per findMany, BENCHMARKS.md). Baseline only, then: set before the first query compiles it.
    setFlagsFromString('--liftoff-only');
  }
  const tracingSettings = tracingConfig();
  const tracing = tracingSettings ? await startTracing(tracingSettings) : null;
  if (tracingSettings) {
    logger.info(`tracing on: ${tracingSettings.exporters.join(', ')} exporter, ${tracingSettings.sampler} sampler`);
  }
  const server = await startServer(config, { logger });
  // Without its database Keygate can answer nothing: exit, so that a supervisor starts it again.
  server.database.onFailure((error) => {
    logger.fatal({ err: error }, 'the database stopped working; exiting');
    process.exit(1);
  });
  let firstSignal: { name: string; at: number } | null = null;
  const stop = async (reason: string) => {
    const now = Date.now();
    if (firstSignal) {
      // The same signal again this soon is a relay of the first one (pnpm's, a wrapper's), not a person.
      if (reason === firstSignal.name && now - firstSignal.at < RELAY_WINDOW_MS) return;
      logger.warn(`${reason} again: exiting now`);
      process.exit(1);
    }
    firstSignal = { name: reason, at: now };
    logger.info(`${reason}: shutting down`);
    await server.close();
    await tracing?.shutdown(); // exports the spans still buffered
    logger.info('stopped: in-flight requests answered, last-used times written, database closed');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // Started by `pnpm start`: if pnpm is killed outright (SIGKILL after a supervisor's timeout), nobody
  // would ever signal Keygate, and it would keep its port as an orphan. Its parent changing says so.
  const parent = process.ppid;
  if (process.env.npm_lifecycle_event === 'start') {
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      void stop('parent gone');
    }, 500).unref();
  }
} catch (error) {
  if (error instanceof StartupError) {
    console.error(`keygate: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
