import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { beforeAll, describe, expect, test } from 'vitest';
import * as registered from '../workflows/index';
import * as changedTypes from './workflows/every-type-changed';
import { bundlerOptions, compileToEs2022, workflowsPath } from '../workers/worker';
import { LEAKED_KEY } from './agents/support/declared-agent';
import { timersLeftAtClose } from './support/closing';

const historiesDir = new URL('./histories/', import.meta.url);
const changedWorkflowsPath = fileURLToPath(new URL('./workflows/mission-changed.ts', import.meta.url));
const everyTypeChangedPath = fileURLToPath(new URL('./workflows/every-type-changed.ts', import.meta.url));
const fixtures = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));

// Each bundle is built once: bundling, not replaying, is most of a replay's time.
let current: WorkflowBundleWithSourceMap;
let everyTypeChanged: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  current = await bundleWorkflowCode({ workflowsPath, ...bundlerOptions });
  everyTypeChanged = await bundleWorkflowCode({ workflowsPath: everyTypeChangedPath, ...bundlerOptions });
});

describe('recorded histories replay against the current workflow code', () => {
  test('there are recorded histories to replay', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  test('every workflow type the worker registers has a recorded history', () => {
    const recorded = new Set(fixtures.map(workflowTypeOf));
    expect(Object.keys(registered).filter((type) => !recorded.has(type))).toEqual([]);
  });

  test('the changed bundle changes every registered workflow type', () => {
    expect(Object.keys(changedTypes).sort()).toEqual(Object.keys(registered).sort());
  });

  test.each(fixtures)('%s replays without a non-determinism error', async (file) => {
    await expect(
      Worker.runReplayHistory({ workflowBundle: current }, load(file), file),
    ).resolves.toBeUndefined();
  });

  test('the history continue-as-new fixture covers the patched branch: its run ends continued as new', () => {
    // Replayed above like every fixture; this keeps it a history that reaches the branch.
    const file = 'mission-statechart-history-continue-as-new.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-history-continue-as-new-v1"'))).toBe(true);
    expect(load(file).events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  });

  test('the declared-agents fixture covers the patched branch: its beat starts the declared greeter', () => {
    const file = 'mission-statechart-declared-agents.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-declared-agents-v1"'))).toBe(true);
    const children = (load(file).events ?? []).flatMap((e) => {
      const payload = e.startChildWorkflowExecutionInitiatedEventAttributes?.input?.payloads?.[0]?.data;
      return payload ? [JSON.parse(Buffer.from(payload).toString('utf8')) as { image: string }] : [];
    });
    expect(children.map((c) => c.image)).toEqual(['registry.example.org/swoosh/greeter:1']);
  });

  test('the continued-controls fixture covers the patched branch: its owner record follows the first run’s', () => {
    const file = 'mission-statechart-continued-controls.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-snapshot-carries-controls-v1"'))).toBe(true);
    const records = (load(file).events ?? []).flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      const payload = a?.activityType?.name === 'recordDecision' ? a.input?.payloads?.[0]?.data : undefined;
      return payload
        ? [JSON.parse(Buffer.from(payload).toString('utf8')) as { transition: string; seq: number }]
        : [];
    });
    expect(records.map((r) => [r.transition, r.seq])).toEqual([['Owner_Reroute', 2 ** 40 + 1]]);
  });

  test('the spaced-appends fixture covers the patched branch: a transition finds the second up and schedules the append', () => {
    const file = 'mission-statechart-spaced-appends-continue-as-new.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-spaced-ledger-appends-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    // The spacing timer cancelled, and the append scheduled, by the one task a transition ran.
    const sentByTransition = events.some(
      (e, i) =>
        e.timerCanceledEventAttributes &&
        events[i + 1]?.activityTaskScheduledEventAttributes?.activityType?.name === 'recordDecisions',
    );
    expect(sentByTransition).toBe(true);
    expect(events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  });

  test('the prompt-steps fixture covers the patched branch: steps with and without a verdict to fetch, then continue-as-new', () => {
    const file = 'mission-statechart-prompt-steps.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-prompt-steps-v1"'))).toBe(true);
    const decided = decidedTransitions(file);
    // Decided in the handler's call (no verdict to fetch), and after a policy scan.
    expect(decided.filter((t) => t.startsWith('Control_'))).toHaveLength(6);
    expect(decided).toContain('Policy_Update');
    const events = load(file).events ?? [];
    expect(
      events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'policyScan'),
    ).toBe(true);
    expect(events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  });

  test('the request-echo fixture covers the patched branch: an outcome names its first request, a repeat adds nothing', () => {
    const file = 'mission-statechart-request-echo.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-transition-request-echo-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    const outcomes = events.flatMap((e) => {
      const data = e.workflowExecutionUpdateCompletedEventAttributes?.outcome?.success?.payloads?.[0]?.data;
      return data ? [JSON.parse(Buffer.from(data).toString('utf8')) as { request_id?: string }] : [];
    });
    // The pause (sent twice, under two request ids) and the resume (naming no request).
    expect(outcomes.map((o) => o.request_id)).toEqual(['fixture-first', undefined]);
    expect(events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(2);
  });

  test('the licence-watch fixture covers the patched branch: the watch takes Boot_LicenseGrace before any beat', () => {
    const file = 'mission-statechart-licence-watch.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-licence-watch-v1"'))).toBe(true);
    const transitions = decidedTransitions(file);
    expect(transitions).toContain('Boot_LicenseGrace');
    expect(transitions.some((t) => t.startsWith('Execution_'))).toBe(false);
  });

  test('the compensation fixture covers the patched branch: a refused fetch degrades the mission, a fetch that succeeds resumes it', () => {
    const file = 'mission-statechart-compensation.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-compensation-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    const failedFetch = events.some(
      (e) => e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type === 'SourceRefused',
    );
    expect(failedFetch).toBe(true);
    const decided = decidedTransitions(file);
    const degraded = decided.indexOf('Control_Degrade');
    expect(degraded).toBeGreaterThanOrEqual(0);
    expect(decided.indexOf('Ingestion_Ready')).toBeGreaterThan(degraded);
    expect(decided.indexOf('Control_Resume')).toBeGreaterThan(decided.indexOf('Ingestion_Ready'));
    expect(events.some((e) => e.workflowExecutionFailedEventAttributes)).toBe(false);
  });

  test('the output-scan fixture covers the patched branch: the withheld output quarantines the mission', () => {
    const file = 'mission-statechart-output-scan.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-output-scan-v1"'))).toBe(true);
    const transitions = decidedTransitions(file);
    expect(transitions.at(-1)).toBe('Policy_Quarantine');
  });

  test('the proposal-breach fixture holds the breach report, never the screened proposal or its secret', () => {
    const file = 'mission-statechart-proposal-breach.json';
    const accepted = (load(file).events ?? []).flatMap((e) => {
      const a = e.workflowExecutionUpdateAcceptedEventAttributes;
      return a ? [a.acceptedRequest?.input?.name] : [];
    });
    expect(accepted).toEqual(['proposalBreach']);
    const payloads = [
      ...readFileSync(new URL(file, historiesDir), 'utf8').matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g),
    ].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'));
    expect(payloads.join('\n')).toContain('"field":"inputs.reason"');
    expect(payloads.join('\n')).not.toContain(LEAKED_KEY);
  });

  test('the policy-scan fixture covers the patched branch: each proposal is scanned by an ordinary activity', () => {
    const file = 'mission-statechart-policy-scan-activity.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-policy-scan-activity-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    const scans = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'policyScan',
    );
    expect(scans.length).toBeGreaterThan(0);
    expect(events.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toBe(
      false,
    );
  });

  test('the digests fixture covers the patched branch: closed timers are archived, one id is forwarded', () => {
    const file = 'timer-shard-digests.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-timer-digests-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    const archived = events.flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      const payload =
        a?.activityType?.name === 'archiveClosedTimers' ? a.input?.payloads?.[0]?.data : undefined;
      if (!payload) return [];
      const { timers } = JSON.parse(Buffer.from(payload).toString('utf8')) as {
        timers: { record: { state: string } }[];
      };
      return timers.map((t) => t.record.state);
    });
    expect(archived).toEqual(['Cancelled', 'Cancelled']);
    const accepted = events.flatMap((e) => {
      const a = e.workflowExecutionUpdateAcceptedEventAttributes;
      return a ? [a.acceptedRequest?.input?.name] : [];
    });
    expect(accepted).toContain('timers.forward');
  });

  test('the chain-rollover fixture covers the patched branch: a link of the full shard goes to shard 1, comes back full, and goes to shard 2', () => {
    const file = 'timer-shard-chain-rollover.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-timer-chain-rollover-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    const message = (payload: Uint8Array | null | undefined) =>
      JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as { type: string; placedFrom?: number };
    const sent = events.flatMap((e) => {
      const a = e.signalExternalWorkflowExecutionInitiatedEventAttributes;
      if (!a) return [];
      const { type, placedFrom } = message(a.input?.payloads?.[0]?.data);
      return [`${type} from ${placedFrom} to shard ${a.workflowExecution?.workflowId?.split('-').at(-1)}`];
    });
    expect(sent).toEqual(['schedule from 0 to shard 1', 'schedule from 0 to shard 2']);
    const received = events.flatMap((e) => {
      const a = e.workflowExecutionSignaledEventAttributes;
      return a ? [message(a.input?.payloads?.[0]?.data).type] : [];
    });
    expect(received).toEqual(['placementFull']);
  });

  test("the bookkeeping fixture covers the patched branch: a firing's events ride on its delivery, and closed timers with the events written after", () => {
    const file = 'timer-shard-bookkeeping.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-timer-bookkeeping-v1"'))).toBe(true);
    const scheduled = (load(file).events ?? []).flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      if (!a) return [];
      const name = a.activityType?.name ?? '';
      if (!name.includes('Bookkeeping')) return [name];
      const input = JSON.parse(Buffer.from(a.input?.payloads?.[0]?.data ?? []).toString('utf8')) as {
        bookkeeping?: Bookkeeping;
      } & Bookkeeping;
      const { events, archived } = input.bookkeeping ?? input;
      return [
        `${name}: ${events.map((ev) => ev.state).join()} | ${archived.map((t) => t.record.state).join()}`,
      ];
    });
    // The create's events waited for the firing half a second later, whose delivery carried them.
    expect(scheduled).toEqual([
      'deliverTimerWebhooksWithBookkeeping: Scheduled,Scheduled,Armed,Fired | ',
      'recordTimerDeadLetter',
      'recordShardBookkeeping: DeadLettered | ',
      'recordShardBookkeeping: Cancelled | Cancelled',
    ]);
  });

  test('the quiet-close fixture covers the patched branch: the drained run sets no durable timer, waits out the one about to fire, and continues as new with none due soon', () => {
    const file = 'timer-shard-quiet-close.json';
    const events = load(file).events ?? [];
    const marker = events.findIndex(
      (e) =>
        e.markerRecordedEventAttributes?.markerName === 'core_patch' &&
        Object.values(e.markerRecordedEventAttributes.details ?? {}).some((p) =>
          Buffer.from(p.payloads?.[0]?.data ?? [])
            .toString('utf8')
            .includes('"swoosh-timer-quiet-close-v1"'),
        ),
    );
    expect(marker).toBeGreaterThan(0);
    const closing = events.slice(marker);
    expect(closing.filter((e) => e.timerStartedEventAttributes)).toEqual([]);
    expect(closing.filter((e) => e.timerFiredEventAttributes).length).toBeGreaterThan(0);
    const left = timersLeftAtClose(events);
    expect(left).toBeDefined();
    for (const due of left!) expect(due).toBeGreaterThan(1_000);
  });

  test('the parked-timers fixture covers the patched branch: timers parked, one refused, one cancelled, both paged in', () => {
    const file = 'timer-shard-parked.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-timer-paging-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    const activities = events.flatMap((e) => {
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return name && !name.includes('Bookkeeping') && !name.includes('Webhook') ? [name] : [];
    });
    expect(activities).toEqual([
      'parkTimers',
      'parkTimers',
      'cancelParkedTimer',
      'recordTimerDeadLetter',
      'pageInParkedTimers',
      'pageInParkedTimers',
    ]);
    const refused = events.filter(
      (e) =>
        e.workflowExecutionUpdateCompletedEventAttributes?.outcome?.failure?.applicationFailureInfo?.type,
    );
    expect(
      refused.map(
        (e) =>
          e.workflowExecutionUpdateCompletedEventAttributes!.outcome!.failure!.applicationFailureInfo!.type,
      ),
    ).toEqual(['TimerConflict']);
  });

  test('the retired-digests fixture covers the patched branch: digests retired to the store, which then answers a create of a retired id, and refuses another spec', () => {
    const file = 'timer-shard-retired.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-timer-retire-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    const activities = events.flatMap((e) => {
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return name && !name.includes('Bookkeeping') ? [name] : [];
    });
    expect(activities).toEqual(['retireTimerDigests', 'parkTimers', 'parkTimers']);
    const refused = events.flatMap((e) => {
      const type =
        e.workflowExecutionUpdateCompletedEventAttributes?.outcome?.failure?.applicationFailureInfo?.type;
      return type ? [type] : [];
    });
    expect(refused).toEqual(['TimerConflict']);
  });

  test('the early-retirement fixture covers the patched branch: two digests, a batch, go to the store while the shard has room', () => {
    const file = 'timer-shard-retired-early.json';
    const patches = patchesOf(file);
    expect(patches.some((p) => p.includes('"swoosh-timer-retire-early-v1"'))).toBe(true);
    expect(patches.some((p) => p.includes('"swoosh-timer-retire-v1"'))).toBe(true);
    const activities = (load(file).events ?? []).flatMap((e) => {
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return name && !name.includes('Bookkeeping') ? [name] : [];
    });
    expect(activities).toEqual(['retireTimerDigests']);
  });

  test('the drain-wake fixture covers the patched branch: creates take the history past its limit and the run continues as new', () => {
    const file = 'timer-shard-drain-wake.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-timer-drain-wake-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    expect(events.length).toBeGreaterThan(40);
    expect(events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeDefined();
  });

  test('the alarm fixture covers the patched branch: alarms ring instead of durable timers, and none is left when the run continues as new', () => {
    const file = 'timer-shard-alarm.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-timer-alarm-v1"'))).toBe(true);
    const events = load(file).events ?? [];
    const alarms = new Set(
      events.flatMap((e) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name === 'ringShardAlarm'
          ? [String(e.eventId)]
          : [],
      ),
    );
    const rung = events.filter((e) =>
      alarms.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
    );
    expect(alarms.size).toBeGreaterThanOrEqual(3);
    expect(rung).toHaveLength(alarms.size);
    expect(events.filter((e) => e.timerStartedEventAttributes)).toEqual([]);
    expect(events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeDefined();
  });

  test('the quiet continue-as-new fixture covers the patched branch: the run closed with no durable timer due within a second', () => {
    const file = 'mission-statechart-quiet-continue-as-new.json';
    expect(patchesOf(file).some((p) => p.includes('"swoosh-quiet-continue-as-new-v1"'))).toBe(true);
    const left = timersLeftAtClose(load(file).events ?? []);
    expect(left).toBeDefined();
    for (const due of left!) expect(due).toBeGreaterThan(1_000);
  });

  test('an unversioned change to missionWorkflow fails replay with a determinism error', async () => {
    const file = 'mission-boot-to-license-check.json';
    await expect(
      Worker.runReplayHistory({ workflowsPath: changedWorkflowsPath }, load(file), file),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });

  test.each(fixtures.map((file) => [file, workflowTypeOf(file)]))(
    '%s fails replay against an unversioned change to %s',
    async (file) => {
      await expect(
        Worker.runReplayHistory({ workflowBundle: everyTypeChanged }, load(file), file),
      ).rejects.toBeInstanceOf(DeterminismViolationError);
    },
  );
});

