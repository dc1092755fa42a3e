/**
 * The embedded `process` backend: runs an agent's command as a local child process with the
 * same contract as a Kubernetes Job — inputs and identity in the environment, deadline, grace
 * period, retries (`backoffLimit`), log capture and deletion of the whole process tree.
 *
 * Each run gets a supervisor process (./supervisor.ts) that is detached from the worker, and a
 * state folder under the data folder (./state.ts). The worker only reads that folder and sends
 * signals, so a worker that crashes and restarts finds every run again by its name: it follows
 * one that still runs and settles, then reaps, one whose supervisor died.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentJobSpec, JobOwner } from '../../../schemas/agent-job';
import { appRoot } from '../../../host/data-dir';
import { agentEnvironment } from '../contract';
import { readEnvReferences } from '../env';
import {
  type FollowOptions,
  type JobFinish,
  type JobLogs,
  JobNameConflictError,
  JobNotFoundError,
  type JobRunner,
  type JobStatus,
  jobMeta,
  pause,
  sameOwner,
  tailBytes,
} from '../runner';
import { groupMembers, isRunning, signalGroup, signalProcess, waitUntil } from './processes';
import {
  AgentFile,
  ExitFile,
  files,
  isCode,
  JobFile,
  jobsRoot,
  listJobDirs,
  ProcessIdentity,
  readRecord,
  settle,
  writeRecord,
} from './state';

const supervisorPath = fileURLToPath(new URL('./supervisor.ts', import.meta.url));

export interface ProcessJobRunnerOptions {
  /** The SWOOSH data folder; runs live in `<dataDir>/agent-jobs/`. */
  dataDir: string;
  /** Bytes of agent output kept on disk per run (default 8 MiB). */
  logLimitBytes?: number;
  /** How often a followed run is looked at (default 500 ms). */
  pollIntervalMs?: number;
  /**
   * How long a supervisor may take to announce itself before its run counts as never started
   * (default 30 s; it runs TypeScript through tsx, which is slow to start on a busy machine).
   */
  supervisorStartMs?: number;
  /** Host variables passed to agents besides the contract (default PATH only: no worker secrets). */
  passEnv?: string[];
  /** Where `envFrom` references are read (default `<dataDir>/agent-secrets`; docs/agents.md#environment). */
  secretsDir?: string;
}

export class ProcessJobRunner implements JobRunner {
  readonly backend = 'process' as const;
  readonly #root: string;
  readonly #logLimitBytes: number;
  readonly #pollIntervalMs: number;
  readonly #supervisorStartMs: number;
  readonly #passEnv: string[];
  readonly #secretsDir: string;

  constructor(options: ProcessJobRunnerOptions) {
    this.#root = jobsRoot(options.dataDir);
    this.#logLimitBytes = options.logLimitBytes ?? 8 * 1024 * 1024;
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    this.#supervisorStartMs = options.supervisorStartMs ?? 30_000;
    this.#passEnv = options.passEnv ?? ['PATH'];
    this.#secretsDir = options.secretsDir ?? join(options.dataDir, 'agent-secrets');
  }

