/**
 * `npm run dev`: the whole system on one machine. Ensures the toolchain, starts the Temporal dev
 * server (data kept in the data folder), a worker and the REST gateway, prints where to find
 * them, and on Ctrl-C stops everything it started, gateway and worker first. A worker or gateway
 * that dies is started again (with backoff) while the rest keeps running: missions are durable in
 * Temporal and carry on once a worker polls again. Only a dead Temporal server stops the rest.
 *
 * `npm run dev -- --cluster` runs the same worker and gateway against a Temporal cluster on
 * PostgreSQL instead (temporal-cluster.ts), PostgreSQL's files kept in the data folder too.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../schemas/config';
import { loadTelemetryConfig } from '../schemas/telemetry-config';
import { resolveDataDir } from '../host/data-dir';
import { defaultTokensFile, ensureDevTokens } from '../api/auth';
import { startDevServer } from './dev-server';
import { type PostgresServer, startPostgresServer } from './postgres';
import {
  describeExit,
  isPortFree,
  Restarting,
  startProcess,
  stopProcess,
  type Supervised,
} from './processes';
import { type ClusterPorts, conventionalPorts, startTemporalCluster } from './temporal-cluster';
import { ensureTemporalServer, ensureToolchain } from './toolchain';

const say = (message: string): void => console.log(`[swoosh dev] ${message}`);

let cluster: boolean;
try {
  ({
    values: { cluster },
  } = parseArgs({ args: process.argv.slice(2), options: { cluster: { type: 'boolean', default: false } } }));
} catch (error) {
  console.error(`[swoosh dev] ${(error as Error).message}\nusage: npm run dev [-- --cluster]`);
  process.exit(2);
}

const config = loadConfig();
const temporalPort = Number(config.SWOOSH_TEMPORAL_ADDRESS.split(':').pop());
const uiPort = config.SWOOSH_UI_PORT;
const gatewayPort = config.SWOOSH_GATEWAY_PORT;
const metricsAddress = loadTelemetryConfig().SWOOSH_METRICS_ADDRESS;
let clusterPorts: ClusterPorts | undefined;
try {
  clusterPorts = cluster ? conventionalPorts(temporalPort) : undefined;
} catch (error) {
  console.error(`[swoosh dev] ${(error as Error).message}`);
  process.exit(1);
}

// The cluster serves no Web UI; its other services take ports beside the frontend's.
const temporalPorts: [number, string][] = clusterPorts
  ? Object.entries(clusterPorts).flatMap(([service, p]) =>
      [p.grpc, p.membership].map((port): [number, string] => [
        port,
        port === temporalPort
          ? 'SWOOSH_TEMPORAL_ADDRESS'
          : `SWOOSH_TEMPORAL_ADDRESS (the cluster's ${service} service uses a port beside it)`,
      ]),
    )
  : [
      [temporalPort, 'SWOOSH_TEMPORAL_ADDRESS'],
      [uiPort, 'SWOOSH_UI_PORT'],
    ];
const ports: [number, string][] = [
  ...temporalPorts,
  [gatewayPort, 'SWOOSH_GATEWAY_PORT'],
  ...(metricsAddress === 'off'
    ? []
    : [[Number(metricsAddress.split(':').pop()), 'SWOOSH_METRICS_ADDRESS'] as [number, string]]),
];
for (const [port, variable] of ports) {
  if (!(await isPortFree(port))) {
    console.error(`[swoosh dev] port ${port} is already in use; stop what holds it or set ${variable}.`);
    process.exit(1);
  }
}

/** What runs so far: filled in as startup goes on. */
const running: {
  postgres?: PostgresServer;
  temporal?: Supervised;
  worker?: Restarting;
  gateway?: Restarting;
} = {};
let stopping = false;
/**
 * Idempotent: a terminal delivers Ctrl-C to npm, tsx and us, so several signals arrive at once.
 * Handled from the start, so a Ctrl-C while the toolchain builds or the server starts stops what
 * is already running (each child is in its own process group and would outlive us).
 */
