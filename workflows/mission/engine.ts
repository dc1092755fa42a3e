/**
 * The mission's single serialisation point: it owns the state document, HEAD and the idempotency
 * table, and every transition — proposed from outside through the `transition` update
 * (`transition-update.ts`) or taken by the orchestrator itself (`take`) — goes one path: checks and
 * guards (`applyProposal` / `applyTrustedProposal`), reduce, hash, decision record (the
 * `recordDecision` activity, which signs the hash-chained record with the orchestrator key outside
 * the sandbox).
 *
 * Handlers that await activities are serialised by a promise-chain mutex (`exclusive`), so two
 * proposals are never checked against the same HEAD. The other concerns of a running mission live
 * beside it: owner controls, recovery, council votes, search attributes and guard I/O.
 */
import { log, patched, sleep, uuid4 } from '@temporalio/workflow';
import type { GuardIO } from '../../schemas/guard-io';
import { formatHlc, hlcSend, parseHlc } from '../../schemas/hlc';
import type { FaultsView, FetchedSource, MissionPhase, RecoveryView } from '../../schemas/mission';
import type { ResolvedMissionConfig } from '../../schemas/mission-config';
import type { Vote } from '../../schemas/proposal';
import type { StateDocument } from '../../schemas/state-document';
import { TRANSITIONS, type TransitionName } from '../../schemas/statechart';
import {
  observeAcceptedTransition,
  observeInvariantViolations,
  observeRejectedTransition,
  type AcceptedObservation,
} from '../observability';
import {
  applyTrustedProposal,
  backoffMs,
  buildProposal,
  checkStepInvariants,
  stateHash,
  verifyDetached,
  verifyDetachedLegacy,
  windowIdAt,
  type Accepted,
  type ApplyContext,
  type IdempotencyTable,
  type InvariantViolation,
  type MachineConfig,
  type Rejected,
  type SignerRegistry,
  type Verifier,
} from '../statechart';
import { decisionLedger, io, short } from './activities';
import { MissionFaults } from './compensation';
import { CouncilVotes } from './council-votes';
import {
  COALESCED_APPEND_PATCH,
  DecisionAppends,
  DEFERRED_APPEND_PATCH,
  SPACED_APPENDS_PATCH,
  type Gathering,
} from './decision-appends';
import { holdVerdicts, verdictsFor } from './guard-io';
import { councilMembers, machineConfigOf, signerRegistryOf } from './machine-config';
import { initialControls, type HeldControls } from './owner-controls';
import { MissionRecovery } from './recovery';
import { SearchAttributePublisher } from './search-attributes';
import { emptyPlanProgress, type PlanProgress } from './plan';

/**
 * The patch that moved signature checks in replayed code (the quorum guard's votes) from tweetnacl
 * to the strict verifier. Validators are never replayed and always verify strictly.
 */
export const STRICT_SIGNATURES_PATCH = 'swoosh-strict-signatures-v1';

/**
 * The patch that makes a violated invariant quarantine the mission (Policy_Quarantine naming the
 * invariant) instead of only logging it; histories recorded before it replay with the log alone.
 */
export const INVARIANT_QUARANTINE_PATCH = 'swoosh-invariant-quarantine-v1';

/**
 * The patch that lets a step run at once (`promptly`): an outside proposal arriving while no other
 * step is queued or running is decided in the call that brought it, and one with nothing to wait
 * for creates no promise and takes no microtask turn. Runs recorded before it queue every step
 * behind the mutex's promise chain: running one sooner moves the commands it issues relative to
 * those of other handlers, which their histories hold in the old order.
 */
export const PROMPT_STEPS_PATCH = 'swoosh-prompt-steps-v1';

/** What crosses continue-as-new: the state document is the snapshot; its hash must not change. */
export interface MissionSnapshot {
  state: StateDocument;
  hash: string;
  idempotency: IdempotencyTable;
  io: GuardIO;
  sources: FetchedSource[];
  votes: Vote[];
  beatsCompleted: number;
  /** Owner controls in force, with the count of owner records written (absent before them). */
  controls?: HeldControls;
  recovery?: RecoveryView;
  /** Evidence of the beat's agents not yet reviewed (absent outside WORK or when there is none). */
  evidence?: string[];
  /** A planned beat's verdict and the last beat's evidence (absent for missions without a plan). */
  plan?: PlanProgress;
  /** Compensated failures still open (absent when there are none). */
  faults?: FaultsView;
}

