/**
 * The gateway's express app, built without listening so tests can mount it on any port and the
 * entry point (api/server.ts) owns the process lifecycle. Authentication is part of the app's
 * construction: there is no way to build a gateway that answers without checking tokens.
 */
import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Health } from '../schemas/health';
import { effectiveParkAfterMs, loadStoreConfig, loadTimerConfig } from '../schemas/config';
import { type ContentStore, type LedgerReader, openContentStore, openLedgerReader } from '../ledger';
import { TaskQueueName } from '../schemas/owner-controls';
import type { TimerTargetRule } from '../schemas/timer-targets';
import { mountA2A } from './a2a';
import { mountConsole } from './console/serve';
import { ALL_ROLES, type Authenticator } from './auth';
import { Gauge } from 'prom-client';
import { METRICS } from '../schemas/metrics';
import { healthChecker } from './health';
import { mountLedgerRoutes } from './ledger-routes';
import { mountEvidenceRoutes } from './evidence-routes';
import { mountMissionRoutes } from './mission-routes';
import {
  BadPageTokenError,
  MissionNotFoundError,
  MissionTimeoutError,
  MissionUnavailableError,
} from './missions';
import { type AccessLog, createGatewayMetrics, observe, stdoutAccessLog } from './observability';
import { buildOpenApi, renderDocs } from './openapi';
import { haltKeeper, mountOwnerControls } from './owner-controls';
import { ownerCommandSigning } from './owner-signing';
import { dataPaths, defaultPolicyFile } from '../host/data-dir';
import { createFileParkedTimerStore, parkedTimersDir, type ParkedTimerStore } from '../host/parked-timers';
import { timerEventsDir } from '../host/timer-events';
import { requestTracing } from './telemetry';
import { firstLineOf, sendProblem } from './problem';
import { declareTimerRoutes } from './timer-routes';
import { ApiRegistry, BODY_LIMIT_BYTES, type RouteDoc } from './routes';

export interface AppDeps {
  client: Client;
  taskQueue: string;
  /** Who may call what: required, so no caller can build an unauthenticated gateway. */
  auth: Authenticator;
  /** The data folder the workers write: ledger (files store) and evidence. */
  dataDir: string;
  /**
   * The ledger read for /ledger, /events and /health: the store SWOOSH_STORE names unless given
   * (the files of `dataDir`, or PostgreSQL at SWOOSH_DATABASE_URL; docs/ledger.md, "Stores").
   */
  ledger?: LedgerReader;
  /** The evidence served by /missions/:id/evidence: the store SWOOSH_STORE names unless given. */
  evidence?: ContentStore;
  /** Where access-log lines go; stdout (JSON lines) unless given. */
  accessLog?: AccessLog;
  /** Timer shards the worker runs (SWOOSH_TIMER_SHARDS unless given); they decide where each timer lives. */
  timerShards?: number;
  /** Signals and updates timers may send (SWOOSH_TIMER_TARGETS unless given; schemas/timer-targets.ts). */
  timerTargets?: TimerTargetRule[];
  /** Event streams held open at once (default 256); each polls a mission's ledger while it lasts. */
  maxStreams?: number;
  /** The parked timers to read; the data folder's unless given. */
  parkedTimers?: Pick<ParkedTimerStore, 'get' | 'list' | 'closed'>;
  /** People's owner keys (SWOOSH_OWNER_KEYS) that missions started here accept commands from too. */
  ownerKeys?: string[];
  /** Distinct owner signatures a broadcast owner command needs (SWOOSH_OWNER_QUORUM, default 1). */
  ownerQuorum?: number;
  /** The SHHH policy proposals are scanned with: the worker's (SWOOSH_POLICY_FILE), the default unless given. */
  policyFile?: string;
}

export interface Gateway {
  app: express.Express;
  /** Every route the app serves, as documented in /openapi.json. */
  routes: readonly RouteDoc[];
  /** Ends open event streams, so that a closing server is not held open by them, and closes the files it reads. */
  stopStreams(): void;
}

