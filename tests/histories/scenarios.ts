/** Scenarios whose histories are recorded as replay fixtures; each returns the history it made. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ActivityDeps } from '../../activities';
import { dataPaths } from '../../host/data-dir';
import { loadSigner } from '../../host/keys';
import { LicenceChecker } from '../../host/licence/checker';
import { signLicence } from '../../host/licence/tokens';
import {
  type Client,
  WithStartWorkflowOperation,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { PROPOSAL_BREACH_CONFIRMED, type ProposalBreachReport } from '../../schemas/proposal-breach';
import type { TransitionProposal } from '../../schemas/proposal';
import { startMission } from '../../api/missions';
import { missionWorkflowId, type MissionView } from '../../schemas/mission';
import {
  controlSignal,
  ownerControlSignal,
  proposalBreachUpdate,
  screenProposalUpdate,
  stateQuery,
  transitionUpdate,
  voteUpdate,
} from '../../schemas/mission-messages';
import type { StateDocument } from '../../schemas/state-document';
import {
  cancelTimerUpdate,
  createTimersUpdate,
  forwardTimerUpdate,
  haltTimersUpdate,
  liftTimersUpdate,
  shardStatusQuery,
  TIMER_SHARD_WORKFLOW_TYPE,
  timerQuery,
  type TimerShardInput,
} from '../../schemas/timer-messages';
import { shardOf, shardWorkflowId } from '../../schemas/timer-shard-key';
import {
  CONTROL_WORKFLOW_TYPE,
  controlWorkflowId,
  haltQuery,
  liftHaltUpdate,
  setHaltUpdate,
} from '../../schemas/control-messages';
import type { OwnerControlCommand, SignedOwnerCommand } from '../../schemas/owner-controls';
import { ownerCommandSigningBytes } from '../../schemas/signed-bytes';
import { signDetached } from '../../workflows/statechart';
import {
  FAST_SCHEDULE,
  TEST_SCHEDULE,
  newSigner,
  prompt,
  propose,
  proposalSigner,
  signedCommand,
  startMissionWith,
  type TestSigner,
  vote,
} from '../lifecycle/support/missions';
import { eventually } from '../support/temporal';
import {
  ownerCommandsAcrossContinueAsNew,
  startLongHistoryMission,
  untilContinuedAsNew,
} from '../chaos/long-history';
import { startFromBrokenSnapshot } from './broken-snapshot';
import { otherWorkflowScenarios } from './other-workflows';
import { LEAKED_KEY, leakerConfig, startDeclaredAgentMission } from '../agents/support/declared-agent';

export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

export interface Scenario {
  name: string;
  run(client: Client, taskQueue: string, missionId: string): Promise<History>;
  /** What this scenario's worker uses instead of the shared recording dependencies. */
  deps?(base: ActivityDeps): Promise<Partial<ActivityDeps>>;
}

