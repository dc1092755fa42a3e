/**
 * A tiny real agent for the job runner tests. It follows the agent contract (identity and
 * inputs in SWOOSH_* variables), prints what it received, and behaves as its inputs say:
 *
 * - `sleepMs`: how long to work before exiting (default 0);
 * - `exitCode`: what to exit with (default 0);
 * - `ignoreSigterm`: keep running on SIGTERM, so only SIGKILL stops it;
 * - `grandchild`: start a `sleep` in its process group, to prove a whole tree is stopped;
 * - `floodBytes`: write this many bytes of filler output first, ending in a marker line.
 *
 * Every line it prints names its pid, so tests can tell one run (or a rerun) from another.
 */
import { spawn } from 'node:child_process';
import { z } from 'zod';

const Inputs = z.object({
  sleepMs: z.int().nonnegative().default(0),
  exitCode: z.int().min(0).max(255).default(0),
  ignoreSigterm: z.boolean().default(false),
  grandchild: z.boolean().default(false),
  floodBytes: z.int().nonnegative().default(0),
});

const inputs = Inputs.parse(JSON.parse(process.env.SWOOSH_INPUTS ?? '{}'));
const say = (line: string): void => void process.stdout.write(`echo-agent[${process.pid}] ${line}\n`);

say(`started job=${process.env.SWOOSH_JOB_NAME} mission=${process.env.SWOOSH_MISSION_ID}`);
say(
  `window=${process.env.SWOOSH_WINDOW_ID} role=${process.env.SWOOSH_AGENT_ROLE} workdir=${process.env.SWOOSH_WORKDIR}`,
);
say(`inputs=${process.env.SWOOSH_INPUTS}`);
say(`env-keys=${Object.keys(process.env).sort().join(',')}`);

if (inputs.ignoreSigterm) process.on('SIGTERM', () => say('SIGTERM ignored'));
else process.on('SIGTERM', () => (say('SIGTERM: stopping'), process.exit(143)));

if (inputs.grandchild) {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  say(`grandchild pid=${child.pid}`);
}

if (inputs.floodBytes > 0) {
  const line = `${'x'.repeat(99)}\n`;
  for (let written = 0; written < inputs.floodBytes; written += line.length) process.stdout.write(line);
  say('flood done');
}

setTimeout(() => {
  say(`finished exit=${inputs.exitCode}`);
  process.exitCode = inputs.exitCode;
  // Exit explicitly: a grandchild or a SIGTERM handler must not keep this process alive.
  process.stdout.write('', () => process.exit(inputs.exitCode));
}, inputs.sleepMs);