  async spawn(name: string, spec: AgentJobSpec, owner: JobOwner): Promise<{ created: boolean }> {
    // Before anything is created: a reference that cannot be read starts nothing.
    const resolved = await readEnvReferences(spec.envFrom, this.#secretsDir);
    const dir = this.#dir(name);
    await mkdir(this.#root, { recursive: true, mode: 0o700 });
    try {
      // The exclusive mkdir decides which attempt launches the run; a retry finds it here.
      await mkdir(dir, { mode: 0o700 });
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
      const existing = await readRecord(dir, files.job, JobFile);
      if (existing) {
        if (!sameOwner(existing.meta.owner, owner)) throw new JobNameConflictError(name, existing.meta.owner);
        return { created: false };
      }
      // A folder without job.json: an attempt crashed before launching anything. Start afresh.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { mode: 0o700 });
    }

    const workdir = join(dir, files.work);
    const tmpdir = join(dir, files.tmp);
    await mkdir(workdir, { mode: 0o700 });
    await mkdir(tmpdir, { mode: 0o700 });
    const hostEnv = Object.fromEntries(
      this.#passEnv.flatMap((key) => (process.env[key] === undefined ? [] : [[key, process.env[key]]])),
    ) as Record<string, string>;
    const job: JobFile = {
      name,
      createdAt: new Date().toISOString(),
      meta: jobMeta(spec, owner),
      launch: {
        argv: [...spec.command, ...spec.args],
        env: { ...hostEnv, ...agentEnvironment(spec, name, { workdir, tmpdir }, resolved) },
        // Relative paths in a declaration name the same files as in SWOOSH's image (its WORKDIR).
        cwd: appRoot,
        activeDeadlineSeconds: spec.timeouts.activeDeadlineSeconds,
        terminationGraceSeconds: spec.timeouts.terminationGraceSeconds,
        backoffLimit: spec.backoffLimit,
        logLimitBytes: this.#logLimitBytes,
      },
    };
    // 0600: the launch plan holds the agent's environment, which may carry credentials.
    await writeRecord(dir, files.job, job, 0o600);
    await this.#startSupervisor(dir);
    return { created: true };
  }

  async status(name: string): Promise<JobStatus | undefined> {
    const dir = this.#dir(name);
    const job = await readRecord(dir, files.job, JobFile);
    if (!job) return undefined;
    const agent = await readRecord(dir, files.agent, AgentFile);
    let exit = await readRecord(dir, files.exit, ExitFile);
    if (!exit) exit = await this.#settleIfSupervisorGone(dir, job, agent);
    return {
      name,
      meta: job.meta,
      createdAt: job.createdAt,
      startedAt: exit?.startedAt ?? agent?.runStartedAt,
      finish: exit && {
        outcome: exit.outcome,
        exitCode: exit.exitCode,
        reason: exit.reason,
        finishedAt: exit.finishedAt,
      },
      exported: await exists(join(dir, files.exported)),
    };
  }

  async follow(name: string, options: FollowOptions): Promise<JobStatus & { finish: JobFinish }> {
    for (;;) {
      options.signal.throwIfAborted();
      const status = await this.status(name);
      if (!status) throw new JobNotFoundError(name);
      if (status.finish) return { ...status, finish: status.finish };
      options.onProgress({ state: status.startedAt ? 'running' : 'pending', startedAt: status.startedAt });
      await pause(this.#pollIntervalMs, options.signal);
    }
  }

  async logs(name: string, maxBytes: number): Promise<JobLogs> {
    const dir = this.#dir(name);
    const [older, newer] = await Promise.all([
      readText(join(dir, files.previousLog)),
      readText(join(dir, files.log)),
    ]);
    const logs = tailBytes(older + newer, maxBytes);
    return { ...logs, truncated: logs.truncated || (await exists(join(dir, files.logDropped))) };
  }

  async markExported(name: string): Promise<void> {
    await writeFile(join(this.#dir(name), files.exported), '', { mode: 0o600 });
  }

  async delete(name: string): Promise<void> {
    const dir = this.#dir(name);
    const job = await readRecord(dir, files.job, JobFile);
    if (job) {
      const shim = await readRecord(dir, files.shim, ProcessIdentity);
      // Ask the supervisor first: it stops the agent gracefully and records the end.
      if (shim && signalProcess(shim, 'SIGTERM')) {
        const graceMs = (job.launch.terminationGraceSeconds + 5) * 1000;
        if (!(await waitUntil(() => !isRunning(shim), graceMs))) signalProcess(shim, 'SIGKILL');
      }
      // Whatever is left of the agent's group (the supervisor was dead, hung or too slow) dies now.
      const agent = await readRecord(dir, files.agent, AgentFile);
      if (agent) {
        signalGroup(agent, 'SIGKILL');
        await waitUntil(() => groupMembers(agent).length === 0, 5_000);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  async list(): Promise<JobStatus[]> {
    const statuses = await Promise.all((await listJobDirs(this.#root)).map((name) => this.status(name)));
    return statuses.filter((s): s is JobStatus => s !== undefined);
  }

  #dir(name: string): string {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) throw new Error(`not a job name: ${name}`);
    return join(this.#root, name);
  }

  async #startSupervisor(dir: string): Promise<void> {
    const logFd = openSync(join(dir, files.shimLog), 'a', 0o600);
    let exitedEarly: number | null | undefined;
    try {
      const child = spawn(process.execPath, ['--import', tsxLoader(), supervisorPath, dir], {
        cwd: dir,
        // Own session and process group: a signal to the worker's group never reaches the run.
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { PATH: process.env.PATH ?? '' },
      });
      child.once('exit', (code) => (exitedEarly = code));
      child.unref();
    } finally {
      closeSync(logFd);
    }
    // The run exists once its supervisor has announced itself; a supervisor that dies first failed.
    const deadline = Date.now() + this.#supervisorStartMs;
    while (!(await exists(join(dir, files.shim)))) {
      if (exitedEarly !== undefined && !(await exists(join(dir, files.shim)))) {
        const shimLog = await readText(join(dir, files.shimLog));
        throw new Error(
          `supervisor of ${dir} exited with ${exitedEarly} before starting: ${shimLog.slice(-2000)}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`supervisor of ${dir} did not start`);
      await pause(50);
    }
  }

  /**
   * A run without `exit.json` whose supervisor is gone (or never announced itself in time) will
   * never be settled by it: settle it as failed and kill whatever of the agent still runs.
   */
  async #settleIfSupervisorGone(
    dir: string,
    job: JobFile,
    agent: AgentFile | undefined,
  ): Promise<ExitFile | undefined> {
    const shim = await readRecord(dir, files.shim, ProcessIdentity);
    if (shim ? isRunning(shim) : Date.now() - Date.parse(job.createdAt) < this.#supervisorStartMs)
      return undefined;
    // The supervisor may have settled the run between our first read and its exit.
    const settled = await readRecord(dir, files.exit, ExitFile);
    if (settled) return settled;
    if (agent) signalGroup(agent, 'SIGKILL');
    return settle(dir, {
      outcome: 'failed',
      reason: shim ? 'SupervisorLost' : 'SupervisorNotStarted',
      startedAt: agent?.runStartedAt,
      finishedAt: new Date().toISOString(),
    });
  }
}

/** The tsx loader's absolute path, so the supervisor resolves it whatever its working folder. */
function tsxLoader(): string {
  return createRequire(import.meta.url).resolve('tsx');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return false;
    throw error;
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return '';
    throw error;
  }
}
