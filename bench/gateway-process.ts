/**
 * The gateway under benchmark as its own process (`api/main.ts`, as `npm run gateway` runs it)
 * with a tokens file, as in a deployment, against a gateway fixture's Temporal and data folder.
 * Stopping it sends SIGTERM and answers the exit code, which a graceful stop makes 0.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from '../schemas/auth';
import { freePort, waitForPort } from '../temporal-dev/processes';
import type { GatewayFixture } from '../tests/gateway/support/gateway';

export interface GatewayProcess {
  url: string;
  stop(): Promise<number | null>;
}

export async function startGatewayProcess(fx: GatewayFixture, roles: Role[]): Promise<GatewayProcess> {
  const tokensFile = join(fx.dataDir, 'bench-tokens.json');
  const tokens = roles.map((role) => ({ name: `bench-${role}`, role, token: fx.tokens[role] }));
  writeFileSync(tokensFile, JSON.stringify({ tokens }), { mode: 0o600 });
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
    env: {
      ...process.env,
      SWOOSH_TEMPORAL_ADDRESS: fx.env.address,
      SWOOSH_TASK_QUEUE: fx.taskQueue,
      SWOOSH_DATA_DIR: fx.dataDir,
      SWOOSH_GATEWAY_TOKENS_FILE: tokensFile,
      SWOOSH_GATEWAY_HOST: '127.0.0.1',
      SWOOSH_GATEWAY_PORT: String(port),
    },
    // Access logs (one line per request) would only slow the terminal; errors still show.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    child.kill('SIGTERM');
    return exited;
  };
  try {
    await waitForPort(port, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, stop };
}
