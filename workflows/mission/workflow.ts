import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import {
  type ConfigProblem,
  MissionConfigInput,
  missionConfigProblems,
  type ResolvedMissionConfig,
} from '../../schemas/mission-config';
import {
  type MissionPhase,
  MissionPrompt,
  type MissionView,
  type TransitionRequest,
} from '../../schemas/mission';
import { MissionIdKey, PhaseKey, PriorityKey } from '../../schemas/search-attributes';
import { ControlCommand, Controllers, OwnerControlCommand, UNATTRIBUTED } from '../../schemas/owner-controls';
import {
  controlSignal,
  ownerControlSignal,
  proposalBreachUpdate,
  screenProposalUpdate,
  stateQuery,
  transitionUpdate,
  voteUpdate,
} from '../../schemas/mission-messages';
import { short } from './activities';
import { degrade, failedForGood } from './compensation';
import { MissionEngine, type MissionSnapshot } from './engine';
import { quorumOf } from './council-votes';
import {
  type AdmittedCommand,
  admitOwnerCommand,
  applyOwnerControl,
  controlsView,
  refuseOwnerCommand,
  UNVERIFIED_UNSIGNED,
  type UnsignedReader,
} from './owner-controls';
import { TransitionUpdates } from './transition-update';
import { ProposalBreaches } from './proposal-breach';
import { runBoot, runExecution } from './execution';
import { SEAL_WAIT_MS } from './decision-appends';
import { historyGrewLong, HistoryLimits } from './history';
import { runCouncil, runEnvironment, runIngestion, runRecovery } from './regions';
import { runLicenceWatch } from './licence-watch';
import {
  EMPTY_IDEMPOTENCY,
  initialState,
  parseIdempotencyTable,
  parseStateDocument,
  stateHash,
  verifyDetached,
} from '../statechart';
import { voteSigningBytes } from '../../schemas/signed-bytes';
import { type TransitionProposal, VoteSchema } from '../../schemas/proposal';

/** Start options beside the prompt; a continue-as-new run also carries the snapshot. */
export interface MissionStart {
  config?: unknown;
  /** Keys that may sign this mission's owner commands (schemas/owner-controls.ts `Controllers`). */
  controllers?: unknown;
  resolved?: ResolvedMissionConfig;
  snapshot?: MissionSnapshot;
  /**
   * The deployment's halt when the gateway started this mission: the signed broadcast pause
   * (schemas/owner-controls.ts `SignedOwnerCommand`), which the mission verifies and applies
   * before anything else, so a mission started while halted starts PAUSED.
   */
  halt?: unknown;
  /**
   * When the run's history is long enough to continue as new, beats or not (`history.ts`
   * `HistoryLimits`; the defaults when absent). Carried across continue-as-new.
   */
  history?: unknown;
}

/** The patch that introduced the statechart-driven mission (the skeleton only waited at LICENSE_CHECK). */
export const STATECHART_PATCH = 'swoosh-statechart-v1';
/** The patch that made owner controls carry an actor and land in the decision ledger. */
export const OWNER_CONTROLS_PATCH = 'swoosh-owner-controls-v1';
/**
 * The patch that makes owner signals verified: a mission started under it pins its controller keys
 * and admits only owner commands signed by one of them; a mission started before it keeps
 * accepting unsigned commands, recorded as unverified, so an upgrade strands none.
 */
export const SIGNED_OWNER_COMMANDS_PATCH = 'swoosh-signed-owner-commands-v1';
/** The patch that takes the continue-as-new snapshot inside the engine's mutex. */
export const SNAPSHOT_IN_MUTEX_PATCH = 'swoosh-snapshot-in-mutex-v1';
/**
 * The patch that checks the prompt and config with the gateway's own rules before anything runs
 * (schemas/mission-config.ts `missionConfigProblems`), so a mission that cannot run fails at once
 * with the reason instead of stalling; missions started before it replay without the check.
 */
export const INPUT_CHECK_PATCH = 'swoosh-input-check-v1';
/**
 * The patch that makes a continued run restore what its snapshot carries beside the state: owner
 * controls (budgets, reroute, the commands applied and the count of owner records, which numbers
 * the next one), recovery and the beat's unreviewed evidence. Continued runs recorded before it
 * started without them, and replay so.
 */