describe('the workflow bundle', () => {
  test('keeps ES2022 syntax: no object-spread or private-field helpers in the code that replays', () => {
    expect(current.code).not.toMatch(/function _object_spread\(/);
    expect(current.code).not.toMatch(/function _class_private_field_get\(/);
    expect(current.code).toMatch(/#encoding in obj/);
  });

  test('refuses to bundle when the SDK no longer compiles with swc-loader, rather than silently at ES2017', () => {
    expect(() => compileToEs2022({ module: { rules: [] } })).toThrow(/swc-loader/);
  });
});

/** What a shard's bookkeeping write carries, as far as these tests read it. */
interface Bookkeeping {
  events: { state: string }[];
  archived: { record: { state: string } }[];
}

/** The patch ids a history's markers record, as JSON text. */
function patchesOf(file: string): string[] {
  return (load(file).events ?? [])
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .flatMap((e) => Object.values(e.markerRecordedEventAttributes?.details ?? {}))
    .map((p) => Buffer.from(p.payloads?.[0]?.data ?? []).toString('utf8'));
}

/** The transitions a recorded mission decided, in order, from its ledger append activities' inputs. */
function decidedTransitions(file: string): string[] {
  return (load(file).events ?? []).flatMap((e) => {
    const task = e.activityTaskScheduledEventAttributes;
    if (task?.activityType?.name !== 'recordDecisions') return [];
    const payload = Buffer.from(task.input?.payloads?.[0]?.data ?? []).toString('utf8');
    return (JSON.parse(payload) as { transition: string }[]).map((d) => d.transition);
  });
}

function load(file: string): ReturnType<typeof historyFromJSON> {
  return historyFromJSON(JSON.parse(readFileSync(new URL(file, historiesDir), 'utf8')));
}

/** The workflow type a history ran, from its first event. */
function workflowTypeOf(file: string): string {
  const type = load(file).events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
  if (!type) throw new Error(`${file} does not start with a workflow type`);
  return type;
}