export const scenarios: Scenario[] = [
  {
    name: 'mission-boot-to-license-check',
    async run(client, taskQueue, missionId) {
      const { workflowId } = await startMission(client, taskQueue, {
        id: missionId,
        objective: 'Recorded fixture: boot to licence check',
        priority: 'P2',
        originatingSpec: 'https://specs.example.org/fixture',
        createdAt: '2026-11-23T09:00:00.000Z',
      });
      const handle = client.workflow.getHandle(workflowId);
      await eventually(
        () => handle.query(stateQuery),
        (v) => v.phase === 'LICENSE_CHECK',
      );
      return handle.fetchHistory();
    },
  },
  {
    // The statechart mission end to end on its own: orchestrator-only council, auto-approval, a
    // 4-second BACKBEAT bar, continue-as-new after every beat. The fixture is the first run:
    // BOOT, the three regions, beat 1 and the continue-as-new.
    name: 'mission-statechart-first-run',
    async run(client, taskQueue, missionId) {
      const workflowId = missionWorkflowId(missionId);
      const handle = await client.workflow.start('missionWorkflow', {
        workflowId,
        taskQueue,
        args: [
          {
            id: missionId,
            objective: 'Recorded fixture: statechart lifecycle',
            priority: 'P1',
            originatingSpec: 'https://specs.example.org/fixture',
            createdAt: '2026-11-23T09:00:00.000Z',
          },
          {
            config: {
              autoApprove: true,
              maxBeats: 2,
              continueAsNewEveryBeats: 1,
              schedule: {
                name: 'backbeat',
                tempoBpm: 600,
                barBeats: 40,
                phases: { PLAN: 0.2, WORK: 0.5, REVIEW: 0.2, REVERB: 0.1 },
                amplitude: 0.25,
                backoffBaseMs: 200,
                backoffMaxMs: 2_000,
              },
            },
          },
        ],
      });
      await handle.result();
      return client.workflow.getHandle(workflowId, handle.firstExecutionRunId).fetchHistory();
    },
  },
  {
    name: 'mission-statechart-owner-controls-recovery',
    run: ownerControlsAndRecovery,
  },
  {
    // The same story recorded after the strict signature verifier (STRICT_SIGNATURES_PATCH) and
    // the throttled search attributes (THROTTLED_ATTRIBUTES_PATCH): the signed proposal, the votes
    // and the certificates pass the patched verifier, and bursts publish through a timer.
    name: 'mission-statechart-strict-signatures',
    run: ownerControlsAndRecovery,
  },
  {
    // Signed owner commands (SIGNED_OWNER_COMMANDS_PATCH): controller keys pinned at start, a
    // signed pause for this mission on `control`, a forged unsigned pause and a pause from an
    // unknown signer refused, a signed batch resume on `ownerControl`, one beat to the end.
    name: 'mission-statechart-signed-owner-commands',
    run: signedOwnerCommands,
  },
  {
    // INVARIANT_QUARANTINE_PATCH: a mission continued from a snapshot that breaks the
    // quorum-certificate invariant quarantines itself after its first transition. It then holds
    // for good, so it is terminated once QUARANTINED and licensed.
    name: 'mission-statechart-invariant-quarantine',
    async run(client, taskQueue, missionId) {
      const handle = await startFromBrokenSnapshot(client, taskQueue, missionId);
      const ok = (v: MissionView) => {
        const state = (v as { state?: StateDocument }).state;
        return v.phase === 'QUARANTINED' && state?.boot.phase === 'LICENSED';
      };
      const v = await eventually(() => handle.query(stateQuery), ok, 60_000);
      if (!ok(v)) throw new Error(`recording stalled at ${JSON.stringify(v).slice(0, 1000)}`);
      await handle.terminate('fixture recorded');
      return handle.fetchHistory();
    },
  },
  {
    // The same story after TIMER_SUMMARIES_PATCH: the window waits, the review window's approval
    // wait and the search-attribute throttle start their timers with a summary for the Web UI.
    name: 'mission-statechart-timer-summaries',
    run: signedOwnerCommands,
  },
  {
    // A timer shard as it ran before it wrote timer events: a webhook timer that fires and is
    // dead-lettered (loopback is refused: nothing is allowed), and a later one cancelled.
    name: 'timer-shard-before-events',
    run: timerShard,
  },
  {
    // The same story with the timer event log (TIMER_EVENTS_PATCH): each state change is
    // written by a recordTimerEvents activity, one write at a time.
    name: 'timer-shard-events',
    run: timerShard,
  },
  {
    // The same story after TIMER_BOOKKEEPING_PATCH: the events ride on the webhook's delivery,
    // and what comes after goes out with the cancelled timer's archive in recordShardBookkeeping.
    name: 'timer-shard-bookkeeping',
    run: timerShard,
  },
  {
    // A mission started under the deployment's halt (HALT_AT_START_PATCH): the signed pause in its
    // start input, endorsed by an owner, applied before BOOT; a signed batch resume; one beat to the end.
    name: 'mission-statechart-halt-at-start',
    run: haltAtStart,
  },
  {
    // The deployment's control workflow: started by a setHalt update, the halt lifted, queried.
    name: 'control-halt-set-and-lifted',
    run: controlHalt,
  },
  {
    // The signed-owner-commands story after DURABLE_APPEND_PATCH: every decision and owner record
    // is appended by an ordinary activity that a completed workflow task scheduled.
    name: 'mission-statechart-durable-append',
    run: signedOwnerCommands,
  },
  {
    // A timer shard under an owner halt (docs/timers.md#owner-halt): a refused unsigned halt, a
    // halt endorsed by the owner, a timer that falls due under it, the lift that fires it late.
    name: 'timer-shard-owner-halt',
    run: timerShardHalt,
  },
  {
    // HISTORY_CONTINUE_AS_NEW_PATCH: a mission held in council election, moved only by signed
    // Policy_Update proposals, continues as new once its history passes 200 events (no beat ever
    // completes). The fixture is the first run, up to its continue-as-new.
    name: 'mission-statechart-history-continue-as-new',
    run: longHistoryFirstRun,
  },
  {
    // The signed-owner-commands story after DEFERRED_APPEND_PATCH (docs/lifecycle.md#the-ledger-append):
    // each Update answers in the task that accepted it, and the decisions and owner records go to
    // the ledger in batches of what accumulated while the previous append ran, drained before the
    // mission completes.
    name: 'mission-statechart-deferred-append',
    run: signedOwnerCommands,
  },
  {
    // The history continue-as-new story after DEFERRED_APPEND_PATCH: the run continues as new only
    // once every queued decision is in the ledger.
    name: 'mission-statechart-deferred-append-continue-as-new',
    run: longHistoryFirstRun,
  },
  {
    // DECLARED_AGENTS_PATCH: the mission's config declares its own `greeter` agent (docs/agents.md)
    // and names it as the beat agent; one auto-approved beat runs it instead of the echo agent.
    name: 'mission-statechart-declared-agents',
    async run(client, taskQueue, missionId) {
      const handle = await startDeclaredAgentMission(client, taskQueue, missionId);
      await handle.result();
      return handle.fetchHistory();
    },
  },
  {
    // OUTPUT_SCAN_PATCH: the beat's agent prints an AWS-key-like string; its output is withheld
    // and the mission quarantines itself naming the task and rule. It then holds, so it is
    // terminated once QUARANTINED.
    name: 'mission-statechart-output-scan',
    async run(client, taskQueue, missionId) {
      const handle = await startDeclaredAgentMission(client, taskQueue, missionId, leakerConfig());
      const ok = (v: MissionView) => (v as { state?: StateDocument }).state?.policy.phase === 'QUARANTINED';
      const v = await eventually(() => handle.query(stateQuery), ok, 90_000);
      if (!ok(v)) throw new Error(`recording stalled at ${JSON.stringify(v).slice(0, 1000)}`);
      await handle.terminate('fixture recorded');
      return handle.fetchHistory();
    },
  },
  {
    // Proposal screening (workflows/mission/proposal-breach.ts): a signer's proposal with a secret
    // in its inputs is screened (refused, so not in history) and the secret-free breach report
    // quarantines the mission. It then holds, so it is terminated once QUARANTINED.
    name: 'mission-statechart-proposal-breach',
    async run(client, taskQueue, missionId) {
      const signer = newSigner();
      const handle = await startMissionWith(client, taskQueue, prompt(missionId), {
        signers: [{ key: signer.key, classes: ['control', 'approval'], label: 'owner' }],
        schedule: FAST_SCHEDULE,
      });
      const state = async () => (await handle.query(stateQuery)) as MissionView & { state: StateDocument };
      await eventually(state, (v) => v.state?.execution.phase === 'REVIEW', 90_000);
      const sign = proposalSigner(missionId, signer, FAST_SCHEDULE);
      const findings = [
        { rule_id: 'SHHH-SECRET-CONTENT', pattern: 'aws-access-key-id', field: 'inputs.reason' },
      ];
      // HEAD may move between reading it and the two updates: read it again and retry.
      for (let i = 0; i < 10 && (await state()).state.policy.phase === 'CLEAR'; i++) {
        const proposal = sign((await state()).hash!, 'Control_Pause', { reason: `rotate ${LEAKED_KEY}` });
        const report = await handle
          .executeUpdate(screenProposalUpdate, { args: [{ proposal, findings }] })
          .then(
            () => undefined,
            (error: unknown) =>
              error instanceof WorkflowUpdateFailedError &&
              error.cause instanceof ApplicationFailure &&
              error.cause.type === PROPOSAL_BREACH_CONFIRMED
                ? (error.cause.details?.[0] as ProposalBreachReport)
                : undefined,
          );
        if (report)
          await handle.executeUpdate(proposalBreachUpdate, { args: [report] }).catch(() => undefined);
      }
      const v = await state();
      if (v.state.policy.phase !== 'QUARANTINED')
        throw new Error(`recording stalled at ${JSON.stringify(v).slice(0, 1000)}`);
      await handle.terminate('fixture recorded');
      return handle.fetchHistory();
    },
  },
  {
    // SNAPSHOT_CARRIES_CONTROLS_PATCH: a long-history mission takes a signed latency change,
    // continues as new, and takes a signed reroute. The fixture is the second run: it starts from
    // a snapshot with owner controls and numbers its owner record after the first run's.
    name: 'mission-statechart-continued-controls',
    async run(client, taskQueue, missionId) {
      const controller = newSigner();
      const m = await startLongHistoryMission(client, taskQueue, missionId, 200, [controller.key]);
      const { secondRunId } = await ownerCommandsAcrossContinueAsNew(client, m, controller);
      const handle = client.workflow.getHandle(m.workflowId, secondRunId);
      await handle.terminate('fixture recorded');
      return handle.fetchHistory();
    },
  },
  {
    // LICENCE_WATCH_PATCH: a licence that lives 8 seconds, re-checked by the licence watch while
    // the council waits in ELECT (no beat ever reaches PLAN), lapses: GRACE. The fixture ends there.
    name: 'mission-statechart-licence-watch',
    deps: async (base) => ({ licence: await shortLicence(base.dataDir, 8_000) }),
    async run(client, taskQueue, missionId) {
      const members = ['alice', 'bob', 'carol'].map((id) => ({ id, key: newSigner().key }));
      const handle = await client.workflow.start('missionWorkflow', {
        workflowId: missionWorkflowId(missionId),
        taskQueue,
        args: [
          {
            id: missionId,
            objective: 'Recorded fixture: a licence lapses while the regions run',
            priority: 'P2',
            originatingSpec: 'https://specs.example.org/licence-watch',
            createdAt: '2026-12-02T09:00:00.000Z',
          },
          { config: { council: { roles: ['planner'], members }, schedule: FAST_SCHEDULE } },
        ],
      });
      const ok = (v: MissionView) =>
        (v as MissionView & { state?: StateDocument }).state?.boot.phase === 'GRACE';
      const v = await eventually(() => handle.query(stateQuery), ok, 60_000);
      if (!ok(v)) throw new Error(`recording stalled at ${JSON.stringify(v).slice(0, 1000)}`);
      // The deferred append trails the transition: the fixture ends once Boot_LicenseGrace is in the ledger.
      const history = await eventually(() => handle.fetchHistory(), appended('Boot_LicenseGrace'), 30_000);
      if (!appended('Boot_LicenseGrace')(history))
        throw new Error('the Boot_LicenseGrace append never completed');
      await handle.terminate('fixture recorded');
      return history;
    },
  },
  compensation(),
  ...otherWorkflowScenarios,
  {
    // SCAN_AS_ACTIVITY_PATCH: the held mission's Policy_Update proposals, each scanned by an
    // ordinary policyScan activity scheduled by the transition update's handler.
    name: 'mission-statechart-policy-scan-activity',
    run: longHistoryFirstRun,
  },
  {
    // COALESCED_APPEND_PATCH (docs/lifecycle.md#the-ledger-append): the signed-owner-commands story
    // with each append waiting up to a second for the decisions after it, hurried at the end.
    name: 'mission-statechart-coalesced-append',
    run: signedOwnerCommands,
  },
  {
    // COALESCED_APPEND_PATCH with history continue-as-new: the long history hurries the appends
    // of the busy mission, so it drains and continues as new.
    name: 'mission-statechart-coalesced-append-continue-as-new',
    run: longHistoryFirstRun,
  },
  {
    // SPACED_APPENDS_PATCH (docs/lifecycle.md#the-ledger-append): the signed-owner-commands story
    // with every append, not only the first, starting a second after the one before it.
    name: 'mission-statechart-spaced-appends',
    run: signedOwnerCommands,
  },
  {
    // SPACED_APPENDS_PATCH with history continue-as-new: proposals back to back, so append after
    // append waits out its second (its timer cancelled by the transition that finds the second
    // up), then the seal hurries and drains the queue.
    name: 'mission-statechart-spaced-appends-continue-as-new',
    run: longHistoryFirstRun,
  },
  {
    // PROMPT_STEPS_PATCH (docs/lifecycle.md, "Prompt steps"): proposals decided in their update
    // handler's own call, two on one HEAD at once, then proposals waiting for their policy scan
    // until the run continues as new.
    name: 'mission-statechart-prompt-steps',
    run: promptSteps,
  },
  {
    // REQUEST_ECHO_PATCH (docs/api.md, "Idempotency"): proposals naming their request, one sent
    // again under another request id (answered the first's), one naming none.
    name: 'mission-statechart-request-echo',
    run: requestEcho,
  },
  {
    // TIMER_DIGESTS_PATCH (docs/timers.md#compact-shards): a dead letter discarded and a scheduled
    // timer cancelled close into digests, their records archived by archiveClosedTimers; one id
    // forwarded to the other shard (docs/timers.md#rollover) and a create for it refused there.
    name: 'timer-shard-digests',
    run: timerShardDigests,
  },
  {
    // TIMER_CHAIN_ROLLOVER_PATCH (docs/timers.md#rollover): shard 0 of 3, full, fires a timer whose
    // chain link is homed there; the link is forwarded to shard 1, full too, which sends it back
    // (placementFull), and then to shard 2, which holds it.
    name: 'timer-shard-chain-rollover',
    run: timerShardChainRollover,
  },
  {
    // QUIET_CONTINUE_AS_NEW_PATCH (docs/lifecycle.md, "Closing a run quietly"): the held mission of
    // the history continue-as-new fixture, moved by one proposal after another, publishes its search
    // attributes at once and lets the throttle's timer fire before it seals. The first run only.
    name: 'mission-statechart-quiet-continue-as-new',
    run: longHistoryFirstRun,
  },
  {
    // TIMER_QUIET_CLOSE_PATCH (docs/timers.md#inside-a-shard): a shard whose history passes 60
    // events while timers fall due every 100 ms drains, stops setting durable timers, waits out the
    // one about to fire and continues as new. The fixture is the first run, up to its continue-as-new.
    name: 'timer-shard-quiet-close',
    run: timerShardQuietClose,
  },
  {
    // TIMER_PAGING_PATCH (docs/timers.md#parked-timers): two timers due past the park-after
    // setting are parked and one near is held; a create of a parked id with another spec is
    // refused by the store; a parked timer is cancelled; a page-in takes both back, the cancelled
    // one cancelled. The fixture ends once the shard holds them.
    name: 'timer-shard-parked',
    run: timerShardParked,
  },
  {
    // TIMER_RETIRE_PATCH (docs/timers.md#retired-digests): a parking shard with little room
    // cancels timer after timer until its digests fill three quarters of it and it retires them to
    // the store; a create of a retired id with its spec is answered from the store, with another
    // spec refused. The fixture ends once both answers are in.
    name: 'timer-shard-retired',
    run: timerShardRetired,
  },
  {
    // TIMER_RETIRE_EARLY_PATCH (docs/timers.md#retired-digests): a parking shard with room to spare
    // hands its digests to the store once a batch (here two) waits. The fixture ends once the
    // shard holds none.
    name: 'timer-shard-retired-early',
    run: timerShardRetiredEarly,
  },
  {
    // TIMER_DRAIN_WAKE_PATCH: creates of parked timers, sent together, take the history past its
    // 40-event limit while nothing else is due; the run drains and continues as new once they are
    // answered. The fixture is that first run, which ends continued as new.
    name: 'timer-shard-drain-wake',
    run: timerShardDrainWake,
  },
  {
    // TIMER_ALARM_PATCH (docs/timers.md#alarms): the quiet-close story with alarms: timers due
    // every 100 ms wake the shard by alarms, with no durable timer, and the draining run waits
    // for its alarms to ring before it continues as new. The fixture is the first run.
    name: 'timer-shard-alarm',
    run: timerShardQuietClose,
  },
];