export const SNAPSHOT_CARRIES_CONTROLS_PATCH = 'swoosh-snapshot-carries-controls-v1';
/** The patch that applies the deployment's halt (`MissionStart.halt`) at start. */
export const HALT_AT_START_PATCH = 'swoosh-halt-at-start-v1';
/**
 * The patch that lets no publish timer catch a run's continue-as-new (docs/lifecycle.md, "Closing
 * a run quietly"): before sealing, the run publishes its search attributes at once and waits for
 * the throttle's timer to fire. Runs recorded before it seal at once.
 */
export const QUIET_CONTINUE_AS_NEW_PATCH = 'swoosh-quiet-continue-as-new-v1';
/** `ApplicationFailure.type` of a mission that failed because its own input cannot run. */
export const INVALID_MISSION_INPUT = 'InvalidMissionInput';

/**
 * The mission entity workflow (id `mission-<id>`): the one owner of the mission's state document
 * and HEAD hash. It runs BOOT, the three lifecycle regions as concurrent coroutines, then the
 * execution loop; takes outside proposals through the `transition` update; and continues as new
 * with the state document as the snapshot. See docs/lifecycle.md.
 */
export async function missionWorkflow(prompt: MissionPrompt, start: MissionStart = {}): Promise<MissionView> {
  if (!patched(STATECHART_PATCH)) return legacySkeleton(prompt);

  // Answer queries while the orchestrator identity is being resolved.
  setHandler(stateQuery, () => ({
    missionId: prompt.id,
    workflowId: workflowInfo().workflowId,
    phase: 'UNINITIALIZED',
    prompt,
  }));
  if (start.resolved === undefined && patched(INPUT_CHECK_PATCH)) {
    const checked = MissionPrompt.safeParse(prompt);
    if (!checked.success) {
      throw invalidInput(
        'prompt',
        checked.error.issues.map((i) => ({ path: i.path as (string | number)[], message: i.message })),
      );
    }
  }
  const limits = HistoryLimits.safeParse(start.history ?? {});
  if (!limits.success) {
    throw invalidInput(
      'history',
      limits.error.issues.map((i) => ({ path: i.path as (string | number)[], message: i.message })),
    );
  }
  const resolved = start.resolved ?? (await resolveConfig(start.config, start.controllers));
  const snapshot = start.snapshot;
  const carried =
    snapshot !== undefined && patched(SNAPSHOT_CARRIES_CONTROLS_PATCH)
      ? {
          ...(snapshot.controls && { controls: snapshot.controls }),
          ...(snapshot.recovery && { recovery: snapshot.recovery }),
          ...(snapshot.evidence && { evidence: snapshot.evidence }),
          ...(snapshot.faults && { faults: snapshot.faults }),
        }
      : {};
  let engine: MissionEngine;
  try {
    engine = new MissionEngine(prompt.id, resolved, {
      state: snapshot ? parseStateDocument(snapshot.state) : initialState(prompt.id),
      idempotency: snapshot ? parseIdempotencyTable(snapshot.idempotency) : EMPTY_IDEMPOTENCY,
      io: snapshot?.io ?? {},
      sources: snapshot?.sources ?? [],
      votes: snapshot?.votes ?? [],
      beatsCompleted: snapshot?.beatsCompleted ?? 0,
      ...carried,
    });
  } catch (error) {
    // A plain error here would fail the workflow task, and retry it, forever: input that cannot
    // run fails the mission instead, with the reason (this never ran to completion before, so
    // no recorded history changes).
    throw ApplicationFailure.nonRetryable(
      `mission cannot start: ${error instanceof Error ? error.message : String(error)}`,
      INVALID_MISSION_INPUT,
    );
  }
  if (snapshot && stateHash(engine.state) !== snapshot.hash) {
    throw ApplicationFailure.nonRetryable(
      `snapshot hash ${snapshot.hash} does not match its state document (${engine.hash})`,
      'SnapshotCorrupt',
    );
  }

  const view = (): MissionView => ({
    missionId: prompt.id,
    workflowId: workflowInfo().workflowId,
    phase: engine.phase(),
    prompt,
    hash: engine.hash,
    state: engine.state,
    controls: controlsView(engine.controls),
    recovery: engine.recovery.view,
    faults: engine.faults.view,
  });
  const updates = new TransitionUpdates(engine);
  setHandler(stateQuery, view);
  setHandler(
    transitionUpdate,
    (proposal: TransitionProposal, request?: TransitionRequest) => updates.handle(proposal, request),
    {
      validator: (proposal: TransitionProposal, request?: TransitionRequest) =>
        updates.validate(proposal, request),
      description:
        'Apply a signed transition proposal (docs/design.md#proposals); the update id is its idem_key.',
    },
  );
  const breaches = new ProposalBreaches(engine);
  setHandler(screenProposalUpdate, () => Promise.reject(new Error('screenProposal is always refused')), {
    validator: (screening) => breaches.screen(screening),
    description:
      'Check a signed proposal the gateway found secrets in; always refused (docs/design.md#guards).',
  });
  setHandler(proposalBreachUpdate, (report) => breaches.handleReport(report), {
    validator: (report) => breaches.validateReport(report),
    description: 'Quarantine for a proposal breach screenProposal confirmed (docs/design.md#guards).',
  });
  setHandler(
    voteUpdate,
    (raw) => {
      const vote = VoteSchema.parse(raw);
      engine.votes.record(vote);
      const setHash = engine.state.council.council_set_hash ?? '';
      return Promise.resolve({
        accepted: engine.votes.forSet(setHash).length,
        required: quorumOf(engine.state, engine.machine),
      });
    },
    {
      validator: (raw) => validateVote(engine, raw),
      description: 'A council member’s signed vote for the elected member set.',
    },
  );
  // Owner commands are awaited so that allHandlersFinished covers them: a pause must not be lost
  // to a continue-as-new that runs while it is queued behind another transition.
  const ownerSignal = async (raw: unknown, perMission: boolean, readUnsigned: UnsignedReader) => {
    // Checked on arrival, before the mutex, so time spent queued behind a transition never ages it.
    const verdict = admitOwnerCommand(raw, {
      missionId: prompt.id,
      controllers: engine.config.controllers,
      nowMs: Date.now(),
      perMission,
      readUnsigned,
    });
    if (!verdict.ok) return refuseOwnerCommand(engine, verdict.refusal);
    await applyOwnerControl(engine, verdict.admitted).catch((error: unknown) =>
      log.error('owner control failed', { error: String(error) }),
    );
  };
  setHandler(controlSignal, async (raw) => {
    if (patched(SIGNED_OWNER_COMMANDS_PATCH)) return ownerSignal(raw, true, readUnsignedControl);
    if (!patched(OWNER_CONTROLS_PATCH)) {
      const { action, reason } = raw as ControlCommand;
      void engine
        .take(action === 'pause' ? 'Control_Pause' : 'Control_Resume', {
          reason: reason.slice(0, 1024) || action,
        })
        .catch(() => undefined);
      return;
    }
    const command = readUnsignedControl(raw);
    if (!command.ok) {
      log.warn('control signal dropped: it does not parse', { error: command.why });
      return;
    }
    await applyOwnerControl(engine, unverified(command.command)).catch((error: unknown) =>
      log.error('owner control failed', { error: String(error) }),
    );
  });
  setHandler(ownerControlSignal, async (raw) => {
    if (patched(SIGNED_OWNER_COMMANDS_PATCH)) return ownerSignal(raw, false, readUnsignedOwnerControl);
    // Signals cannot be refused: a command that does not parse is logged and changes nothing.
    const command = readUnsignedOwnerControl(raw);
    if (!command.ok) {
      log.warn('owner control dropped: it does not parse', { error: command.why });
      return;
    }
    await applyOwnerControl(engine, unverified(command.command)).catch((error: unknown) =>
      log.error('owner control failed', { error: String(error) }),
    );
  });

  upsertSearchAttributes([
    { key: MissionIdKey, value: prompt.id },
    { key: PriorityKey, value: prompt.priority },
  ]);
  engine.publish();
  // Only a first run starts under a halt; a continued run carries its PAUSED state in the snapshot.
  if (start.halt !== undefined && snapshot === undefined && patched(HALT_AT_START_PATCH)) {
    const verdict = admitOwnerCommand(start.halt, {
      missionId: prompt.id,
      controllers: engine.config.controllers,
      nowMs: Date.now(),
      perMission: false,
      readUnsigned: () => ({ ok: false, why: 'a halt must be signed' }),
      atStart: true,
    });
    if (!verdict.ok) refuseOwnerCommand(engine, verdict.refusal);
    else if (verdict.admitted.command.action !== 'pause') {
      const { id, action, actor } = verdict.admitted.command;
      const signer = verdict.admitted.signer;
      refuseOwnerCommand(engine, {
        id,
        action,
        actor,
        signer,
        at_ms: Date.now(),
        why: 'a halt must be a pause',
      });
    } else await applyOwnerControl(engine, verdict.admitted);
  }

  await runBoot(engine);
  // The regions run concurrently; each is driven by its own phase in the state document. An
  // activity of theirs that fails for good is compensated and the mission DEGRADED
  // (`compensation.ts`); only missions recorded before COMPENSATION_PATCH fail with its error.
  const regions = Promise.all([
    runIngestion(engine, prompt),
    runCouncil(engine),
    runEnvironment(engine),
    runRecovery(engine),
    runLicenceWatch(engine),
  ]).then(() => new Promise<never>(() => undefined));
  let end: Awaited<ReturnType<typeof runExecution>> | 'history';
  try {
    end = await Promise.race([
      runExecution(engine, prompt, { n: 0 }),
      regions,
      historyGrewLong(engine, limits.data),
    ]);
  } catch (error) {
    // The run fails, but what it answered still reaches the ledger first.
    await engine.appends.drained();
    throw error;
  }
  // Under COALESCED_APPEND_PATCH a beat's continue-as-new seals as a long history's does: the seal
  // drains the ledger queue, then takes the snapshot only if no handler arrived meanwhile (one
  // waiting for the mutex behind the drain would never run, and its signal would be lost).
  if (end === 'history' || (end === 'continue-as-new' && engine.drainsOnSeal)) {
    if (patched(QUIET_CONTINUE_AS_NEW_PATCH)) {
      // A timer that fires while the continue-as-new task is with the worker makes Temporal refuse
      // that task, and the retry replays the whole run. A busy mission nearly always has the
      // attribute throttle's timer set, never more than a second away: let it fire first.
      engine.unthrottleAttributes();
      await condition(() => !engine.attributeTimerPending);
    }
    // The regions and the execution loop run on meanwhile; the snapshot waits for a moment when
    // no update or signal handler is running or queued, and nothing commits after it.
    for (;;) {
      await condition(() => allHandlersFinished() && engine.quiet());
      if (engine.drainsOnSeal) {
        // A moment with no append queued seals at once, as before the patch; the seal drains the
        // queue inside the mutex (refusing proposals meanwhile) only if none comes soon.
        engine.appends.hurry();
        await condition(() => allHandlersFinished() && engine.quiet() && engine.appends.idle, SEAL_WAIT_MS);
      }
      const snap = await engine.seal(allHandlersFinished);
      if (snap === undefined) continue;
      engine.publish(true);
      await continueAsNew<typeof missionWorkflow>(prompt, {
        resolved,
        snapshot: snap,
        ...(start.history !== undefined && { history: limits.data }),
      });
    }
  }
  if (end === 'continue-as-new') {
    await condition(allHandlersFinished);
    // Taken inside the engine's mutex, the snapshot never holds a transition whose decision
    // record is still being appended.
    // Waiting inside the mutex for the queued appends: nothing commits between them and the snapshot.
    const snap = patched(SNAPSHOT_IN_MUTEX_PATCH)
      ? await engine.exclusive(async () => {
          await engine.appends.drained();
          return engine.snapshot();
        })
      : engine.snapshot();
    engine.publish(true);
    await continueAsNew<typeof missionWorkflow>(prompt, {
      resolved,
      snapshot: snap,
      ...(start.history !== undefined && { history: limits.data }),
    });
  }
  if (end === 'finished') {
    // DEPROVISION at the end: release the workspaces before the mission completes.
    let released = true;
    try {
      await engine.shortCall('deprovision workspaces').deprovisionWorkspace({ mission: prompt.id });
    } catch (error) {
      // The work is done: the mission completes DEGRADED, its workspaces recorded as not released.
      released = false;
      const why = failedForGood(error);
      await degrade(engine, `environment: mission finished, workspaces not released: ${why}`, 'environment');
    }
    if (released && engine.state.environment.phase !== 'ALLOCATE')
      await engine.take('Environment_Deprovision', { reason: 'mission finished' });
  }
  await condition(allHandlersFinished);
  await engine.appends.drained();
  engine.publish(true);
  return view();
}

