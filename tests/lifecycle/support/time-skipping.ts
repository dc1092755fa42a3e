/**
 * Waiting for a mission's state on the Java test server. Skipped time is only safe while the
 * mission waits on timers: an activity (a fetch, an agent process) runs in real time, and skipping
 * hours under it times it out and sends the mission down a path the test did not mean. On a busy
 * machine that happened often enough to fail CI, so the wait below skips time only when no
 * activity of the mission or of its children is running or waiting for a worker.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { missionWorkflowId } from '../../../schemas/mission';
import { startTimeSkippingEnv } from '../../support/temporal';
import { registerSearchAttributes, view } from './missions';

export type MissionState = Awaited<ReturnType<typeof view>>;

const { PENDING_ACTIVITY_STATE_SCHEDULED, PENDING_ACTIVITY_STATE_STARTED } =
  proto.temporal.api.enums.v1.PendingActivityState;

const msOf = (t: proto.google.protobuf.ITimestamp | null | undefined): number =>
  Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

/**
 * Whether `workflowId` or a workflow it started has an activity in flight at workflow time `now`.
 * An activity waiting out a retry backoff does not count: the backoff is a timer, and skipping it
 * is the point; once the retry is due it counts again. The Java test server reports an activity
 * between attempts as STARTED, its last attempt completed after it started.
 */
async function activityInFlight(client: Client, workflowId: string, now: number): Promise<boolean> {
  const { raw } = await client.workflow.getHandle(workflowId).describe();
  const inBackoff = (a: proto.temporal.api.workflow.v1.IPendingActivityInfo): boolean =>
    (a.attempt ?? 1) > 1 &&
    ((a.state === PENDING_ACTIVITY_STATE_SCHEDULED && msOf(a.nextAttemptScheduleTime) > now) ||
      (a.state === PENDING_ACTIVITY_STATE_STARTED &&
        msOf(a.lastStartedTime) > 0 &&
        msOf(a.lastAttemptCompleteTime) >= msOf(a.lastStartedTime)));
  if ((raw.pendingActivities ?? []).some((a) => !inBackoff(a))) return true;
  for (const child of raw.pendingChildren ?? [])
    if (child.workflowId && (await activityInFlight(client, child.workflowId, now).catch(() => false)))
      return true;
  return false;
}

/** Skips `ms` of workflow time once no activity of the mission is in flight. */
export async function skipWhenIdle(
  env: TestWorkflowEnvironment,
  missionId: string,
  ms: number,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  const busy = async () =>
    activityInFlight(env.client, missionWorkflowId(missionId), await env.currentTimeMs()).catch(() => true);
  while (await busy()) {
    if (Date.now() > deadline)
      throw new Error(`mission ${missionId} still has activities in flight after 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await env.sleep(ms);
}

export interface UntilOptions {
  /** Workflow time the mission may take, skipped or not. */
  maxWorkflowMs?: number;
  /** The largest single skip; smaller steps land closer to a window's start. */
  maxStepMs?: number;
  /** Wall-clock time to wait for activities before giving up. */
  maxRealMs?: number;
}

/**
 * Waits until the mission's state satisfies `ok`: in real time while activities run, otherwise by
 * skipping workflow time in steps that double from 50 ms up to `maxStepMs`.
 */
export async function untilMission(
  env: TestWorkflowEnvironment,
  missionId: string,
  ok: (v: MissionState) => boolean,
  { maxWorkflowMs = 6 * 3600_000, maxStepMs = 10 * 60_000, maxRealMs = 150_000 }: UntilOptions = {},
): Promise<MissionState> {
  const startedAt = await env.currentTimeMs();
  const realDeadline = Date.now() + maxRealMs;
  let step = 50;
  for (;;) {
    const v = await view(env.client, missionId).catch(() => undefined);
    if (v?.state && ok(v)) return v;
    const elapsed = (await env.currentTimeMs()) - startedAt;
    if (elapsed > maxWorkflowMs || Date.now() > realDeadline) {
      throw new Error(
        `mission ${missionId} did not reach the expected state after ${Math.round(elapsed / 1000)} s of ` +
          `workflow time: ${JSON.stringify(v?.state).slice(0, 3000)}`,
      );
    }
    const busy = await activityInFlight(env.client, missionWorkflowId(missionId), startedAt + elapsed).catch(
      () => true,
    );
    if (process.env.SWOOSH_TEST_TRACE && v?.state) {
      const st = v.state;
      console.log(
        new Date().toISOString().slice(11, 23),
        new Date(startedAt + elapsed).toISOString(),
        busy ? 'activity in flight' : `skip ${step} ms`,
        st.ingestion.phase,
        st.council.phase,
        st.environment.phase,
        st.execution.phase,
        st.execution.beat,
        st.control.phase,
        st.policy.phase,
      );
    }
    if (busy) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    await env.sleep(step);
    step = Math.min(step * 2, maxStepMs);
  }
}

/** Runs `body` on a time-skipping test server of its own, so no other test's timers share its clock. */
export async function onOwnTestServer<T>(body: (env: TestWorkflowEnvironment) => Promise<T>): Promise<T> {
  const env = await startTimeSkippingEnv();
  try {
    await registerSearchAttributes(env);
    return await body(env);
  } finally {
    await env.teardown();
  }
}
