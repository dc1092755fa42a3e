/**
 * `npm run temporal`: the Temporal dev server alone, configured as `npm run dev` starts it (same
 * address, Web UI port, namespace, search attributes and database in the data folder), for running
 * `npm run worker` and `npm run gateway` as separate processes. Ctrl-C stops it.
 */
import { join } from 'node:path';
import { loadConfig } from '../schemas/config';
import { resolveDataDir } from '../host/data-dir';
import { startDevServer } from './dev-server';
import { describeExit, isPortFree, stopProcess } from './processes';
import { ensureTemporalCli } from './toolchain';

const say = (message: string): void => console.log(`[swoosh temporal] ${message}`);

const config = loadConfig();
const port = Number(config.SWOOSH_TEMPORAL_ADDRESS.split(':').pop());
for (const [p, variable] of [
  [port, 'SWOOSH_TEMPORAL_ADDRESS'],
  [config.SWOOSH_UI_PORT, 'SWOOSH_UI_PORT'],
] as const) {
  if (!(await isPortFree(p))) {
    console.error(`[swoosh temporal] port ${p} is already in use; stop what holds it or set ${variable}.`);
    process.exit(1);
  }
}

const dbFile = join(resolveDataDir(), 'temporal', 'temporal.db');
say(`starting the Temporal dev server (data: ${dbFile})`);
const server = await startDevServer({
  cli: await ensureTemporalCli(),
  port,
  uiPort: config.SWOOSH_UI_PORT,
  dbFile,
  namespace: config.SWOOSH_NAMESPACE,
});
say(
  `Temporal gRPC   ${config.SWOOSH_TEMPORAL_ADDRESS}  (namespace ${config.SWOOSH_NAMESPACE}, pid ${server.child.pid})`,
);
say(
  `Temporal Web UI http://127.0.0.1:${config.SWOOSH_UI_PORT}/namespaces/${config.SWOOSH_NAMESPACE}/workflows`,
);
say(
  'now `SWOOSH_DEV_LICENCE=true npm run worker` (or with SWOOSH_LICENCE_* set) and `npm run gateway` in other terminals; Ctrl-C stops the server.',
);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await stopProcess(server);
  say('stopped.');
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
void server.exited.then(() => {
  if (stopping) return;
  console.error(`[swoosh temporal] the dev server exited with ${describeExit(server.child)}.`);
  process.exit(1);
});
