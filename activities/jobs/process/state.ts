/**
 * The on-disk state of a local run, shared by the runner (in the worker) and the supervisor
 * (a separate process that outlives a crashed worker). One folder per run under
 * `<data dir>/agent-jobs/<job name>/`:
 *
 * | file         | written by              | holds                                               |
 * | ------------ | ----------------------- | --------------------------------------------------- |
 * | `job.json`   | runner, before spawning | owner, metadata and the launch plan (mode 0600)     |
 * | `shim.json`  | supervisor, first thing | its pid and start time                              |
 * | `agent.json` | supervisor, per attempt | the agent's pid (= its process group) and start time |
 * | `exit.json`  | whoever settles the run | outcome, exit code, finish time; created once       |
 * | `log`, `log.0` | supervisor            | the agent's output, rotated to stay under the cap   |
 * | `exported`   | runner                  | marker: telemetry was exported                      |
 *
 * Each record is written atomically, and `exit.json` by exclusive create, so a run is settled
 * exactly once even when the supervisor and a worker race to settle it.
 */
import { randomUUID } from 'node:crypto';
import { link, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AgentOutcome } from '../../../schemas/decision-record';
import { CapabilityProfile, EnergyBudget } from '../../../schemas/evidence';
import { fsyncDir, writeFileAtomic } from '../../../host/durable-fs';

const Timestamp = z.iso.datetime({ offset: true });

export const LaunchPlan = z.strictObject({
  argv: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()),
  cwd: z.string(),
  activeDeadlineSeconds: z.int().positive(),
  terminationGraceSeconds: z.int().nonnegative(),
  backoffLimit: z.int().nonnegative(),
  /** Bytes of output kept on disk; the log rotates in two halves to stay under it. */
  logLimitBytes: z.int().positive(),
});
export type LaunchPlan = z.infer<typeof LaunchPlan>;

export const JobFile = z.strictObject({
  name: z.string(),
  createdAt: Timestamp,
  meta: z.strictObject({
    owner: z.strictObject({ workflowId: z.string(), seq: z.int().nonnegative() }),
    mission: z.string(),
    region: z.string(),
    windowId: z.string(),
    agentId: z.string(),
    capabilityProfile: CapabilityProfile,
    energyBudget: EnergyBudget,
  }),
  launch: LaunchPlan,
});
export type JobFile = z.infer<typeof JobFile>;

/** A process, named so that a recycled pid is not mistaken for it. */
export const ProcessIdentity = z.strictObject({
  pid: z.int().positive(),
  /** Start time in clock ticks since boot (Linux /proc); absent where /proc is not available. */
  startTime: z.string().optional(),
});
export type ProcessIdentity = z.infer<typeof ProcessIdentity>;

export const AgentFile = ProcessIdentity.extend({
  attempt: z.int().nonnegative(),
  /** When the first attempt started: the run's start, as a Job's `status.startTime`. */
  runStartedAt: Timestamp,
});
export type AgentFile = z.infer<typeof AgentFile>;

export const ExitFile = z.strictObject({
  outcome: AgentOutcome,
  exitCode: z.int().optional(),
  reason: z.string().optional(),
  startedAt: Timestamp.optional(),
  finishedAt: Timestamp,
});
export type ExitFile = z.infer<typeof ExitFile>;

export const files = {
  job: 'job.json',
  shim: 'shim.json',
  agent: 'agent.json',
  exit: 'exit.json',
  log: 'log',
  previousLog: 'log.0',
  logDropped: 'log.dropped',
  shimLog: 'shim.log',
  exported: 'exported',
  work: 'work',
  tmp: 'tmp',
} as const;

export function jobsRoot(dataDir: string): string {
  return join(dataDir, 'agent-jobs');
}

export async function readRecord<T>(dir: string, file: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, file), 'utf8');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  return schema.parse(JSON.parse(text));
}

export async function writeRecord(dir: string, file: string, value: unknown, mode = 0o600): Promise<void> {
  await writeFileAtomic(join(dir, file), `${JSON.stringify(value)}\n`, mode);
}

/**
 * Settles the run: writes `exit.json` unless it exists, and returns what is on disk either way,
 * so the first writer wins and every reader sees the same finish.
 */
export async function settle(dir: string, exit: ExitFile): Promise<ExitFile> {
  // Written in full under a temporary name, then hard-linked into place: link() refuses an
  // existing target, so this is an exclusive create that never exposes a half-written file.
  const temp = join(dir, `.exit-${randomUUID()}.tmp`);
  await writeFileAtomic(temp, `${JSON.stringify(ExitFile.parse(exit))}\n`, 0o600);
  try {
    await link(temp, join(dir, files.exit));
    await fsyncDir(dir);
    return exit;
  } catch (error) {
    if (!isCode(error, 'EEXIST')) throw error;
    const existing = await readRecord(dir, files.exit, ExitFile);
    if (!existing) throw error;
    return existing;
  } finally {
    await rm(temp, { force: true });
  }
}

/** Names of the runs under `root` (= `jobsRoot(dataDir)`). */
export async function listJobDirs(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return [];
    throw error;
  }
}

export function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
