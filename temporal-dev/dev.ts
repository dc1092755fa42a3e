/**
 * `npm run dev`: the whole system on one machine. Ensures the toolchain, starts the Temporal dev
 * server (data kept in the data folder), a worker and the REST gateway, prints where to find
 * them, and on Ctrl-C stops everything it started, gateway and worker first. A worker or gateway
 * that dies is started again (with backoff) while the rest keeps running: missions are durable in
 * Temporal and carry on once a worker polls again. Only a dead Temporal server stops the rest.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../schemas/config';
import { loadTelemetryConfig } from '../schemas/telemetry-config';
import { resolveDataDir } from '../host/data-dir';
import { defaultTokensFile, ensureDevTokens } from '../api/auth';
import { startDevServer } from './dev-server';
import {
  describeExit,
  isPortFree,
  Restarting,
  startProcess,
  stopProcess,
  type Supervised,
} from './processes';
import { ensureToolchain } from './toolchain';

const say = (message: string): void => console.log(`[swoosh dev] ${message}`);

const config = loadConfig();
const temporalPort = Number(config.SWOOSH_TEMPORAL_ADDRESS.split(':').pop());
const uiPort = config.SWOOSH_UI_PORT;
const gatewayPort = config.SWOOSH_GATEWAY_PORT;
const metricsAddress = loadTelemetryConfig().SWOOSH_METRICS_ADDRESS;

const ports: [number, string][] = [
  [temporalPort, 'SWOOSH_TEMPORAL_ADDRESS'],
  [uiPort, 'SWOOSH_UI_PORT'],
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
const running: { temporal?: Supervised; worker?: Restarting; gateway?: Restarting } = {};
let stopping = false;
/**
 * Idempotent: a terminal delivers Ctrl-C to npm, tsx and us, so several signals arrive at once.
 * Handled from the start, so a Ctrl-C while the toolchain builds or the server starts stops what
 * is already running (each child is in its own process group and would outlive us).
 */
async function stopAll(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping gateway, worker, then the Temporal dev server ...');
  await running.gateway?.stop();
  await running.worker?.stop();
  if (running.temporal) await stopProcess(running.temporal);
  say('stopped.');
  process.exit(exitCode);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
/** Parks a startup step that finished after Ctrl-C: stopAll exits the process. */
const interrupted = (): Promise<never> => new Promise<never>(() => undefined);

const { temporalCli } = await ensureToolchain();
if (stopping) await interrupted();
const dataDir = resolveDataDir();
mkdirSync(dataDir, { recursive: true });
const dbFile = join(dataDir, 'temporal', 'temporal.db');
say(`starting the Temporal dev server (data: ${dbFile})`);
const server = await startDevServer(
  { cli: temporalCli, port: temporalPort, uiPort, dbFile, namespace: config.SWOOSH_NAMESPACE },
  (spawned) => (running.temporal = spawned),
);
// Without Temporal neither the worker nor the gateway can do anything: stop them too.
void server.exited.then(() => {
  if (stopping) return;
  console.error(
    `[swoosh dev] the Temporal dev server exited with ${describeExit(server.child)}; stopping the rest.`,
  );
  void stopAll(1);
});

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
say(`Temporal Web UI http://127.0.0.1:${uiPort}/namespaces/${config.SWOOSH_NAMESPACE}/workflows`);
say(`REST gateway   ${gateway}  (API docs: ${gateway}/docs)`);
if (metricsAddress !== 'off') say(`worker metrics http://${metricsAddress}/metrics`);
say(`gateway tokens ${tokens.path}${tokens.created ? ' (created now)' : ''}: one bearer token per role`);
say(
  `try: curl -s ${gateway}/missions -H "authorization: Bearer $(node -p "require('${tokens.path}').tokens[0].token")"  (see README)`,
);
say('Ctrl-C stops everything; a crashed worker or gateway is restarted.');