/**
 * COMPENSATION_PATCH: the mission's spec is a file missing from its inputs folder, so the fetch
 * fails for good (SourceRefused) and the mission goes DEGRADED instead of failing; once the file is
 * written the retried fetch succeeds, ingestion reaches READY and the orchestrator takes
 * Control_Resume. The fixture ends once that resume is in the ledger.
 */
function compensation(): Scenario {
  let inputsDir = '';
  return {
    name: 'mission-statechart-compensation',
    deps: () => {
      inputsDir = mkdtempSync(join(tmpdir(), 'swoosh-fixture-inputs-'));
      return Promise.resolve({ inputsDir });
    },
    async run(client, taskQueue, missionId) {
      const spec = join(inputsDir, 'spec.md');
      const handle = await client.workflow.start('missionWorkflow', {
        workflowId: missionWorkflowId(missionId),
        taskQueue,
        args: [
          {
            id: missionId,
            objective: 'Recorded fixture: a fetch that fails for good is compensated',
            priority: 'P2',
            originatingSpec: pathToFileURL(spec).href,
            createdAt: '2026-12-03T09:00:00.000Z',
          },
          { config: { schedule: FAST_SCHEDULE } },
        ],
      });
      const state = (v: MissionView) => (v as MissionView & { state?: StateDocument }).state;
      const degraded = (v: MissionView) => v.phase === 'DEGRADED';
      const d = await eventually(() => handle.query(stateQuery), degraded, 60_000);
      if (!degraded(d)) throw new Error(`recording stalled at ${JSON.stringify(d).slice(0, 1000)}`);
      writeFileSync(spec, '# Recorded fixture spec\n');
      const back = (v: MissionView) =>
        state(v)?.control.phase === 'RUNNING' && state(v)?.ingestion.phase === 'READY';
      const b = await eventually(() => handle.query(stateQuery), back, 60_000);
      if (!back(b)) throw new Error(`recording stalled at ${JSON.stringify(b).slice(0, 1000)}`);
      const history = await eventually(() => handle.fetchHistory(), appended('Control_Resume'), 30_000);
      if (!appended('Control_Resume')(history)) throw new Error('the Control_Resume append never completed');
      await handle.terminate('fixture recorded');
      return history;
    },
  };
}

