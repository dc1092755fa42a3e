/** Shared pieces of the job runner tests: the echo agent's command, specs, telemetry sinks. */
import { appendFile, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type JobTelemetry, type JobTelemetrySink, telemetryKey } from '../../../activities/jobs/telemetry';
import type { AgentJobSpecInput } from '../../../schemas/agent-job';
import { AgentDeploymentEntry } from '../../../schemas/decision-record';
import { AgentLifecycleEvent } from '../../../schemas/evidence';

export const jobWorkflowsPath = fileURLToPath(new URL('../workflows.ts', import.meta.url));
export const jobWorkerScript = fileURLToPath(new URL('./job-worker.ts', import.meta.url));
const echoAgent = fileURLToPath(new URL('./echo-agent.ts', import.meta.url));

/** The echo agent as a real command line: node with the tsx loader, by absolute paths. */
export const echoAgentCommand = [
  process.execPath,
  '--import',
  createRequire(import.meta.url).resolve('tsx'),
  echoAgent,
];

export interface EchoInputs {
  sleepMs?: number;
  exitCode?: number;
  ignoreSigterm?: boolean;
  grandchild?: boolean;
  floodBytes?: number;
}

export function echoSpec(inputs: EchoInputs, overrides: Partial<AgentJobSpecInput> = {}): AgentJobSpecInput {
  return {
    mission: 'mission-7',
    region: 'execution',
    windowId: 'backbeat:W-2026-11-23-09',
    agentId: 'reviewer-1',
    capabilityProfile: { role: 'reviewer', capabilities: ['read', 'comment'] },
    energyBudget: { wallClockSeconds: 60 },
    image: 'registry.example.org/swoosh/echo-agent:1',
    command: echoAgentCommand,
    inputs: { ...inputs },
    timeouts: { activeDeadlineSeconds: 60, terminationGraceSeconds: 2, heartbeatSeconds: 2 },
    ...overrides,
  };
}

/** Checks each record against the ledger's own contracts, as the real sink will. */
function validated(item: JobTelemetry): JobTelemetry {
  if (item.kind === 'lifecycle') AgentLifecycleEvent.parse(item.event);
  else AgentDeploymentEntry.parse(item.entry);
  return item;
}

/** Keeps the first record of each key, like the ledger's idempotent append. */
export class MemoryTelemetrySink implements JobTelemetrySink {
  readonly records: JobTelemetry[] = [];
  readonly #keys = new Set<string>();

  record(item: JobTelemetry): Promise<void> {
    const key = telemetryKey(validated(item));
    if (!this.#keys.has(key)) {
      this.#keys.add(key);
      this.records.push(item);
    }
    return Promise.resolve();
  }

  forJob(jobName: string): JobTelemetry[] {
    return this.records.filter((r) => (r.kind === 'lifecycle' ? r.event.jobId : r.entry.job_id) === jobName);
  }
}

/** Appends every record as a JSON line, so workers in different processes share one log. */
export class JsonlTelemetrySink implements JobTelemetrySink {
  constructor(readonly path: string) {}

  async record(item: JobTelemetry): Promise<void> {
    await appendFile(this.path, `${JSON.stringify(validated(item))}\n`);
  }

  /** Every record written, repeats included. */
  async read(): Promise<JobTelemetry[]> {
    const text = await readFile(this.path, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as JobTelemetry);
  }
}

/** Lifecycle event names and deployment outcomes of one run, in order, for compact assertions. */
export function summary(records: JobTelemetry[]): string[] {
  return records.map((r) => (r.kind === 'lifecycle' ? r.event.lifecycle : `deployment:${r.entry.outcome}`));
}

/** The pids the echo agent printed: its own first, then its grandchild's if it started one. */
export function echoPids(log: string): { agent?: number; grandchild?: number } {
  const agent = /echo-agent\[(\d+)\] started/.exec(log)?.[1];
  const grandchild = /grandchild pid=(\d+)/.exec(log)?.[1];
  return {
    ...(agent ? { agent: Number(agent) } : {}),
    ...(grandchild ? { grandchild: Number(grandchild) } : {}),
  };
}
