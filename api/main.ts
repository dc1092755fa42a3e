/** Gateway process: serves the REST API until SIGINT/SIGTERM, then drains and closes cleanly. */
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../schemas/config';
import { createApp } from './app';

const config = loadConfig();
const connection = await Connection.connect({ address: config.SWOOSH_TEMPORAL_ADDRESS });
const client = new Client({ connection, namespace: config.SWOOSH_NAMESPACE });
const app = createApp({ client, taskQueue: config.SWOOSH_TASK_QUEUE });

const server = app.listen(config.SWOOSH_GATEWAY_PORT, config.SWOOSH_GATEWAY_HOST, () => {
  console.log(
    `[swoosh gateway] listening on http://${config.SWOOSH_GATEWAY_HOST}:${config.SWOOSH_GATEWAY_PORT}`,
  );
});
server.on('error', (err) => {
  console.error(`[swoosh gateway] cannot listen: ${err.message}`);
  process.exit(1);
});

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  console.log(`[swoosh gateway] ${signal}: finishing in-flight requests`);
  // close() stops accepting and waits for in-flight requests; idle keep-alive sockets would hold it open.
  server.close(() => {
    connection.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  server.closeIdleConnections();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