/** Whether a history has a completed recordDecisions activity that appended `transition`. */
function appended(transition: string): (history: History) => boolean {
  return (history) => {
    const events = history.events ?? [];
    const scheduled = new Set(
      events.flatMap((e) => {
        const task = e.activityTaskScheduledEventAttributes;
        if (task?.activityType?.name !== 'recordDecisions') return [];
        const payload = Buffer.from(task.input?.payloads?.[0]?.data ?? []).toString('utf8');
        const drafts = JSON.parse(payload) as { transition: string }[];
        return drafts.some((d) => d.transition === transition) ? [String(e.eventId)] : [];
      }),
    );
    return events.some((e) =>
      scheduled.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
    );
  };
}

/** A checker of a licence the development issuer in `dataDir` signs now, valid for `lifeMs`. */
async function shortLicence(dataDir: string, lifeMs: number): Promise<LicenceChecker> {
  const paths = dataPaths(dataDir);
  const issuer = await loadSigner(paths.licenceIssuerKey, 'licence-issuer');
  const now = new Date();
  const file = join(dataDir, 'short-licence.token');
  const token = signLicence(
    {
      v: 1,
      id: `short-${now.getTime()}`,
      issuer: issuer.keyId,
      licensee: 'fixture',
      seats: 1,
      features: ['development'],
      issuedAt: now.toISOString(),
      notBefore: now.toISOString(),
      expiresAt: new Date(now.getTime() + lifeMs).toISOString(),
    },
    issuer,
  );
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return new LicenceChecker({
    issuerKey: issuer.keyId,
    source: { kind: 'file', path: file },
    graceMs: 24 * 3600_000,
    refreshMs: 500,
    retryMs: 500,
    timeoutMs: 5_000,
  });
}

