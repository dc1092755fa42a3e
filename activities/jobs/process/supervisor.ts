/**
 * The local run supervisor: what the kubelet is to a Job's pod, this program is to a local run.
 * The runner starts it detached (`node --import tsx supervisor.ts <job dir>`), so it outlives a
 * crashed or restarted worker, and it alone:
 *
 * - starts the agent in its own process group with the contract environment, retrying up to
 *   `backoffLimit` times within one `activeDeadlineSeconds`;
 * - captures the agent's output into a log that rotates to stay under the size cap;
 * - stops the agent's whole process group at the deadline or on SIGTERM/SIGINT: SIGTERM, then
 *   SIGKILL after the grace period; and kills what an exited agent left behind in its group;
 * - settles the run in `exit.json`, which any worker can read later.
 *
 * If the supervisor itself is killed, the agent's output pipes close and a worker that finds the
 * supervisor gone settles the run as failed and kills the group (see ProcessJobRunner).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { exitCodeForSignal, identify, signalGroup } from './processes';
import {
  type ExitFile,
  files,
  JobFile,
  type ProcessIdentity,
  readRecord,
  settle,
  writeRecord,
} from './state';

type StopReason = 'cancelled' | 'timed-out';

/**
 * Output kept in two halves, `log.0` (older) and `log` (newer), each at most half the cap: the
 * newest output always survives, and disk use never exceeds the cap however much an agent writes.
 */
class RotatingLog {
  #fd: number;
  #size: number;
  readonly #half: number;

  constructor(
    private readonly dir: string,
    limitBytes: number,
  ) {
    this.#half = Math.max(1, Math.floor(limitBytes / 2));
    const path = join(dir, files.log);
    this.#fd = openSync(path, 'a', 0o600);
    this.#size = statSync(path).size;
  }

  write(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.#size >= this.#half) this.#rotate();
      const room = this.#half - this.#size;
      const part = rest.subarray(0, room);
      writeSync(this.#fd, part);
      this.#size += part.length;
      rest = rest.subarray(part.length);
    }
  }

  note(line: string): void {
    this.write(Buffer.from(`[swoosh] ${line}\n`));
  }

  close(): void {
    closeSync(this.#fd);
  }

  #rotate(): void {
    closeSync(this.#fd);
    const previous = join(this.dir, files.previousLog);
    // Rotating over an existing log.0 drops its bytes: remember that the log is no longer whole.
    if (existsSync(previous)) writeFileSync(join(this.dir, files.logDropped), '', { mode: 0o600 });
    renameSync(join(this.dir, files.log), previous);
    this.#fd = openSync(join(this.dir, files.log), 'a', 0o600);
    this.#size = 0;
  }
}

interface AttemptEnd {
  exitCode?: number;
  reason?: string;
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: supervisor.ts <job dir>');
  process.exit(2);
}

const job = await readRecord(dir, files.job, JobFile);
if (!job) {
  console.error(`no ${files.job} in ${dir}`);
  process.exit(2);
}
const plan = job.launch;
await writeRecord(dir, files.shim, identify(process.pid));

const log = new RotatingLog(dir, plan.logLimitBytes);
// Declared through `as` so control flow does not pin them to undefined: signal handlers set them.
let stopping = undefined as StopReason | undefined;
let current = undefined as ProcessIdentity | undefined;
let killTimer: NodeJS.Timeout | undefined;

function stop(reason: StopReason): void {
  if (stopping) return;
  stopping = reason;
  log.note(reason === 'timed-out' ? `deadline of ${plan.activeDeadlineSeconds}s reached` : 'stop requested');
  const agent = current;
  if (!agent) return;
  signalGroup(agent, 'SIGTERM');
  killTimer = setTimeout(() => signalGroup(agent, 'SIGKILL'), plan.terminationGraceSeconds * 1000);
}

process.on('SIGTERM', () => stop('cancelled'));
process.on('SIGINT', () => stop('cancelled'));
// A closed terminal must not take the run down; only the worker or the deadline stops it.
process.on('SIGHUP', () => undefined);

async function runAttempt(attempt: number, runStartedAt: string): Promise<AttemptEnd> {
  const [command, ...args] = plan.argv as [string, ...string[]];
  const child = spawn(command, args, {
    cwd: plan.cwd,
    env: plan.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const leader = child.pid ? identify(child.pid) : undefined;
  current = leader;
  child.stdout.on('data', (chunk: Buffer) => log.write(chunk));
  child.stderr.on('data', (chunk: Buffer) => log.write(chunk));
  const ended = new Promise<AttemptEnd>((resolve) => {
    let end: AttemptEnd | undefined;
    child.once('error', (error) => {
      log.note(`could not start ${command}: ${error.message}`);
      resolve({ exitCode: 127, reason: 'StartError' });
    });
    child.once('exit', (code, signal) => {
      // Like a container's end: whatever the agent left running in its group goes with it.
      if (leader) signalGroup(leader, 'SIGKILL');
      end = signal
        ? { exitCode: exitCodeForSignal(signal), reason: signal }
        : { exitCode: code ?? undefined };
    });
    // Resolve once the output is drained, so the log is complete before the run is settled.
    child.once('close', () => {
      if (end) resolve(end);
    });
  });
  if (leader) await writeRecord(dir as string, files.agent, { ...leader, attempt, runStartedAt });
  const end = await ended;
  current = undefined;
  return end;
}

const runStartedAt = new Date().toISOString();
const deadline = setTimeout(() => stop('timed-out'), plan.activeDeadlineSeconds * 1000);
let last: AttemptEnd = {};
for (let attempt = 0; attempt <= plan.backoffLimit && !stopping; attempt++) {
  if (attempt > 0) log.note(`attempt ${attempt} of ${plan.backoffLimit} after exit code ${last.exitCode}`);
  last = await runAttempt(attempt, runStartedAt);
  if (last.exitCode === 0) break;
}
clearTimeout(deadline);
clearTimeout(killTimer);

const exit: ExitFile = {
  outcome: stopping ?? (last.exitCode === 0 ? 'succeeded' : 'failed'),
  exitCode: last.exitCode,
  reason: stopping === 'timed-out' ? 'DeadlineExceeded' : last.reason,
  startedAt: runStartedAt,
  finishedAt: new Date().toISOString(),
};
log.note(`run ${exit.outcome}${exit.exitCode === undefined ? '' : ` with exit code ${exit.exitCode}`}`);
log.close();
await settle(dir, exit);
process.exit(0);
