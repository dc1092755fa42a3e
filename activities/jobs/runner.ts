/**
 * The job runner contract: one interface, two backends (Kubernetes Jobs, local processes). The
 * activities in ./activities.ts drive a run through it — spawn, follow with progress, collect
 * logs and exit status, delete — and the reaper lists what is left. A run is always addressed by
 * its deterministic name (`agentJobName`), so any worker, including one started after a crash,
 * can find it.
 */
import type { AgentJobSpec, JobBackend, JobOwner } from '../../schemas/agent-job';
import type { AgentOutcome } from '../../schemas/decision-record';
import type { CapabilityProfile, EnergyBudget } from '../../schemas/evidence';

/** What a run records about itself so telemetry can be exported without the original spec. */
export interface JobMeta {
  owner: JobOwner;
  mission: string;
  region: string;
  windowId: string;
  agentId: string;
  capabilityProfile: CapabilityProfile;
  energyBudget: EnergyBudget;
}

export interface JobFinish {
  outcome: AgentOutcome;
  exitCode?: number;
  /** Why it ended, when the outcome alone does not say (e.g. `DeadlineExceeded`). */
  reason?: string;
  finishedAt: string;
}

/** A run as the backend sees it now. */
export interface JobStatus {
  name: string;
  meta: JobMeta;
  createdAt: string;
  /** When the agent started; absent while it waits to be scheduled. */
  startedAt?: string;
  /** Present once the run is over. */
  finish?: JobFinish;
  /** Telemetry of the finished run has been exported; the reaper need not export it again. */
  exported: boolean;
}

export interface JobProgress {
  state: 'pending' | 'running';
  startedAt?: string;
}

export interface FollowOptions {
  /** Aborting stops following (it does not stop the run). */
  signal: AbortSignal;
  /** Called at least every poll interval while the run is not finished; drives heartbeats. */
  onProgress: (progress: JobProgress) => void;
}

export interface JobLogs {
  tail: string;
  truncated: boolean;
}

export interface JobRunner {
  readonly backend: JobBackend;
  /**
   * Starts the run unless one by that name exists. Returns `created: false` for an existing run
   * of the same owner (a retried attempt), and throws JobNameConflictError for another owner's.
   */
  spawn(name: string, spec: AgentJobSpec, owner: JobOwner): Promise<{ created: boolean }>;
  /** The run's status, or undefined when there is no run by that name. */
  status(name: string): Promise<JobStatus | undefined>;
  /** Resolves with the finished status; throws JobNotFoundError if the run disappears. */
  follow(name: string, options: FollowOptions): Promise<JobStatus & { finish: JobFinish }>;
  /** The last `maxBytes` of the agent's combined output. */
  logs(name: string, maxBytes: number): Promise<JobLogs>;
  /** Marks the run's telemetry as exported, so the reaper does not export it again. */
  markExported(name: string): Promise<void>;
  /**
   * Stops the run if it is still going (SIGTERM, then SIGKILL after the grace period) and
   * removes it with everything it started. Idempotent: a missing run is not an error.
   */
  delete(name: string): Promise<void>;
  /** Every run this runner manages. */
  list(): Promise<JobStatus[]>;
}

export class JobNotFoundError extends Error {
  constructor(readonly jobName: string) {
    super(`agent job ${jobName} does not exist`);
    this.name = 'JobNotFoundError';
  }
}

export class JobNameConflictError extends Error {
  constructor(
    readonly jobName: string,
    readonly existingOwner: JobOwner | undefined,
  ) {
    super(
      `agent job ${jobName} already exists and belongs to ` +
        (existingOwner ? `${existingOwner.workflowId}#${existingOwner.seq}` : 'no SWOOSH workflow'),
    );
    this.name = 'JobNameConflictError';
  }
}

export function sameOwner(a: JobOwner | undefined, b: JobOwner): boolean {
  return a !== undefined && a.workflowId === b.workflowId && a.seq === b.seq;
}

/** The metadata a spec gives its run. */
export function jobMeta(spec: AgentJobSpec, owner: JobOwner): JobMeta {
  return {
    owner,
    mission: spec.mission,
    region: spec.region,
    windowId: spec.windowId,
    agentId: spec.agentId,
    capabilityProfile: spec.capabilityProfile,
    energyBudget: spec.energyBudget,
  };
}

/** Keeps the last `maxBytes` bytes of `text`, cut at a character boundary. */
export function tailBytes(text: string, maxBytes: number): JobLogs {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { tail: text, truncated: false };
  // Skip UTF-8 continuation bytes so the tail does not start with half a character.
  let start = bytes.length - maxBytes;
  while (start < bytes.length && ((bytes[start] as number) & 0xc0) === 0x80) start++;
  return { tail: bytes.subarray(start).toString('utf8'), truncated: true };
}

/** Sleeps `ms`, or until `signal` aborts (then resolves early; callers check the signal). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