async function timerShard(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const idPrefix = `fixture-${missionId}`;
  const input: TimerShardInput = { shard: 0, shardCount: 1, idPrefix };
  const handle = await client.workflow.start(TIMER_SHARD_WORKFLOW_TYPE, {
    workflowId: shardWorkflowId(idPrefix, 0),
    taskQueue,
    args: [input],
  });
  const createdBy = { name: 'fixture', role: 'operator' } as const;
  await handle.executeUpdate(createTimersUpdate, {
    args: [
      {
        specs: [
          { id: 'fixture-soon', delayMs: 500, action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } },
          {
            id: 'fixture-later',
            delayMs: 600_000,
            action: { type: 'webhook', url: 'https://example.org/h' },
          },
        ],
        createdBy,
      },
    ],
  });
  await eventually(
    () => handle.query(timerQuery, 'fixture-soon'),
    (t) => t?.state === 'DeadLettered',
    30_000,
  );
  await handle.executeUpdate(cancelTimerUpdate, { args: [{ id: 'fixture-later', caller: createdBy }] });
  const history = await handle.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

/** Shard 0 of 1, its own id prefix per recording, with `settings`. */
async function startFixtureShard(
  client: Client,
  taskQueue: string,
  missionId: string,
  settings: TimerShardInput['settings'],
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const idPrefix = `fixture-${missionId}`;
  const input: TimerShardInput = { shard: 0, shardCount: 1, idPrefix, ...(settings && { settings }) };
  return await client.workflow.start(TIMER_SHARD_WORKFLOW_TYPE, {
    workflowId: shardWorkflowId(idPrefix, 0),
    taskQueue,
    args: [input],
  });
}

async function timerShardQuietClose(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const handle = await startFixtureShard(client, taskQueue, missionId, { maxHistoryEvents: 60 });
  const specs = Array.from({ length: 60 }, (_, i) => ({
    id: `fixture-${i}`,
    delayMs: 1_000 + i * 100,
    action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } as const,
  }));
  await handle.executeUpdate(createTimersUpdate, {
    args: [{ specs, createdBy: { name: 'fixture', role: 'operator' } }],
  });
  const first = client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
  await eventually(
    () => first.describe(),
    (d) => d.status.name === 'CONTINUED_AS_NEW',
    60_000,
  );
  const history = await first.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