export class MissionEngine {
  state: StateDocument;
  idempotency: IdempotencyTable;
  /** Licence and tool verdicts held across steps (`guard-io.ts`). */
  io: GuardIO;
  sources: FetchedSource[];
  readonly votes: CouncilVotes;
  beatsCompleted: number;
  /** Evidence of the current beat's agents, until Execution_Review takes it. */
  evidence: string[];
  /** What a planned beat hands to the next steps (`plan.ts`). */
  plan: PlanProgress;
  /** Set when the mission is finishing: no new forward work starts. */
  stopping = false;
  controls: HeldControls;
  readonly recovery: MissionRecovery;
  /** Failures compensated and still being retried (`compensation.ts`). */
  readonly faults: MissionFaults;
  readonly config: ResolvedMissionConfig;
  readonly machine: MachineConfig;
  readonly registry: SignerRegistry;
  readonly missionId: string;
  /** Agent jobs (child workflows) of the current beat still running. */
  agentsRunning = 0;
  #chain: Promise<unknown> = Promise.resolve();
  /** Set once a continue-as-new snapshot is taken: nothing after it may commit. */
  #sealed = false;
  #steps = 0;
  readonly #attributes = new SearchAttributePublisher(this);
  /**
   * Whether this run gathers decisions before appending them and so may drain the queue when it
   * seals a snapshot, rather than only ever waiting until no append is queued. Decided once, when
   * the run starts: a run recorded before the patch keeps the old behaviour to its end.
   */
  readonly #drainOnSeal = patched(COALESCED_APPEND_PATCH);
  /** Which of its appends this run lets gather decisions; decided once, like `#drainOnSeal`. */
  readonly #gathering: Gathering = this.#drainOnSeal
    ? patched(SPACED_APPENDS_PATCH)
      ? 'spaced'
      : 'first-batch'
    : 'none';
  /** Accepted decisions on their way to the ledger (`decision-appends.ts`). */
  readonly appends = new DecisionAppends(this.#gathering);
  /** Whether steps may run at once (PROMPT_STEPS_PATCH); decided once, like `#drainOnSeal`. */
  readonly promptSteps = patched(PROMPT_STEPS_PATCH);
  /** Set while a prompt step runs synchronously: nothing may queue behind it then (`promptly`). */
  #inPromptStep = false;

  constructor(missionId: string, config: ResolvedMissionConfig, snapshot: Omit<MissionSnapshot, 'hash'>) {
    this.missionId = missionId;
    this.config = config;
    this.state = snapshot.state;
    this.idempotency = snapshot.idempotency;
    this.io = snapshot.io;
    this.sources = snapshot.sources;
    this.votes = new CouncilVotes(snapshot.votes);
    this.beatsCompleted = snapshot.beatsCompleted;
    this.evidence = snapshot.evidence ?? [];
    this.plan = snapshot.plan ?? emptyPlanProgress();
    this.controls = snapshot.controls ?? initialControls();
    this.recovery = new MissionRecovery(this, snapshot.recovery);
    this.faults = new MissionFaults(snapshot.faults);
    this.machine = machineConfigOf(config, councilMembers(config).length);
    this.registry = signerRegistryOf(config);
  }

  get hash(): string {
    return stateHash(this.state);
  }

  snapshot(): MissionSnapshot {
    return {
      state: this.state,
      hash: this.hash,
      idempotency: this.idempotency,
      io: this.io,
      sources: this.sources,
      votes: this.votes.all(),
      beatsCompleted: this.beatsCompleted,
      controls: this.controls,
      recovery: this.recovery.view,
      // Only WORK still needs it; elsewhere it is a finished beat's, and stays out of the snapshot.
      ...(this.state.execution.phase === 'WORK' &&
        this.evidence.length > 0 && { evidence: [...this.evidence] }),
      ...((this.config.plan !== undefined || this.plan.current !== undefined) && { plan: this.plan }),
      ...(this.faults.any && { faults: this.faults.view }),
    };
  }

  /** Quick bookkeeping activities under the mission's current latency budget. */
  shortCall(summary: string) {
    return short(summary, this.controls.latency);
  }

  /** File and service activities under the mission's current latency budget. */
  ioCall(summary: string) {
    return io(summary, this.controls.latency);
  }

  /** Forward work may run: licensed (or in grace), running, not quarantined, not terminated. */
  forwardAllowed(): boolean {
    const s = this.state;
    return (
      !this.stopping &&
      s.terminal.phase === 'ACTIVE' &&
      (s.control.phase === 'RUNNING' || s.control.phase === 'DEGRADED') &&
      s.policy.phase === 'CLEAR' &&
      (s.boot.phase === 'LICENSED' || s.boot.phase === 'GRACE')
    );
  }

  get terminated(): boolean {
    return this.state.terminal.phase === 'TERMINATED';
  }

  /** The top-level phase an operator sees (docs/design.md#the-statechart), most urgent first. */
  phase(): MissionPhase {
    const s = this.state;
    if (s.terminal.phase === 'TERMINATED') return 'TERMINATED';
    if (s.policy.phase === 'QUARANTINED') return 'QUARANTINED';
    if (s.control.phase === 'PAUSED') return 'PAUSED';
    if (s.control.phase === 'RECOVERY') return 'RECOVERY';
    if (s.boot.phase === 'UNINITIALIZED') return 'UNINITIALIZED';
    if (s.boot.phase === 'LICENSE_CHECK' || s.boot.phase === 'EXPIRED') return 'LICENSE_CHECK';
    if (s.control.phase === 'DEGRADED' || s.boot.phase === 'GRACE' || s.environment.phase === 'DEGRADED')
      return 'DEGRADED';
    if (s.execution.phase !== 'IDLE') return 'EXECUTION';
    return 'PROJECT_LIFECYCLE';
  }

  /** Keeps the Web UI's search attributes and current details current (`search-attributes.ts`). */
  publish(immediately = false, head?: string): void {
    this.#attributes.publish(immediately, head);
  }

  /**
   * Publishes the search attributes at once from now on (for a run about to continue as new);
   * `attributeTimerPending` says when the throttle's timer set before has fired.
   */
  unthrottleAttributes(): void {
    this.#attributes.unthrottle();
  }

  get attributeTimerPending(): boolean {
    return this.#attributes.timerPending;
  }

  /** Renders the Web UI's current details again, before a wait that depends on the time. */
  describe(): void {
    this.#attributes.describe();
  }

  /** Whether `seal` drains the ledger queue itself (COALESCED_APPEND_PATCH). */
  get drainsOnSeal(): boolean {
    return this.#drainOnSeal;
  }

  /**
   * Whether the mission may continue as new here without losing work in flight: no agent job
   * running (its result would be lost and the job run again) and no decision waiting for the ledger,
   * unless `seal` drains those itself.
   */
  quiet(): boolean {
    return this.agentsRunning === 0 && (this.#drainOnSeal || this.appends.idle);
  }

  /**
   * The snapshot for a continue-as-new, taken inside the mutex, or undefined while a handler is
   * still running or queued (it must finish in this run). Once taken, the mutex runs nothing more:
   * a step queued behind it would commit — and append to the ledger — what the snapshot lacks.
   */
  seal(handlersFinished: () => boolean): Promise<MissionSnapshot | undefined> {
    return this.exclusive(() => {
      if (!handlersFinished() || !this.quiet()) return Promise.resolve(undefined);
      if (this.#drainOnSeal && !this.appends.idle) return this.#drainAndSeal(handlersFinished);
      this.#sealed = true;
      return Promise.resolve(this.snapshot());
    });
  }

  async #drainAndSeal(handlersFinished: () => boolean): Promise<MissionSnapshot | undefined> {
    await this.appends.drained();
    // What arrived while the queue drained must finish in this run: a signal handler waiting for
    // the mutex behind this step would never run, and an agent job started meanwhile would be lost.
    if (!handlersFinished() || this.agentsRunning > 0) return undefined;
    this.#sealed = true;
    return this.snapshot();
  }

  /** Runs `fn` after every earlier handler step: one proposal at a time against HEAD. */
  exclusive<T>(step: () => Promise<T>): Promise<T> {
    // Chained now, it would run beside the prompt step rather than after it.
    if (this.#inPromptStep) throw new Error('a prompt step cannot queue another step');
    // After `seal` the run is ending: what is still queued waits for good and the next run redoes it.
    const fn = () => (this.#sealed ? new Promise<T>(() => undefined) : step());
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    // Counted beside the chain, not in it: an extra link would change when callers resume, and
    // with it the order of commands that recorded histories hold.
    this.#steps++;
    const done = () => {
      this.#steps--;
    };
    void run.then(done, done);
    return run;
  }

  /**
   * `exclusive` without the wait, for runs under PROMPT_STEPS_PATCH: with no step queued or running,
   * `step` runs now and its result comes back as it is — a value when it had nothing to wait for, so
   * the step costs no promise (the SDK records a stack trace for every promise a workflow creates)
   * and no microtask turn. A step that waits holds the mutex until it settles; with steps queued or
   * running, or after `seal`, it queues like any other.
   */
  promptly<T>(step: () => T | Promise<T>): T | Promise<T> {
    if (this.#steps > 0 || this.#sealed) return this.exclusive(async () => step());
    this.#steps++;
    this.#inPromptStep = true;
    let result: T | Promise<T>;
    try {
      result = step();
    } catch (error) {
      this.#steps--;
      throw error;
    } finally {
      this.#inPromptStep = false;
    }
    if (!(result instanceof Promise)) {
      this.#steps--;
      return result;
    }
    const done = () => {
      this.#steps--;
    };
    this.#chain = result.then(done, done);
    return result;
  }

  /** Steps queued or running in `exclusive`: while there are any, HEAD may move before a new one runs. */
  get stepsPending(): number {
    return this.#steps;
  }

  /** Holds the licence and tool verdicts a step used, for the steps (and validators) after it. */
  hold(fresh: GuardIO | undefined): void {
    this.io = holdVerdicts(this.io, fresh);
  }

  /** The verifier for signatures a replay re-checks: tweetnacl's in histories recorded before the patch. */
  verifier(): Verifier {
    return patched(STRICT_SIGNATURES_PATCH) ? verifyDetached : verifyDetachedLegacy;
  }

  /** Context for the pure protocol; `verifier` is omitted (strict) only where nothing replays it. */
  context(now: number, step?: GuardIO, verifier?: Verifier): ApplyContext {
    return {
      registry: this.registry,
      idempotency: this.idempotency,
      config: this.machine,
      now,
      ...(verifier ? { verifier } : {}),
      io: verdictsFor(this.io, step),
    };
  }

  /** Makes an accepted result HEAD and records its decision; callers hold the mutex. */
  async commit(result: Accepted, observation: AcceptedObservation): Promise<void> {
    const violations = this.#makeHead(result);
    if (patched(DEFERRED_APPEND_PATCH)) this.appends.push(result.decision);
    else {
      const summary = `record ${result.decision.transition} #${result.decision.seq}`;
      await decisionLedger(summary).recordDecision(result.decision);
    }
    observeAcceptedTransition(result.decision, observation);
    if (violations.length > 0 && patched(INVARIANT_QUARANTINE_PATCH))
      await this.#quarantineFor(violations, result.decision);
  }

  /**
   * `commit` for prompt steps (PROMPT_STEPS_PATCH, which came after the deferred append and the
   * invariant quarantine): returns a promise only when a broken invariant quarantines the mission.
   */
  commitNow(result: Accepted, observation: AcceptedObservation): Promise<void> | undefined {
    const violations = this.#makeHead(result);
    this.appends.push(result.decision);
    observeAcceptedTransition(result.decision, observation);
    return violations.length > 0 ? this.#quarantineFor(violations, result.decision) : undefined;
  }

  /** The part of a commit before the ledger: HEAD, idempotency, recovery, search attributes. */
  #makeHead(result: Accepted): InvariantViolation[] {
    const pre = this.state;
    const violations = checkStepInvariants(pre, result.state, result, this.machine);
    if (violations.length > 0) observeInvariantViolations(result.decision, violations);
    this.state = result.state;
    this.idempotency = result.idempotency;
    this.recovery.observe(pre, result.state, result.decision.transition);
    this.publish(false, result.post_hash);
    return violations;
  }

  /**
   * The core promises its invariants; when the checker finds one broken after a transition, the
   * mission stops forward work where an operator sees it: QUARANTINED, with the invariant's name
   * among the breaches (`invariant:<name>`) and the checker's findings as the rationale, recorded
   * in the ledger like any quarantine. The verdict is the orchestrator's own, not a scan's. An
   * owner's Policy_Release lifts it; a state that still breaks the invariant is checked after the
   * release too, and quarantined again. Callers hold the mutex.
   */
  async #quarantineFor(
    violations: readonly InvariantViolation[],
    after: Accepted['decision'],
  ): Promise<void> {
    if (this.state.policy.phase !== 'CLEAR' || this.terminated) return;
    const breaches = [...new Set(violations.map((v) => `invariant:${v.invariant}`))];
    const findings = violations.map((v) => `${v.invariant}: ${v.detail}`).join('; ');
    const rationale = `invariant violated after ${after.transition} #${after.seq}: ${findings}`.slice(
      0,
      1024,
    );
    const r = await this.takeLocked(
      'Policy_Quarantine',
      { rationale, breaches },
      { io: { policy: { breach: true, breaches, rationale } } },
    );
    if (!r.accepted) log.error('invariant quarantine refused', { reasons: [...r.reasons] });
  }

  /** The orchestrator's own transition, inside the mutex (for callers already holding it). */
  async takeLocked(
    transition: TransitionName,
    inputs: Record<string, unknown>,
    opts: { evidence?: string[]; io?: GuardIO; retries?: number } = {},
  ): Promise<Accepted | Rejected> {
    const now = Date.now();
    const last = this.state.hlc_last === null ? { wall: 0, counter: 0 } : parseHlc(this.state.hlc_last);
    const cls = TRANSITIONS[transition].class;
    const proposal = buildProposal(this.state, {
      transition,
      inputs,
      signer: this.config.orchestratorKey,
      idem_key: `${this.missionId}:${this.state.execution.beat}:${cls}:${uuid4()}`,
      hlc: formatHlc(hlcSend(last, now)),
      window_id: windowIdAt(this.machine.schedule, now),
      evidence: opts.evidence ?? [],
    });
    this.hold(opts.io);
    const result = applyTrustedProposal(this.state, proposal, this.context(now, opts.io, this.verifier()));
    if (!result.accepted) {
      observeRejectedTransition(result, { mission: this.missionId, head: this.hash, proposal });
      if (result.escalation && this.state.policy.phase === 'CLEAR') {
        await this.takeLocked(result.escalation.transition, {
          ...result.escalation.inputs,
          breaches: [...result.escalation.inputs.breaches],
        });
      }
      return result;
    }
    if (result.duplicate) throw new Error('a fresh uuid cannot repeat an idem_key');
    await this.commit(result, { requestedAtMs: now, retries: opts.retries ?? 0 });
    return result;
  }

  /** The orchestrator's own transition: same path as an outside proposal, signer = its public key. */
  take(
    transition: TransitionName,
    inputs: Record<string, unknown>,
    opts: { evidence?: string[]; io?: GuardIO; retries?: number } = {},
  ): Promise<Accepted | Rejected> {
    return this.exclusive(() => this.takeLocked(transition, inputs, opts));
  }

  /** Like `take`, retried with the schedule's backoff while the transition is refused. */
  async takeUntil(
    transition: TransitionName,
    inputs: () => Promise<{ inputs: Record<string, unknown>; evidence?: string[]; io?: GuardIO }>,
    still: () => boolean,
  ): Promise<boolean> {
    for (let attempt = 0; still(); attempt++) {
      const prepared = await inputs();
      if (!still()) return false;
      const r = await this.take(transition, prepared.inputs, { ...prepared, retries: attempt });
      if (r.accepted) return true;
      await sleep(backoffMs(this.machine.schedule, Math.min(attempt, 16)));
    }
    return false;
  }
}
