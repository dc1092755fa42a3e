/** Child-process supervision for the local toolchain: start, wait for readiness, stop by pid. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';

export interface Supervised {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Runs a program to its end with its output on ours; rejects naming the command when it fails. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (err) => reject(new Error(`could not start ${command}: ${err.message}`)));
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}`)),
    );
  });
}

/** How a child ended, for a person: `code 1` or `signal SIGKILL`. */
export function describeExit(child: ChildProcess): string {
  return child.signalCode !== null ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
}

/**
 * Starts a child in its own process group, so a terminal Ctrl-C reaches only the supervisor,
 * which then stops the children in order (gateway and worker before the Temporal server).
 */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    quiet?: boolean;
    /** An open file both output streams go to, instead of ours. */
    outputFd?: number;
  } = {},
): Supervised {
  const stdout = options.outputFd ?? (options.quiet ? 'ignore' : 'inherit');
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', stdout, options.outputFd ?? 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', (err) => {
      console.error(`[swoosh dev] could not start ${name}: ${err.message}`);
      resolve(-1);
    });
  });
  return { name, child, exited };
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
export async function stopProcess(proc: Supervised, graceMs = 15_000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    console.error(`[swoosh dev] ${proc.name} did not stop in ${graceMs / 1000} s; killing it`);
    proc.child.kill('SIGKILL');
  }, graceMs);
  await proc.exited;
  clearTimeout(timer);
}

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

export async function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await isPortFree(port, host))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs / 1000} s`);
}

/** A port that was free a moment ago on loopback; the caller binds it promptly. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Whether `port` can be listened on at the moment, on loopback. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port in [min, max] that was free a moment ago on loopback, tried at random. */
export async function freePortIn(min: number, max: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = min + Math.floor(Math.random() * (max - min + 1));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${min} and ${max}`);
}

/** Restart delays: doubling from `firstMs` to `maxMs`; back to `firstMs` after a run of `stableMs`. */
export interface RestartPolicy {
  firstMs: number;
  maxMs: number;
  stableMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = { firstMs: 1_000, maxMs: 30_000, stableMs: 60_000 };

/**
 * A child that is started again whenever it ends, with a growing delay while it keeps crashing, so
 * a crashed worker comes back by itself while the processes beside it keep running. `stop` ends the
 * current child (and any pending restart) for good.
 */
export class Restarting {
  readonly name: string;
  #current: Supervised;
  #startedAt = Date.now();
  #delayMs: number;
  #restarts = 0;
  #pending: NodeJS.Timeout | undefined;
  #stopping = false;
  readonly #start: () => Supervised;
  readonly #say: (line: string) => void;
  readonly #policy: RestartPolicy;

  constructor(
    name: string,
    start: () => Supervised,
    say: (line: string) => void,
    policy: RestartPolicy = DEFAULT_RESTART,
  ) {
    this.name = name;
    this.#start = start;
    this.#say = say;
    this.#policy = policy;
    this.#delayMs = policy.firstMs;
    this.#current = this.#launch('started');
  }

  get pid(): number | undefined {
    return this.#current.child.pid;
  }

  #launch(what: 'started' | 'restarted'): Supervised {
    const proc = this.#start();
    this.#startedAt = Date.now();
    this.#say(`${this.name} ${what} (pid ${proc.child.pid})`);
    void proc.exited.then(() => this.#onExit(proc));
    return proc;
  }

  #onExit(proc: Supervised): void {
    if (this.#stopping) return;
    if (Date.now() - this.#startedAt >= this.#policy.stableMs) this.#delayMs = this.#policy.firstMs;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(this.#policy.maxMs, this.#delayMs * 2);
    this.#restarts++;
    this.#say(
      `${this.name} (pid ${proc.child.pid}) crashed with ${describeExit(proc.child)}; ` +
        `restarting it in ${delay / 1000} s (restart ${this.#restarts}).`,
    );
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      if (this.#stopping) return;
      this.#current = this.#launch('restarted');
    }, delay);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#pending);
    await stopProcess(this.#current);
  }
}
