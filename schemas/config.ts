/** Process configuration, parsed once from the environment so a typo fails at start, not later. */
import { z } from 'zod';
import { Controllers } from './owner-controls';
import { parseTimerTargets, type TimerTargetRule } from './timer-targets';
import { DEFAULT_SHARD_SETTINGS, ShardCapacityBytes } from './timer-shard';
import { DEFAULT_PARK_AFTER_MS, ParkAfterMs } from './timer-parking';

const port = z.coerce.number().int().min(0).max(65_535);

/**
 * Where the decision ledger is kept (docs/ledger.md, "Stores"): files in the data folder (one
 * machine), or a PostgreSQL database that workers and gateways on several machines share.
 */
const storeFields = {
  SWOOSH_STORE: z.enum(['files', 'postgres']).default('files'),
  /** `postgres://user:password@host:port/database`; required with SWOOSH_STORE=postgres. */
  SWOOSH_DATABASE_URL: z
    .string()
    .trim()
    .min(1)
    .refine((url) => /^postgres(ql)?:\/\//.test(url) && URL.canParse(url), {
      message: 'must be a postgres:// or postgresql:// URL',
    })
    .optional(),
};

function requireDatabaseUrl(
  c: { SWOOSH_STORE: 'files' | 'postgres'; SWOOSH_DATABASE_URL?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (c.SWOOSH_STORE === 'postgres' && c.SWOOSH_DATABASE_URL === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['SWOOSH_DATABASE_URL'],
      message: 'is required when SWOOSH_STORE=postgres',
    });
}

export const StoreConfig = z.object(storeFields).superRefine(requireDatabaseUrl);
export type StoreConfig = z.infer<typeof StoreConfig>;

/** The database every store opens with SWOOSH_STORE=postgres (the ledger, evidence, dead letters). */
export function storeDatabaseUrl(config: StoreConfig): string {
  // StoreConfig refuses postgres without a URL; this guards a config built by hand.
  if (config.SWOOSH_DATABASE_URL === undefined)
    throw new Error('SWOOSH_DATABASE_URL is required when SWOOSH_STORE=postgres');
  return config.SWOOSH_DATABASE_URL;
}

export const SwooshConfig = z
  .object({
    SWOOSH_TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
    SWOOSH_NAMESPACE: z.string().default('default'),
    SWOOSH_TASK_QUEUE: z.string().default('swoosh-missions'),
    SWOOSH_GATEWAY_HOST: z.string().default('127.0.0.1'),
    SWOOSH_GATEWAY_PORT: port.default(3000),
    SWOOSH_UI_PORT: port.default(8233),
    /** The gateway's bearer tokens (schemas/auth.ts); default `<data folder>/gateway/tokens.json`. */
    SWOOSH_GATEWAY_TOKENS_FILE: z.string().trim().min(1).optional(),
    /** How long a stopping gateway lets in-flight requests finish before it closes them. */
    SWOOSH_GATEWAY_SHUTDOWN_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
    /** Event streams one gateway holds open at once; one more is refused with 503 and Retry-After. */
    SWOOSH_GATEWAY_MAX_STREAMS: z.coerce.number().int().min(1).max(100_000).default(256),
    /**
     * People's owner keys (`ed25519:<base64>`, comma-separated) that missions started by the gateway
     * accept signed owner commands from, beside the gateway's own key.
     */
    SWOOSH_OWNER_KEYS: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((k) => k.trim())
          .filter((k) => k.length > 0),
      )
      .pipe(Controllers),
    /**
     * Distinct owner keys whose signatures a broadcast owner command (pause-all, resume-all,
     * reroute, latency budgets) needs: 1 by default, M for an M-of-N owner quorum.
     */
    SWOOSH_OWNER_QUORUM: z.coerce.number().int().min(1).max(16).default(1),
    ...storeFields,
  })
  .superRefine((c, ctx) => {
    requireDatabaseUrl(c, ctx);
    if (c.SWOOSH_OWNER_KEYS.length > 0 && c.SWOOSH_OWNER_QUORUM > c.SWOOSH_OWNER_KEYS.length)
      ctx.addIssue({
        code: 'custom',
        path: ['SWOOSH_OWNER_QUORUM'],
        message: `${c.SWOOSH_OWNER_QUORUM} owner signatures can never be given by ${c.SWOOSH_OWNER_KEYS.length} owner key(s) in SWOOSH_OWNER_KEYS`,
      });
  });
export type SwooshConfig = z.infer<typeof SwooshConfig>;

const positive = z.coerce.number().int().min(1).max(100_000);