async function resolveConfig(raw: unknown, rawControllers: unknown): Promise<ResolvedMissionConfig> {
  const parsed = MissionConfigInput.safeParse(raw ?? {});
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid mission config: ${parsed.error.message}`,
      'InvalidMissionConfig',
    );
  }
  // Pinned here, from the start input, and carried across continue-as-new in `resolved`. A mission
  // started with none has an empty list: no owner command can act on it. Before the patch there
  // was no list at all, which is what keeps those missions on unsigned commands.
  let controllers: string[] | undefined;
  if (patched(SIGNED_OWNER_COMMANDS_PATCH)) {
    const keys = Controllers.safeParse(rawControllers ?? []);
    if (!keys.success)
      throw invalidInput(
        'controllers',
        keys.error.issues.map((i) => ({ path: i.path as (string | number)[], message: i.message })),
      );
    controllers = keys.data;
  }
  const checked = patched(INPUT_CHECK_PATCH);
  if (checked) {
    const problems = missionConfigProblems(parsed.data);
    if (problems.length > 0) throw invalidInput('config', problems);
  }
  const { key } = await short('resolve the orchestrator identity').orchestratorIdentity();
  if (checked) {
    // Only now is the orchestrator's key known: a signer holding it is no extra approver.
    const problems = missionConfigProblems(parsed.data, key);
    if (problems.length > 0) throw invalidInput('config', problems);
  }
  return { ...parsed.data, orchestratorKey: key, ...(controllers && { controllers }) };
}

/** Fails the mission (not the task) for input it can never run, naming each field and reason. */
function invalidInput(
  what: 'prompt' | 'config' | 'controllers' | 'history',
  problems: ConfigProblem[],
): ApplicationFailure {
  const lines = problems.map((p) => `${[what, ...p.path].join('.')}: ${p.message}`);
  return ApplicationFailure.create({
    type: INVALID_MISSION_INPUT,
    message: `invalid mission ${what}: ${lines.join('; ')}`,
    nonRetryable: true,
    details: [{ errors: problems.map((p) => ({ field: [what, ...p.path].join('.'), reason: p.message })) }],
  });
}

/** The unsigned `control` payload as an owner command; its id is minted here, as before. */
const readUnsignedControl: UnsignedReader = (raw) => {
  const parsed = ControlCommand.safeParse(raw);
  if (!parsed.success) return { ok: false, why: parsed.error.message };
  const { action, reason, actor } = parsed.data;
  return {
    ok: true,
    command: { id: uuid4(), action, actor: actor ?? UNATTRIBUTED, reason: reason.trim() || action },
  };
};

const readUnsignedOwnerControl: UnsignedReader = (raw) => {
  const parsed = OwnerControlCommand.safeParse(raw);
  return parsed.success ? { ok: true, command: parsed.data } : { ok: false, why: parsed.error.message };
};

/** An unsigned command as histories from before signed owner commands applied it. */
function unverified(command: OwnerControlCommand): AdmittedCommand {
  return { command, signer: null, inputs: command, provenance: UNVERIFIED_UNSIGNED };
}

/** Votes reach history only when they verify against the elected set (forgeries never do). */
function validateVote(engine: MissionEngine, raw: unknown): void {
  const parsed = VoteSchema.safeParse(raw);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(`malformed vote: ${parsed.error.message}`, 'VoteRejected');
  const vote = parsed.data;
  const council = engine.state.council;
  if (council.phase !== 'ELECT' || council.council_set_hash === null)
    throw ApplicationFailure.nonRetryable(
      `no election is open (council is ${council.phase})`,
      'VoteRejected',
    );
  const member = council.members.find((x) => x.id === vote.member);
  if (member === undefined)
    throw ApplicationFailure.nonRetryable(
      `${vote.member} is not a member of the elected set`,
      'VoteRejected',
    );
  if (vote.council_set_hash !== council.council_set_hash) {
    throw ApplicationFailure.nonRetryable(
      `member-set mismatch (split brain): vote for ${vote.council_set_hash}, elected set is ${council.council_set_hash}`,
      'VoteRejected',
    );
  }
  const check = verifyDetached(voteSigningBytes(vote, engine.missionId), vote.signature, member.key);
  if (!check.ok)
    throw ApplicationFailure.nonRetryable(
      `invalid vote signature from ${vote.member}: ${check.reason}`,
      'VoteRejected',
    );
}

/**
 * The walking skeleton, kept byte-for-byte in behaviour for missions recorded before the patch:
 * enter LICENSE_CHECK and wait. Deprecate once no such mission is open.
 */
async function legacySkeleton(prompt: MissionPrompt): Promise<MissionView> {
  const view: MissionView = {
    missionId: prompt.id,
    workflowId: workflowInfo().workflowId,
    phase: 'UNINITIALIZED',
    prompt,
  };
  setHandler(stateQuery, () => view);
  const enter = (phase: MissionPhase): void => {
    view.phase = phase;
    upsertSearchAttributes([{ key: PhaseKey, value: phase }]);
  };
  enter('LICENSE_CHECK');
  await condition(() => view.phase === 'TERMINATED');
  return view;
}
