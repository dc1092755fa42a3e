/**
 * `npm run temporal:cli -- <args>`: the project's Temporal CLI (the one `npm run dev` uses, from
 * the toolchain cache) pointed at SWOOSH's Temporal service, so `temporal workflow list …` and the
 * other CLI commands work without a `temporal` on PATH. The address and namespace come from
 * SWOOSH_TEMPORAL_ADDRESS and SWOOSH_NAMESPACE; TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE or the
 * `--address`/`--namespace` flags still win.
 */
import { spawn } from 'node:child_process';
import { loadConfig } from '../schemas/config';
import { ensureTemporalCli } from './toolchain';

const config = loadConfig();
const cli = await ensureTemporalCli();
const child = spawn(cli, process.argv.slice(2), {
  stdio: 'inherit',
  env: {
    ...process.env,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS ?? config.SWOOSH_TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? config.SWOOSH_NAMESPACE,
  },
});
// Ctrl-C reaches the CLI too (same process group); wait for it to end and pass its status on.
process.on('SIGINT', () => undefined);
child.on('error', (err) => {
  console.error(`[swoosh] could not run ${cli}: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