/** The data folder's parked timers, read by the timer routes; let go of when the gateway stops. */
function openParkedTimers(
  dir: string,
  stopped: AbortSignal,
): Pick<ParkedTimerStore, 'get' | 'list' | 'closed'> {
  const store = createFileParkedTimerStore(dir);
  stopped.addEventListener('abort', () => void store.close(), { once: true });
  return store;
}

export function createGateway(deps: AppDeps): Gateway {
  const { client, taskQueue, auth, dataDir } = deps;
  if (!TaskQueueName.safeParse(taskQueue).success) throw new Error(`invalid task queue name ${taskQueue}`);
  const accessLog = deps.accessLog ?? stdoutAccessLog;
  const shutdown = new AbortController();
  const metrics = createGatewayMetrics();
  const app = express();
  app.disable('x-powered-by');
  // First, so Temporal client calls made by handlers become children of the request's span.
  app.use(requestTracing());
  app.use(observe(metrics, accessLog));
  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  const api = new ApiRegistry(app, auth);
  const logError = (context: string, error: unknown): void =>
    console.error(
      JSON.stringify({ ts: new Date().toISOString(), level: 'ERROR', msg: context, error: messageOf(error) }),
    );
  // The gateway signs the owner commands it sends; missions it starts accept that key (api/owner-signing.ts).
  const signing = ownerCommandSigning(dataPaths(dataDir).gatewayKey, {
    ...(deps.ownerKeys && { ownerKeys: deps.ownerKeys }),
    ...(deps.ownerQuorum !== undefined && { quorum: deps.ownerQuorum }),
  });
  const halts = haltKeeper(client, taskQueue);
  const policyFile = deps.policyFile ?? defaultPolicyFile;
  mountMissionRoutes(api, { client, taskQueue, signing, halts, policyFile });
  const ledger =
    deps.ledger ?? openLedgerReader({ config: loadStoreConfig(), ledgerDir: dataPaths(dataDir).ledgerDir });
  mountLedgerRoutes(api, { client, ledger, shutdown: shutdown.signal, maxStreams: deps.maxStreams ?? 256 });
  const evidence = deps.evidence ?? openContentStore(loadStoreConfig(), dataPaths(dataDir).evidenceDir);
  mountEvidenceRoutes(api, { client, ledger, evidence });
  const timerConfig =
    deps.timerShards === undefined || deps.timerTargets === undefined ? loadTimerConfig() : undefined;
  const timerShards = deps.timerShards ?? timerConfig!.shards;
  const timerTargets = deps.timerTargets ?? timerConfig!.timerTargets;
  // A shard started by the gateway (a create, a halt) checks what a worker-started one checks.
  const shardSettings = {
    timerTargets,
    owners: { keys: signing.ownerKeys.slice(), quorum: signing.quorum },
    ...(timerConfig !== undefined && {
      snapshotBudgetBytes: timerConfig.capacityBytes,
      parkAfterMs: effectiveParkAfterMs(timerConfig, loadStoreConfig()),
    }),
  };
  // Parked timers are files in the data folder; a deployment on PostgreSQL parks none.
  const parkedTimers =
    deps.parkedTimers ??
    (loadStoreConfig().SWOOSH_STORE === 'files'
      ? openParkedTimers(parkedTimersDir(dataDir), shutdown.signal)
      : undefined);
  mountOwnerControls(api, {
    client,
    taskQueue,
    timerShards: { count: timerShards, settings: shardSettings },
    logError,
    signing,
    halts,
  });
  mountA2A(api, { client, taskQueue, logError, policyFile });
  declareTimerRoutes(api, {
    client,
    taskQueue,
    shards: timerShards,
    timerTargets,
    shardSettings,
    ...(parkedTimers && { parked: parkedTimers }),
    events: { dir: timerEventsDir(dataDir), shutdown: shutdown.signal, maxStreams: deps.maxStreams ?? 256 },
  });
  mountConsole(api);

  const health = healthChecker({ client, taskQueue, ledger });
  // Sampled at scrape time from the same (cached) health check, so /metrics and /health agree.
  new Gauge({
    name: METRICS.walLag.name,
    help: METRICS.walLag.help,
    registers: [metrics.registry],
    async collect() {
      const { walLag } = await health();
      if (walLag !== null) this.set(walLag);
    },
  });
  api.route({
    method: 'get',
    path: '/health',
    operationId: 'health',
    tag: 'Operations',
    summary: 'Temporal, worker and ledger health, ledger/workflow agreement and WAL lag',
    description: 'See docs/api.md for the definition of every value. 503 when Temporal cannot be reached.',
    access: ALL_ROLES,
    responses: {
      200: { description: 'ok or degraded', schema: Health },
      503: { description: 'unavailable', schema: Health, contentType: 'application/json' },
    },
    handler: async (_input, res) => {
      const report = await health();
      res.status(report.status === 'unavailable' ? 503 : 200).json(report);
    },
  });

  api.route({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics: gateway request counts and latencies, WAL lag',
    access: ALL_ROLES,
    responses: { 200: { description: 'Prometheus text exposition format', contentType: 'text/plain' } },
    handler: async (_input, res) => {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  });

  let document: Record<string, unknown> | undefined;
  let page: string | undefined;
  const openapi = (): Record<string, unknown> =>
    (document ??= buildOpenApi(api.routes, {
      title: 'SWOOSH gateway',
      version: '1.0.0',
      description:
        'Drive SWOOSH missions: start and list them, propose signed transitions, vote and approve, read state, ' +
        'the decision ledger and its event stream, apply owner controls, and talk JSON-RPC as an agent.',
    }));
  api.route({
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    tag: 'Documentation',
    summary: 'This API as an OpenAPI 3.1 document',
    access: 'public',
    responses: { 200: { description: 'The OpenAPI document', contentType: 'application/json' } },
    handler: (_input, res) => {
      res.json(openapi());
    },
  });
  api.route({
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    tag: 'Documentation',
    summary: 'This API as a readable page',
    access: 'public',
    responses: { 200: { description: 'HTML', contentType: 'text/html' } },
    handler: (_input, res) => {
      page ??= renderDocs(openapi());
      res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
      res.type('html').send(page);
    },
  });

  app.use((req: Request, res: Response) => {
    sendProblem(res, {
      status: 404,
      title: 'Not found',
      detail: `no route for ${req.method} ${req.path.slice(0, 200)}`,
    });
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    const known = knownProblem(err);
    if (known) return sendProblem(res, known);
    res.locals.error = messageOf(err);
    sendProblem(res, { status: 500, title: 'Internal error', detail: 'the request could not be completed' });
  });

  return { app, routes: api.routes, stopStreams: () => shutdown.abort() };
}

/** The express app alone, for callers that do not manage shutdown (tests mounting it on a port). */
export function createApp(deps: AppDeps): express.Express {
  return createGateway(deps).app;
}

function knownProblem(err: unknown) {
  if (err instanceof MissionNotFoundError) return { status: 404, title: 'Not found', detail: err.message };
  if (err instanceof MissionUnavailableError) {
    return { status: err.status, title: err.title, detail: err.message, missionStatus: err.missionStatus };
  }
  if (err instanceof MissionTimeoutError) {
    return { status: 504, title: 'Mission did not answer', detail: `${err.message}; is a worker running?` };
  }
  if (err instanceof BadPageTokenError) {
    const detail = `query.pageToken: ${err.message}`;
    return {
      status: 400,
      title: 'Invalid request',
      detail,
      errors: [{ field: 'query.pageToken', reason: err.message }],
    };
  }
  // body-parser's errors carry a client status and a type; anything else is ours and a 500.
  if (typeof err !== 'object' || err === null || !('status' in err) || typeof err.status !== 'number')
    return undefined;
  const status = err.status;
  if (status >= 500) return undefined;
  const type = 'type' in err ? String(err.type) : '';
  const reason =
    status === 413
      ? `larger than ${BODY_LIMIT_BYTES / 1024} KiB`
      : status === 415
        ? 'unsupported encoding or charset'
        : type === 'entity.parse.failed'
          ? 'not valid JSON (an object or array)'
          : 'could not be read';
  return {
    status,
    title: 'Bad request body',
    detail: `body: ${reason}`,
    errors: [{ field: 'body', reason }],
  };
}

/** First line of an error's message, bounded: enough to act on, never a stack or a payload. */
function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${firstLineOf(error, 300)}` : firstLineOf(error, 300);
}
