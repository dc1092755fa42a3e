/** Gateway process: serves the REST API until SIGINT/SIGTERM, then drains and closes cleanly. */
import { Client, Connection } from '@temporalio/client';
import { defaultPolicyFile, resolveDataDir } from '../host/data-dir';
import { loadConfig } from '../schemas/config';
import { clientTracingInterceptors, startTracing } from '../host/tracing';
import { createGateway } from './app';
import { Authenticator, defaultTokensFile } from './auth';
import { startGateway } from './server';

const say = (message: string): void => console.log(`[swoosh gateway] ${message}`);

// Whatever this process writes under the data folder is its own user's alone (0600/0700).
process.umask(0o077);
const config = loadConfig();
const dataDir = resolveDataDir();
const tokensFile = config.SWOOSH_GATEWAY_TOKENS_FILE ?? defaultTokensFile(dataDir);
let auth: Authenticator;
try {
  auth = await Authenticator.fromFile(tokensFile);
} catch (error) {
  console.error(`[swoosh gateway] ${(error as Error).message}`);
  process.exit(1);
}
// Before the client: its interceptor carries each request's span into the workflow's headers.
const tracing = startTracing({ serviceName: 'swoosh-gateway' });
const connection = await Connection.connect({ address: config.SWOOSH_TEMPORAL_ADDRESS });
const client = new Client({
  connection,
  namespace: config.SWOOSH_NAMESPACE,
  interceptors: clientTracingInterceptors(tracing),
});
const gateway = createGateway({
  client,
  taskQueue: config.SWOOSH_TASK_QUEUE,
  auth,
  dataDir,
  maxStreams: config.SWOOSH_GATEWAY_MAX_STREAMS,
  ownerKeys: config.SWOOSH_OWNER_KEYS,
  ownerQuorum: config.SWOOSH_OWNER_QUORUM,
  policyFile: process.env.SWOOSH_POLICY_FILE?.trim() || defaultPolicyFile,
});

let running;
try {
  running = await startGateway(gateway, {
    host: config.SWOOSH_GATEWAY_HOST,
    port: config.SWOOSH_GATEWAY_PORT,
    graceMs: config.SWOOSH_GATEWAY_SHUTDOWN_MS,
    onClosed: async () => {
      await connection.close();
      await tracing.shutdown();
    },
  });
} catch (error) {
  console.error(`[swoosh gateway] cannot listen: ${(error as Error).message}`);
  await connection.close();
  process.exit(1);
}
say(`listening on ${running.url} (tokens: ${tokensFile})`);

const gatewayRunning = running;
let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  say(`${signal}: finishing in-flight requests`);
  gatewayRunning.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