async function stopAll(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(`stopping gateway, worker, then the Temporal ${cluster ? 'server and PostgreSQL' : 'dev server'} ...`);
  await running.gateway?.stop();
  await running.worker?.stop();
  if (running.temporal) await stopProcess(running.temporal, cluster ? 30_000 : undefined);
  await running.postgres?.stop();
  say('stopped.');
  process.exit(exitCode);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
/** Parks a startup step that finished after Ctrl-C: stopAll exits the process. */
const interrupted = (): Promise<never> => new Promise<never>(() => undefined);

const dataDir = resolveDataDir();
mkdirSync(dataDir, { recursive: true });
const server = clusterPorts ? await startCluster(clusterPorts) : await startDevServerHere();
// Without Temporal neither the worker nor the gateway can do anything: stop them too.
void server.exited.then(() => {
  if (stopping) return;
  console.error(
    `[swoosh dev] the Temporal server exited with ${describeExit(server.child)}; stopping the rest.`,
  );
  void stopAll(1);
});

async function startDevServerHere(): Promise<Supervised> {
  const { temporalCli } = await ensureToolchain();
  if (stopping) await interrupted();
  const dbFile = join(dataDir, 'temporal', 'temporal.db');
  say(`starting the Temporal dev server (data: ${dbFile})`);
  return startDevServer(
    { cli: temporalCli, port: temporalPort, uiPort, dbFile, namespace: config.SWOOSH_NAMESPACE },
    (spawned) => (running.temporal = spawned),
  );
}

/** PostgreSQL and the Temporal server, both keeping their files under the data folder. */
async function startCluster(ports: ClusterPorts): Promise<Supervised> {
  try {
    const binaries = await ensureTemporalServer();
    if (stopping) await interrupted();
    const folder = join(dataDir, 'temporal-cluster');
    say(`starting PostgreSQL (data: ${join(folder, 'postgres')})`);
    const postgres = await startPostgresServer(join(folder, 'postgres'));
    running.postgres = postgres;
    void postgres.exited.then(() => {
      if (stopping) return;
      console.error('[swoosh dev] PostgreSQL exited; stopping the rest.');
      void stopAll(1);
    });
    if (stopping) await interrupted();
    say(
      `starting the Temporal server on PostgreSQL 127.0.0.1:${postgres.port} (log: ${join(folder, 'server', 'temporal-server.log')})`,
    );
    const started = await startTemporalCluster(
      {
        binaries,
        folder: join(folder, 'server'),
        postgres: {
          host: postgres.host,
          port: postgres.port,
          role: postgres.role,
          binaries: postgres.binaries,
        },
        ports,
        namespace: config.SWOOSH_NAMESPACE,
      },
      (spawned) => (running.temporal = spawned),
    );
    return started.server;
  } catch (error) {
    if (stopping) return interrupted();
    console.error(`[swoosh dev] the cluster did not start: ${(error as Error).message}`);
    await stopAll(1);
    return interrupted();
  }
}

// Development bearer tokens, one per role, created once (mode 0600); only the path is ever printed.
const tokens = await ensureDevTokens(config.SWOOSH_GATEWAY_TOKENS_FILE ?? defaultTokensFile(dataDir));
if (stopping) await interrupted();

const tsx = (entry: string): string[] => ['--import', 'tsx', entry];
running.worker = new Restarting(
  'worker',
  // Development mode: the worker may issue itself a development licence when none is configured.
  () =>
    startProcess('worker', process.execPath, tsx('workers/main.ts'), {
      env: { ...process.env, SWOOSH_DEV_LICENCE: process.env.SWOOSH_DEV_LICENCE ?? 'true' },
    }),
  say,
);
running.gateway = new Restarting(
  'gateway',
  () => startProcess('gateway', process.execPath, tsx('api/main.ts')),
  say,
);

const gateway = `http://${config.SWOOSH_GATEWAY_HOST}:${gatewayPort}`;
say(`Temporal gRPC  ${config.SWOOSH_TEMPORAL_ADDRESS}  (namespace ${config.SWOOSH_NAMESPACE})`);
if (cluster)
  say(
    'Temporal on PostgreSQL: no Web UI (it comes with the dev server); try npm run temporal:cli -- workflow list',
  );
else say(`Temporal Web UI http://127.0.0.1:${uiPort}/namespaces/${config.SWOOSH_NAMESPACE}/workflows`);
say(`REST gateway   ${gateway}  (API docs: ${gateway}/docs)`);
if (metricsAddress !== 'off') say(`worker metrics http://${metricsAddress}/metrics`);
say(`gateway tokens ${tokens.path}${tokens.created ? ' (created now)' : ''}: one bearer token per role`);
say(
  `try: curl -s ${gateway}/missions -H "authorization: Bearer $(node -p "require('${tokens.path}').tokens[0].token")"  (see README)`,
);
say('Ctrl-C stops everything; a crashed worker or gateway is restarted.');