async function timerShardParked(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const handle = await startFixtureShard(client, taskQueue, missionId, { parkAfterMs: 90_000 });
  const createdBy = { name: 'fixture', role: 'operator' } as const;
  const webhook = { type: 'webhook', url: 'http://127.0.0.1:9/hook' } as const;
  await handle.executeUpdate(createTimersUpdate, {
    args: [
      {
        specs: [
          { id: 'parked-a', delayMs: 91_000, action: webhook },
          { id: 'parked-b', delayMs: 92_000, action: webhook },
          { id: 'near', delayMs: 500, action: webhook },
        ],
        createdBy,
      },
    ],
  });
  await handle
    .executeUpdate(createTimersUpdate, {
      args: [{ specs: [{ id: 'parked-a', delayMs: 120_000, action: webhook }], createdBy }],
    })
    .then(
      () => {
        throw new Error('a parked id was created again with another spec');
      },
      () => undefined,
    );
  await handle.executeUpdate(cancelTimerUpdate, { args: [{ id: 'parked-b', caller: createdBy }] });
  const takenBack = await eventually(
    () => Promise.all([handle.query(timerQuery, 'parked-a'), handle.query(timerQuery, 'parked-b')]),
    ([a, b]) => a !== null && b !== null,
    90_000,
  );
  if (takenBack[0] === null || takenBack[1]?.state !== 'Cancelled')
    throw new Error(`recording stalled at ${JSON.stringify(takenBack)}`);
  const history = await handle.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

async function timerShardRetired(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const handle = await startFixtureShard(client, taskQueue, missionId, {
    parkAfterMs: 90_000,
    snapshotBudgetBytes: 2_000,
  });
  const createdBy = { name: 'fixture', role: 'operator' } as const;
  const spec = (id: string, delayMs = 60_000) =>
    ({ id, delayMs, action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } }) as const;
  for (let i = 0; (await handle.query(shardStatusQuery)).digests === i; i++) {
    if (i === 20) throw new Error('the shard never retired its digests');
    await handle.executeUpdate(createTimersUpdate, { args: [{ specs: [spec(`gone-${i}`)], createdBy }] });
    await handle.executeUpdate(cancelTimerUpdate, { args: [{ id: `gone-${i}`, caller: createdBy }] });
    await eventually(
      () => handle.query(shardStatusQuery),
      (status) => status.digests !== i,
      10_000,
    );
  }
  const [answered] = await handle.executeUpdate(createTimersUpdate, {
    args: [{ specs: [spec('gone-0')], createdBy }],
  });
  if (answered?.created !== false || answered.timer.state !== 'Cancelled')
    throw new Error(`a retired id was not answered from the store: ${JSON.stringify(answered)}`);
  await handle
    .executeUpdate(createTimersUpdate, { args: [{ specs: [spec('gone-0', 30_000)], createdBy }] })
    .then(
      () => {
        throw new Error('a retired id was created again with another spec');
      },
      () => undefined,
    );
  const history = await handle.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

async function timerShardRetiredEarly(
  client: Client,
  taskQueue: string,
  missionId: string,
): Promise<History> {
  const handle = await startFixtureShard(client, taskQueue, missionId, {
    parkAfterMs: 90_000,
    retireAfterDigests: 2,
  });
  const createdBy = { name: 'fixture', role: 'operator' } as const;
  for (const id of ['early-0', 'early-1']) {
    const spec = {
      id,
      delayMs: 60_000,
      action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' },
    } as const;
    await handle.executeUpdate(createTimersUpdate, { args: [{ specs: [spec], createdBy }] });
    await handle.executeUpdate(cancelTimerUpdate, { args: [{ id, caller: createdBy }] });
  }
  const status = await eventually(
    () => handle.query(shardStatusQuery),
    (s) => s.digests === 0,
    30_000,
  );
  if (status.digests !== 0) throw new Error(`the shard kept its digests: ${JSON.stringify(status)}`);
  const history = await handle.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

async function timerShardDrainWake(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const handle = await startFixtureShard(client, taskQueue, missionId, {
    parkAfterMs: 600_000,
    maxHistoryEvents: 40,
  });
  await Promise.all(
    Array.from({ length: 8 }, (_, u) =>
      handle.executeUpdate(createTimersUpdate, {
        args: [
          {
            specs: Array.from({ length: 20 }, (_, i) => ({
              id: `drained-${u}-${i}`,
              delayMs: 3_600_000 + u * 60_000,
              action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } as const,
            })),
          },
        ],
      }),
    ),
  );
  const status = await eventually(
    () => handle.query(shardStatusQuery),
    (s) => s.runs > 0,
    30_000,
  );
  if (status.runs === 0) throw new Error('the drained run did not continue as new');
  const first = client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
  const history = await first.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

async function timerShardHalt(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const controller = newSigner();
  const owner = newSigner();
  const handle = await startFixtureShard(client, taskQueue, missionId, {
    owners: { keys: [owner.key], quorum: 1 },
  });
  const command = { actor: 'alice@ops', reason: 'fixture' } as const;
  const unsigned = signedCommand(
    controller,
    { ...command, action: 'pause', id: 'fixture-forged' },
    null,
    Date.now(),
  );
  await handle.executeUpdate(haltTimersUpdate, { args: [unsigned] }).then(
    () => {
      throw new Error('a halt without owner signatures was taken');
    },
    () => undefined,
  );
  await handle.executeUpdate(haltTimersUpdate, {
    args: [endorsed(controller, owner, { ...command, action: 'pause', id: 'fixture-halt' })],
  });
  await handle.executeUpdate(createTimersUpdate, {
    args: [
      {
        specs: [
          { id: 'fixture-held', delayMs: 300, action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } },
        ],
        createdBy: { name: 'fixture', role: 'operator' },
      },
    ],
  });
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const held = await handle.query(timerQuery, 'fixture-held');
  if (held?.state !== 'Armed' || held.heldByHalt !== 'fixture-halt')
    throw new Error(`the halt did not hold the timer: ${JSON.stringify(held)}`);
  await handle.executeUpdate(liftTimersUpdate, {
    args: [endorsed(controller, owner, { ...command, action: 'resume', id: 'fixture-lift' })],
  });
  await eventually(
    () => handle.query(timerQuery, 'fixture-held'),
    (t) => t?.state === 'DeadLettered',
    30_000,
  );
  const history = await handle.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

async function signedOwnerCommands(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const controller = newSigner();
  const handle = await client.workflow.start('missionWorkflow', {
    workflowId: missionWorkflowId(missionId),
    taskQueue,
    args: [
      {
        id: missionId,
        objective: 'Recorded fixture: signed owner commands',
        priority: 'P1',
        originatingSpec: 'https://specs.example.org/fixture',
        createdAt: '2026-11-23T09:00:00.000Z',
      },
      { config: { autoApprove: true, maxBeats: 1, schedule: FAST_SCHEDULE }, controllers: [controller.key] },
    ],
  });
  const until = (ok: (v: MissionView) => boolean) =>
    eventually(() => handle.query(stateQuery), ok, 60_000).then((v) => {
      if (!ok(v)) throw new Error(`recording stalled at ${JSON.stringify(v).slice(0, 1000)}`);
      return v;
    });
  const pause = { action: 'pause', actor: 'bob@ops', reason: 'fixture pause' } as const;
  await handle.signal(
    controlSignal,
    signedCommand(controller, { ...pause, id: 'fixture-pause' }, missionId, Date.now()),
  );
  await until((v) => v.controls?.applied.length === 1);
  await handle.signal(ownerControlSignal, { ...pause, id: 'fixture-forged' });
  await handle.signal(
    ownerControlSignal,
    signedCommand(newSigner(), { ...pause, id: 'fixture-stranger' }, null, Date.now()),
  );
  await until((v) => v.controls?.refused?.length === 2);
  const resume = {
    action: 'resume',
    id: 'fixture-resume',
    actor: 'alice@ops',
    reason: 'fixture resume',
  } as const;
  await handle.signal(ownerControlSignal, signedCommand(controller, resume, null, Date.now()));
  await handle.result();
  return client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
}

/**
 * Owner controls and automatic RECOVERY (with local activities on the transition path): pause
 * and resume with an actor, a reroute and a latency change, then a council member ejected by a
 * signed proposal — RECOVERY by itself, a new quorum certificate from signed votes, a re-locked
 * plan — and two beats to the end.
 */
async function ownerControlsAndRecovery(
  client: Client,
  taskQueue: string,
  missionId: string,
): Promise<History> {
  const members = { alice: newSigner(), bob: newSigner(), carol: newSigner() };
  const chair = newSigner();
  const workflowId = missionWorkflowId(missionId);
  const handle = await client.workflow.start('missionWorkflow', {
    workflowId,
    taskQueue,
    args: [
      {
        id: missionId,
        objective: 'Recorded fixture: owner controls and recovery',
        priority: 'P1',
        originatingSpec: 'https://specs.example.org/fixture',
        createdAt: '2026-11-23T09:00:00.000Z',
      },
      {
        config: {
          autoApprove: true,
          maxBeats: 2,
          signers: [{ key: chair.key, classes: ['council'], label: 'chair' }],
          council: {
            roles: ['planner', 'reviewer'],
            members: Object.entries(members).map(([id, s]) => ({ id, key: s.key })),
          },
          schedule: FAST_SCHEDULE,
        },
      },
    ],
  });
  const view = async () =>
    (await handle.query(stateQuery)) as MissionView & { state: StateDocument; hash: string };
  const until = async (ok: (v: Awaited<ReturnType<typeof view>>) => boolean) => {
    const v = await eventually(view, (x) => x.state !== undefined && ok(x), 60_000);
    if (!ok(v)) throw new Error(`recording stalled at ${JSON.stringify(v.state).slice(0, 1000)}`);
    return v;
  };

  await handle.signal(controlSignal, { action: 'pause', reason: 'fixture pause', actor: 'bob@ops' });
  await until((v) => v.state.control.phase === 'PAUSED');
  await handle.signal(ownerControlSignal, {
    action: 'reroute',
    id: 'fixture-reroute',
    actor: 'alice@ops',
    reason: 'fixture reroute (same queue, named explicitly)',
    taskQueue,
  });
  await handle.signal(ownerControlSignal, {
    action: 'latency',
    id: 'fixture-latency',
    actor: 'alice@ops',
    reason: 'fixture latency change',
    budgets: { short: 20, agent: 120 },
  });
  await handle.signal(ownerControlSignal, {
    action: 'resume',
    id: 'fixture-resume',
    actor: 'bob@ops',
    reason: 'fixture resume',
  });
  const electing = await until(
    (v) => v.state.council.phase === 'ELECT' && v.state.control.phase === 'RUNNING',
  );
  const firstSet = electing.state.council.council_set_hash!;
  for (const m of ['alice', 'bob'] as const)
    await handle.executeUpdate(voteUpdate, { args: [vote(m, firstSet, missionId, members[m])] });
  const working = await until((v) => v.state.council.phase === 'READY' && v.state.execution.phase !== 'IDLE');
  const eject = propose(
    working.state,
    chair,
    'Council_Eject',
    { members: ['bob'], reason: 'tool server down' },
    Date.now(),
    FAST_SCHEDULE,
  );
  await handle.executeUpdate(transitionUpdate, { args: [eject], updateId: eject.idem_key });
  const recovering = await until((v) => v.state.control.phase === 'RECOVERY');
  const newSet = recovering.state.council.council_set_hash!;
  for (const m of ['alice', 'carol'] as const)
    await handle.executeUpdate(voteUpdate, { args: [vote(m, newSet, missionId, members[m])] });
  await handle.result();
  return client.workflow.getHandle(workflowId, handle.firstExecutionRunId).fetchHistory();
}

/** A broadcast command signed by `controller`, endorsed by `owner` over the same bytes. */
function endorsed(
  controller: TestSigner,
  owner: TestSigner,
  command: OwnerControlCommand,
): SignedOwnerCommand {
  const signed = signedCommand(controller, command, null, Date.now());
  const signature = signDetached(ownerCommandSigningBytes(signed), owner.secret);
  return { ...signed, endorsements: [{ signer: owner.key, signature }] };
}

async function haltAtStart(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const controller = newSigner();
  const owner = newSigner();
  const halt = endorsed(controller, owner, {
    action: 'pause',
    id: 'fixture-halt',
    actor: 'alice@ops',
    reason: 'fixture halt',
  });
  const handle = await client.workflow.start('missionWorkflow', {
    workflowId: missionWorkflowId(missionId),
    taskQueue,
    args: [
      {
        id: missionId,
        objective: 'Recorded fixture: started under a halt',
        priority: 'P1',
        originatingSpec: 'https://specs.example.org/fixture',
        createdAt: '2026-11-23T09:00:00.000Z',
      },
      {
        config: { autoApprove: true, maxBeats: 1, schedule: FAST_SCHEDULE },
        controllers: [controller.key],
        halt,
      },
    ],
  });
  const paused = await eventually(
    () => handle.query(stateQuery),
    (v) => v.phase === 'PAUSED' && v.controls?.applied.length === 1,
    60_000,
  );
  if (paused.phase !== 'PAUSED')
    throw new Error(`recording stalled at ${JSON.stringify(paused).slice(0, 1000)}`);
  const resume = {
    action: 'resume',
    id: 'fixture-lift',
    actor: 'alice@ops',
    reason: 'fixture lift',
  } as const;
  await handle.signal(ownerControlSignal, endorsed(controller, owner, resume));
  await handle.result();
  return client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
}

async function controlHalt(client: Client, taskQueue: string): Promise<History> {
  const controller = newSigner();
  const owner = newSigner();
  const command = { actor: 'alice@ops', reason: 'fixture' } as const;
  const workflowId = controlWorkflowId(taskQueue);
  await client.workflow.executeUpdateWithStart(setHaltUpdate, {
    args: [endorsed(controller, owner, { ...command, action: 'pause', id: 'fixture-halt' })],
    startWorkflowOperation: new WithStartWorkflowOperation(CONTROL_WORKFLOW_TYPE, {
      workflowId,
      taskQueue,
      args: [{ halt: null, lifted: null }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
  const handle = client.workflow.getHandle(workflowId);
  await handle.executeUpdate(liftHaltUpdate, {
    args: [endorsed(controller, owner, { ...command, action: 'resume', id: 'fixture-lift' })],
  });
  const state = await handle.query(haltQuery);
  if (state.halt !== null || state.lifted?.command.id !== 'fixture-lift')
    throw new Error(`control workflow did not lift the halt: ${JSON.stringify(state)}`);
  const history = await handle.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

/** A long-history mission's first run, up to its continue-as-new past 200 events. */
async function longHistoryFirstRun(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const m = await startLongHistoryMission(client, taskQueue, missionId, 200);
  await untilContinuedAsNew(client, m);
  const history = await client.workflow.getHandle(m.workflowId, m.firstRunId).fetchHistory();
  await client.workflow.getHandle(m.workflowId).terminate('fixture recorded');
  return history;
}

/**
 * The held long-history mission takes Control_Pause and Control_Resume proposals (no verdict to
 * fetch, so each is decided and committed in its handler's call), then two pauses signed on the
 * same HEAD at once, of which only one is accepted, then a resume and Policy_Update proposals (each
 * waits for its policy scan) until the first run continues as new. Its history is the fixture.
 */
async function promptSteps(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const m = await startLongHistoryMission(client, taskQueue, missionId, 200);
  const sign = proposalSigner(missionId, m.owner, TEST_SCHEDULE);
  const latest = client.workflow.getHandle(m.workflowId);
  const head = async () => ((await latest.query(stateQuery)) as { hash: string }).hash;
  for (const transition of ['Control_Pause', 'Control_Resume', 'Control_Pause', 'Control_Resume'] as const)
    await m.send(sign(await head(), transition, { reason: 'fixture' }));
  const on = await head();
  const pair = await Promise.allSettled(
    ['first', 'second'].map((reason) => m.send(sign(on, 'Control_Pause', { reason }))),
  );
  const accepted = pair.filter((r) => r.status === 'fulfilled').length;
  if (accepted !== 1) throw new Error(`two pauses on one HEAD: ${accepted} accepted, expected 1`);
  await m.send(sign(await head(), 'Control_Resume', { reason: 'fixture' }));
  await untilContinuedAsNew(client, m);
  const history = await client.workflow.getHandle(m.workflowId, m.firstRunId).fetchHistory();
  await latest.terminate('fixture recorded');
  return history;
}

async function requestEcho(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const m = await startLongHistoryMission(client, taskQueue, missionId, 10_000);
  const sign = proposalSigner(missionId, m.owner, TEST_SCHEDULE);
  const handle = client.workflow.getHandle(m.workflowId);
  const head = async () => ((await handle.query(stateQuery)) as { hash: string }).hash;
  const send = (proposal: TransitionProposal, request_id?: string) =>
    handle.executeUpdate(transitionUpdate, {
      args: request_id === undefined ? [proposal] : [proposal, { request_id }],
      updateId: proposal.idem_key,
    });
  const pause = sign(await head(), 'Control_Pause', { reason: 'fixture' });
  const first = await send(pause, 'fixture-first');
  const again = await send(pause, 'fixture-again');
  if (first.request_id !== 'fixture-first' || again.request_id !== 'fixture-first')
    throw new Error(`request ids not echoed: ${JSON.stringify([first, again])}`);
  await send(sign(await head(), 'Control_Resume', { reason: 'fixture' }));
  const history = await handle.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

async function timerShardDigests(client: Client, taskQueue: string, missionId: string): Promise<History> {
  const idPrefix = `fixture-${missionId}`;
  const input: TimerShardInput = { shard: 0, shardCount: 2, idPrefix };
  const handle = await client.workflow.start(TIMER_SHARD_WORKFLOW_TYPE, {
    workflowId: shardWorkflowId(idPrefix, 0),
    taskQueue,
    args: [input],
  });
  const [failing, later, forwarded] = Array.from({ length: 30 }, (_, i) => `fixture-${i}`).filter(
    (id) => shardOf(id, 2) === 0,
  ) as [string, string, string];
  const createdBy = { name: 'fixture', role: 'operator' } as const;
  const hook = { type: 'webhook', url: 'http://127.0.0.1:9/hook' } as const;
  await handle.executeUpdate(createTimersUpdate, {
    args: [
      {
        specs: [
          { id: failing, delayMs: 500, action: hook, retry: { maxAttempts: 1 } },
          { id: later, delayMs: 600_000, action: hook },
        ],
        createdBy,
      },
    ],
  });
  await eventually(
    () => handle.query(timerQuery, failing),
    (t) => t?.state === 'DeadLettered',
    30_000,
  );
  await handle.executeUpdate(cancelTimerUpdate, { args: [{ id: failing, caller: createdBy }] });
  await handle.executeUpdate(cancelTimerUpdate, { args: [{ id: later, caller: createdBy }] });
  await handle.executeUpdate(forwardTimerUpdate, { args: [{ id: forwarded, shard: 1 }] });
  await handle
    .executeUpdate(createTimersUpdate, { args: [{ specs: [{ id: forwarded, delayMs: 1, action: hook }] }] })
    .then(
      () => {
        throw new Error('a create of a forwarded id was taken by its home shard');
      },
      (error: unknown) => {
        if (!(error instanceof WorkflowUpdateFailedError)) throw error;
      },
    );
  await eventually(
    () => handle.describe(),
    (d) => (d.raw.pendingActivities?.length ?? 0) === 0,
    30_000,
  );
  const history = await handle.fetchHistory();
  await handle.terminate('fixture recorded');
  return history;
}

async function timerShardChainRollover(
  client: Client,
  taskQueue: string,
  missionId: string,
): Promise<History> {
  const idPrefix = `fixture-${missionId}`;
  const shardCount = 3;
  const settings = { snapshotBudgetBytes: 1_500 };
  const shards = [0, 1, 2].map((shard) => client.workflow.getHandle(shardWorkflowId(idPrefix, shard)));
  const ids = Array.from({ length: 200 }, (_, i) => `fixture-${i}`);
  const homedAt = (shard: number) => ids.filter((id) => shardOf(id, shardCount) === shard);
  const hook = { type: 'webhook', url: 'http://127.0.0.1:9/hook' } as const;
  const [head, link] = homedAt(0) as [string, string];
  for (const shard of [0, 1]) {
    await client.workflow.start(TIMER_SHARD_WORKFLOW_TYPE, {
      workflowId: shardWorkflowId(idPrefix, shard),
      taskQueue,
      args: [{ shard, shardCount, idPrefix, settings } satisfies TimerShardInput],
    });
  }
  const createHead = () =>
    shards[0]!.executeUpdate(createTimersUpdate, {
      args: [
        {
          specs: [
            {
              id: head,
              delayMs: 3_000,
              action: hook,
              retry: { maxAttempts: 1 },
              chain: { id: link, delayMs: 600_000, action: hook },
            },
          ],
        },
      ],
    });
  // Shard 1, then shard 0 after the head, take hour-long timers until they refuse one (a refusal
  // leaves no history); the head fires once both are full.
  for (const shard of [1, 0]) {
    if (shard === 0) await createHead();
    for (const id of homedAt(shard).slice(2)) {
      const taken = await shards[shard]!.executeUpdate(createTimersUpdate, {
        args: [{ specs: [{ id, delayMs: 3_600_000, action: hook }] }],
      }).then(
        () => true,
        (error: unknown) => {
          if (!(error instanceof WorkflowUpdateFailedError)) throw error;
          return false;
        },
      );
      if (!taken) break;
    }
  }
  const placed = await eventually(
    () => shards[2]!.query(timerQuery, link).catch(() => null),
    (t) => t?.shard === 2,
    60_000,
  );
  if (placed?.chainedFrom !== head)
    throw new Error(`the link never reached shard 2: ${JSON.stringify(placed)}`);
  await eventually(
    () => shards[0]!.describe(),
    (d) => (d.raw.pendingActivities?.length ?? 0) === 0,
    30_000,
  );
  const history = await shards[0]!.fetchHistory();
  for (const shard of shards) await shard.terminate('fixture recorded');
  return history;
}
