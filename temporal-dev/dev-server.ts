/**
 * Launches the Temporal CLI dev server the way SWOOSH needs it: SQLite file persistence in the
 * data folder (so missions survive restarts), the `default` namespace, the Web UI, and SWOOSH's
 * search attributes registered at start.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { swooshSearchAttributes } from '../schemas/search-attributes';
import { startProcess, stopProcess, type Supervised, waitForPort } from './processes';

export interface DevServerOptions {
  cli: string;
  port: number;
  uiPort: number;
  dbFile: string;
  namespace: string;
}

/** The search attributes in the CLI's `--search-attribute name=Type` form. */
export function searchAttributeArgs(): string[] {
  const typeName = { KEYWORD: 'Keyword', TEXT: 'Text', INT: 'Int', DOUBLE: 'Double', BOOL: 'Bool' } as const;
  return swooshSearchAttributes.flatMap((key) => [
    '--search-attribute',
    `${key.name}=${typeName[key.type as keyof typeof typeName]}`,
  ]);
}

/**
 * Temporal keeps one timer task per workflow, for its earliest timer, and by default the timer
 * queue fires a task no earlier than 1 s after it was written and reads at most 20 times a second.
 * A timer shard re-arms after every firing, so both bound its precision (docs/timers.md). The dev
 * server and the cluster on PostgreSQL (temporal-cluster.ts) both run with these.
 */
export const TUNED_TIMER_QUEUE: Readonly<Record<string, string | number>> = {
  'history.timerProcessorMaxTimeShift': '10ms',
  'history.timerProcessorMaxPollRPS': 200,
};

/**
 * Task priority (a P0 mission's tasks before a backlog of P2 ones, README "Priority") is honoured
 * only by the server's newer matcher; the CLI dev server's default one ignores it. With one
 * partition per task queue it dispatches a backlog strictly by priority; several partitions (the
 * default 4, which a single dev server does not need) each order only their own share.
 */
export const PRIORITY_MATCHING: Readonly<Record<string, string | number | boolean>> = {
  'matching.useNewMatcher': true,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

/**
 * Eager activity dispatch: a worker completing a workflow task that schedules an activity on its
 * own task queue gets that activity task back in the server's reply, with no trip through
 * matching. The SDK asks for it by default; the 1.29 server leaves it off. A timer shard firing
 * one timer at a time pays an activity per firing, and at 278 firings/s over 400 shards this cut
 * their lateness by a fifth to a third (docs/timers.md, "Eager activities").
 */
export const EAGER_ACTIVITIES: Readonly<Record<string, boolean>> = {
  'system.enableActivityEagerExecution': true,
};

/**
 * SQLite's write-ahead log instead of its default rollback journal, synced at checkpoints rather
 * than at every commit. Under the rollback journal each commit syncs the database twice, and a
 * dev server firing hundreds of timers a second waited on the disk for it (docs/timers.md,
 * "SQLite's journal"). A commit still survives a crash of the server; one made just before the
 * machine itself loses power may not.
 */
export const SQLITE_PRAGMAS: Readonly<Record<string, string>> = {
  journal_mode: 'WAL',
  synchronous: 'NORMAL',
};

const dynamicConfigArgs = (values: Readonly<Record<string, unknown>>): string[] =>
  Object.entries(values).flatMap(([key, value]) => [
    '--dynamic-config-value',
    `${key}=${JSON.stringify(value)}`,
  ]);

/** The priority-matching settings in the CLI's `--dynamic-config-value key=<JSON value>` form. */
export function priorityMatchingArgs(): string[] {
  return dynamicConfigArgs(PRIORITY_MATCHING);
}

/**
 * Everything `npm run dev` sets on its dev server besides addresses and names: the timer queue,
 * eager activities, priority matching and the SQLite pragmas. The timer bench starts its own
 * server with the same.
 */
export function devServerTuningArgs(): string[] {
  return [
    ...dynamicConfigArgs({ ...TUNED_TIMER_QUEUE, ...EAGER_ACTIVITIES }),
    ...priorityMatchingArgs(),
    ...Object.entries(SQLITE_PRAGMAS).flatMap(([name, value]) => ['--sqlite-pragma', `${name}=${value}`]),
  ];
}

/**
 * Starts the dev server and resolves once it listens. `onSpawn` gets the process at once, so a
 * caller interrupted while the server is still starting can stop it; a server that never listens
 * is stopped before the error is thrown.
 */
export async function startDevServer(
  options: DevServerOptions,
  onSpawn: (server: Supervised) => void = () => undefined,
): Promise<Supervised> {
  mkdirSync(dirname(options.dbFile), { recursive: true });
  const server = startProcess(
    'temporal dev server',
    options.cli,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(options.port),
      '--ui-port',
      String(options.uiPort),
      '--db-filename',
      options.dbFile,
      '--namespace',
      options.namespace,
      // The server logs its own graceful shutdown at WARN; only errors are worth an operator's eye.
      '--log-level',
      'error',
      ...searchAttributeArgs(),
      ...devServerTuningArgs(),
    ],
    { quiet: true },
  );
  onSpawn(server);
  try {
    await Promise.race([
      waitForPort(options.port, 60_000),
      server.exited.then((code) => {
        throw new Error(`the Temporal dev server exited early with code ${code}`);
      }),
    ]);
  } catch (error) {
    await stopProcess(server);
    throw error;
  }
  return server;
}