/**
 * How much one worker process takes on at once (docs/workers.md). Unset values keep the Temporal
 * SDK's defaults, which the transition benchmark measured as right for this machine size.
 */
export const WorkerTuning = z.object({
  /** Workflow tasks in flight; each holds its slot while its local activities (ledger) run. */
  SWOOSH_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: positive.min(2).optional(),
  /** Missions kept in memory between tasks; an evicted one replays its history on the next task. */
  SWOOSH_WORKER_MAX_CACHED_WORKFLOWS: positive.min(2).optional(),
  /** Threads that run workflow code; one suffices with a reused V8 context, more use more cores. */
  SWOOSH_WORKER_WORKFLOW_THREADS: z.coerce.number().int().min(1).max(64).optional(),
  /** Local activities (ledger appends, policy scans) in flight. */
  SWOOSH_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: positive.optional(),
  /** Activities (fetches, agent jobs, webhooks) in flight. */
  SWOOSH_WORKER_MAX_CONCURRENT_ACTIVITIES: positive.optional(),
});
export type WorkerTuning = z.infer<typeof WorkerTuning>;

/**
 * Eight shards hold two minutes of 278 firings/s (a million timers due over an hour) and fired
 * them at p95 98 ms (300k live) and 169 ms (a million) on two cores; sixteen fired the 300k at
 * p95 266 ms, the server busier for the same firings (docs/timers.md, "How many shards"). Fixed for a deployment: one begun
 * under the former default of 16 keeps it by setting it (the worker refuses fewer at boot).
 */
export const DEFAULT_TIMER_SHARDS = 8;

/**
 * The timer-shard layout of a deployment, from the environment of both the worker and the
 * gateway, which must agree: the shard count decides which shard holds each id.
 */
export const TimerShardConfig = z.object({
  SWOOSH_TIMER_SHARDS: z.coerce.number().int().min(1).max(4096).default(DEFAULT_TIMER_SHARDS),
  /** Bytes of timers a shard holds before it refuses creates (docs/timers.md#compact-shards). */
  SWOOSH_TIMER_SHARD_CAPACITY: z.coerce
    .number()
    .pipe(ShardCapacityBytes)
    .default(DEFAULT_SHARD_SETTINGS.snapshotBudgetBytes),
  /**
   * Timers due later than this many ms are parked outside their shard until a minute before they
   * are due (docs/timers.md#parked-timers); 0 parks none.
   */
  SWOOSH_TIMER_PARK_AFTER: z.coerce
    .number()
    .pipe(z.union([z.literal(0), ParkAfterMs]))
    .default(DEFAULT_PARK_AFTER_MS),
});

export interface TimerConfig {
  /** Fixed for the life of a deployment: changing it re-routes every timer id. */
  shards: number;
  /** Each shard's capacity in bytes; every shard gets it when a worker starts. */
  capacityBytes: number;
  /** Park timers due later than this (ms); 0 parks none. */
  parkAfterMs: number;
  /** The signals and updates timers may send (schemas/timer-targets.ts). */
  timerTargets: TimerTargetRule[];
}

function parseEnv<T extends z.ZodType>(schema: T, env: Record<string, string | undefined>): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): SwooshConfig {
  return parseEnv(SwooshConfig, env);
}

/** `SWOOSH_STORE` and `SWOOSH_DATABASE_URL`; the worker and the gateway both read them. */
export function loadStoreConfig(env: Record<string, string | undefined> = process.env): StoreConfig {
  return parseEnv(StoreConfig, env);
}

export function loadWorkerTuning(env: Record<string, string | undefined> = process.env): WorkerTuning {
  return parseEnv(WorkerTuning, env);
}

/** `SWOOSH_TIMER_SHARDS` (default 8) and `SWOOSH_TIMER_TARGETS`; the worker and the gateway both read them. */
export function loadTimerConfig(env: Record<string, string | undefined> = process.env): TimerConfig {
  const parsed = parseEnv(TimerShardConfig, env);
  return {
    shards: parsed.SWOOSH_TIMER_SHARDS,
    capacityBytes: parsed.SWOOSH_TIMER_SHARD_CAPACITY,
    parkAfterMs: parsed.SWOOSH_TIMER_PARK_AFTER,
    timerTargets: parseTimerTargets(env.SWOOSH_TIMER_TARGETS),
  };
}

/**
 * The park-after setting shards run with: the parked-timer store lives in the data folder, so a
 * deployment on PostgreSQL (whose gateway and workers need not share a folder) parks nothing.
 */
export function effectiveParkAfterMs(timers: Pick<TimerConfig, 'parkAfterMs'>, store: StoreConfig): number {
  return store.SWOOSH_STORE === 'files' ? timers.parkAfterMs : 0;
}
