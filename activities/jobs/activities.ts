/**
 * The agent job activities, built on one JobRunner (Kubernetes or local processes) and one
 * telemetry sink. `runAgentJob` is a long-running activity: it heartbeats while it follows the
 * run, so a crashed worker is noticed within one heartbeat timeout and the retry — on any
 * worker — finds the same run by its deterministic name and follows it again instead of
 * starting a second agent.
 */
import { type Attributes, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import {
  AgentJobFailureType,
  type AgentJobResult,
  AgentJobSpec,
  agentJobName,
  type JobOwner,
  type ReapFinishedJobsInput,
  type ReapFinishedJobsResult,
  type RunAgentJobInput,
} from '../../schemas/agent-job';
import {
  type JobFinish,
  JobNameConflictError,
  JobNotFoundError,
  type JobRunner,
  type JobStatus,
  sameOwner,
} from './runner';
import { EnvReferenceError } from './env';
import { AttachmentError, withAttachments } from './attachments';
import type { ContentStore } from '../../ledger/evidence-store';
import { type PolicySnapshot, secretsInText, withheldNotice } from '../../schemas/policy';
import { AGENT_JOB_ATTRIBUTES as J, AGENT_JOB_SPANS } from '../../schemas/trace';
import { recordAgentJob } from '../telemetry';
import { finishedTelemetry, type JobTelemetrySink, spawnedTelemetry } from './telemetry';

export interface JobActivityDeps {
  runner: JobRunner;
  telemetry: JobTelemetrySink;
  /** Where a spec's attachments are read (a spec with attachments fails without it). */
  content?: ContentStore;
  /** Bytes of the agent's output returned in a result (default 16 KiB; the full log stays with the run). */
  logTailBytes?: number;
  /**
   * The SHHH policy the output is screened with: an output its secret rules match is withheld
   * (replaced by a notice naming rule, pattern and line), because the result is written to the
   * workflows' histories. Without it the output is returned as it is.
   */
  policy?: () => Promise<PolicySnapshot>;
}

/** Heartbeat details: survive into the next attempt and tell it this activity had spawned the run. */
interface FollowCheckpoint {
  jobName: string;
  spawned: true;
  state: 'pending' | 'running';
  startedAt?: string;
}

/**
 * Runs `work` in a span that is a child of the activity's RunActivity span; with tracing off the
 * tracer is OpenTelemetry's no-op one.
 */
async function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer('swoosh-agent-jobs').startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

export function createJobActivities({
  runner,
  telemetry,
  content,
  logTailBytes = 16 * 1024,
  policy,
}: JobActivityDeps) {
  async function exportFinished(status: JobStatus, finish: JobFinish): Promise<void> {
    for (const item of finishedTelemetry(status, finish, runner.backend)) await telemetry.record(item);
    const startedAt = status.startedAt ?? status.createdAt;
    recordAgentJob(finish.outcome, Date.parse(finish.finishedAt) - Date.parse(startedAt));
  }

  /** Finds this owner's run, or starts it; refuses a run that belongs to someone else. */
  async function ensureRun(jobName: string, owner: JobOwner, spec: AgentJobSpec): Promise<JobStatus> {
    const checkpoint = Context.current().info.heartbeatDetails as FollowCheckpoint | undefined;
    const existing = await runner.status(jobName);
    if (existing) {
      if (!sameOwner(existing.meta.owner, owner))
        throw conflict(new JobNameConflictError(jobName, existing.meta.owner));
      return existing;
    }
    // An earlier attempt spawned it and it is gone: starting it again would run the agent twice.
    if (checkpoint?.spawned) throw lost(jobName);
    try {
      await runner.spawn(jobName, await withAttachments(spec, content), owner);
    } catch (error) {
      if (error instanceof JobNameConflictError) throw conflict(error);
      // Not retried: a missing secret is a deployment fix, and the message names no value.
      if (error instanceof EnvReferenceError)
        throw ApplicationFailure.nonRetryable(error.message, AgentJobFailureType.envUnresolved);
      if (error instanceof AttachmentError)
        throw ApplicationFailure.nonRetryable(error.message, AgentJobFailureType.attachmentUnresolved);
      throw error;
    }
    const spawned = await runner.status(jobName);
    if (!spawned) throw lost(jobName);
    return spawned;
  }

  /**
   * On cancellation by the workflow the run is stopped and deleted. Any other cancellation — the
   * worker shutting down, a heartbeat timeout, a pause — leaves it running for the next attempt to
   * follow. "Not found" is one of those: it also means this attempt was superseded after a missed
   * heartbeat while the next attempt follows the same run, so deleting would kill a live run; a
   * run whose workflow is really gone ends at its deadline and the reaper exports and deletes it.
   */
  async function stopOnCancel(jobName: string): Promise<void> {
    const ctx = Context.current();
    const details = ctx.cancellationDetails;
    const reason: unknown = ctx.cancellationSignal.reason;
    const abandoned = details
      ? details.cancelRequested
      : reason instanceof CancelledFailure && reason.message === 'CANCELLED';
    if (!abandoned) return;
    const before = await runner.status(jobName);
    await runner.delete(jobName);
    if (before && !before.exported) {
      await exportFinished(
        before,
        before.finish ?? {
          outcome: 'cancelled',
          reason: 'CancelRequested',
          finishedAt: new Date().toISOString(),
        },
      );
    }
  }

  const activities = {
    /** Spawns the run (or finds it again after a crash), follows it to the end and exports telemetry. */
    runAgentJob: async ({ jobName, owner, spec: input }: RunAgentJobInput): Promise<AgentJobResult> => {
      const parsed = AgentJobSpec.safeParse(input);
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(
          `invalid agent job spec: ${z.prettifyError(parsed.error)}`,
          AgentJobFailureType.invalidSpec,
        );
      }
      if (jobName !== agentJobName(owner)) {
        throw ApplicationFailure.nonRetryable(
          `job name ${jobName} is not the one derived from its owner (${agentJobName(owner)})`,
          AgentJobFailureType.invalidSpec,
        );
      }
      const ctx = Context.current();
      const attributes = { [J.name]: jobName, [J.backend]: runner.backend };
      const status = await inSpan(AGENT_JOB_SPANS.spawn, attributes, () =>
        ensureRun(jobName, owner, parsed.data),
      );
      ctx.heartbeat({ jobName, spawned: true, state: 'pending' } satisfies FollowCheckpoint);
      await telemetry.record(spawnedTelemetry(status));

      let finished: JobStatus & { finish: JobFinish };
      try {
        finished = await inSpan(AGENT_JOB_SPANS.follow, attributes, async (span) => {
          const done = await runner.follow(jobName, {
            signal: ctx.cancellationSignal,
            onProgress: (progress) =>
              ctx.heartbeat({ jobName, spawned: true, ...progress } satisfies FollowCheckpoint),
          });
          span.setAttribute(J.outcome, done.finish.outcome);
          return done;
        });
      } catch (error) {
        if (ctx.cancellationSignal.aborted) {
          await stopOnCancel(jobName);
          throw error;
        }
        if (error instanceof JobNotFoundError) throw lost(jobName);
        throw error;
      }

      const logs = await runner.logs(jobName, logTailBytes);
      const secrets = policy ? secretsInText((await policy()).document, logs.tail) : [];
      if (!finished.exported) {
        await exportFinished(finished, finished.finish);
        await runner.markExported(jobName);
      }
      const startedAt = finished.startedAt ?? finished.createdAt;
      return {
        jobName,
        backend: runner.backend,
        outcome: finished.finish.outcome,
        ...(finished.finish.exitCode === undefined ? {} : { exitCode: finished.finish.exitCode }),
        startedAt,
        finishedAt: finished.finish.finishedAt,
        durationMs: Math.max(0, Date.parse(finished.finish.finishedAt) - Date.parse(startedAt)),
        logTail: secrets.length > 0 ? withheldNotice(secrets) : logs.tail,
        logTruncated: logs.truncated,
      };
    },

    /** Deletes a run and whatever it left; a run already gone is fine. */
    deleteAgentJob: async (jobName: string): Promise<void> => {
      await runner.delete(jobName);
    },

    reapFinishedJobs: async ({
      olderThanSeconds,
    }: ReapFinishedJobsInput): Promise<ReapFinishedJobsResult> => {
      const ctx = Context.current();
      const result: ReapFinishedJobsResult = { reaped: [], kept: [], running: [] };
      const runs = await runner.list();
      // Ages are taken after listing: listing may settle a run whose supervisor died, just now.
      const cutoff = Date.now() - olderThanSeconds * 1000;
      for (const status of runs) {
        ctx.heartbeat(result);
        if (!status.finish) {
          result.running.push(status.name);
        } else if (Date.parse(status.finish.finishedAt) > cutoff) {
          result.kept.push(status.name);
        } else {
          const finish = status.finish;
          const attributes = {
            [J.name]: status.name,
            [J.backend]: runner.backend,
            [J.outcome]: finish.outcome,
          };
          await inSpan(AGENT_JOB_SPANS.reap, attributes, async () => {
            // Telemetry first: a run deleted before its export would vanish from the ledger.
            if (!status.exported) await exportFinished(status, finish);
            await runner.delete(status.name);
          });
          result.reaped.push(status.name);
        }
      }
      return result;
    },
  };
  return activities;
}

function conflict(error: JobNameConflictError): ApplicationFailure {
  return ApplicationFailure.nonRetryable(error.message, AgentJobFailureType.nameConflict);
}

function lost(jobName: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `agent job ${jobName} disappeared before its end was collected (deleted by the reaper or by hand)`,
    AgentJobFailureType.lost,
  );
}
