/**
 * The mission's single serialisation point: it owns the state document, HEAD and the idempotency
 * table, and every transition — proposed from outside through the `transition` update or taken by
 * the orchestrator itself — goes one path: checks and guards (`applyProposal` /
 * `applyTrustedProposal`), reduce, hash, decision record (the `recordDecision` activity, which signs
 * the hash-chained record with the orchestrator key outside the sandbox).
 *
 * Handlers that await activities are serialised by a promise-chain mutex, so two proposals are
 * never checked against the same HEAD. Update validators run the pure protocol synchronously with
 * the I/O verdicts already held, so most rejections never reach history.
 */
import {
  ApplicationFailure,
  currentUpdateInfo,
  log,
  patched,
  sleep,
  upsertSearchAttributes,
  uuid4,
} from '@temporalio/workflow';
import type { ResolvedMissionConfig } from '../../schemas/mission-config';
import {
  TRANSITION_REJECTED,
  type FetchedSource,
  type MissionPhase,
  type RecoveryView,
  type TransitionOutcome,
  type TransitionRejection,
} from '../../schemas/mission';
import {
  DEFAULT_LATENCY_BUDGETS,
  LATENCY_CLASSES,
  OWNER_CONTROL_HISTORY,
  OWNER_CONTROL_TRANSITIONS,
  type AppliedOwnerControl,
  type MissionControls,
  type OwnerControlCommand,
} from '../../schemas/owner-controls';
import {
  BeatKey,
  CouncilPhaseKey,
  EnvironmentPhaseKey,
  ExecutionPhaseKey,
  IngestionPhaseKey,
  PhaseKey,
} from '../../schemas/search-attributes';
import {
  applyProposal,
  applyTrustedProposal,
  applyValidatedProposal,
  backoffMs,
  checkQuorumCertificate,
  buildProposal,
  checkStepInvariants,
  createSignerRegistry,
  defineConfig,
  quorumRequired,
  stateHash,
  verifyDetached,
  verifyDetachedLegacy,
  windowIdAt,
  type ApplyResult,
  type IdempotencyTable,
  type MachineConfig,
  type Rejected,
  type SignerRegistry,
  type Verifier,
} from '../statechart';
import { type GuardIO } from '../../schemas/guard-io';
import { type SignerKey } from '../../schemas/signed-bytes';
import { formatHlc, hlcSend, parseHlc } from '../../schemas/hlc';
import { hashCanonical } from '../../schemas/hash';
import { decisionId } from '../../schemas/decision-id';
import { decidedAt } from '../../schemas/decision-record';
import { TRANSITIONS, type TransitionName } from '../../schemas/statechart';
import type { Accepted } from '../statechart';
import { type StateDocument } from '../../schemas/state-document';
import { type TransitionClass } from '../../schemas/transition-classes';
import { type Vote } from '../../schemas/proposal';
import { io, ledger, LOCAL_ACTIVITIES_PATCH, localIo, localLedger, short } from './activities';
import {
  type AcceptedObservation,
  observeAcceptedTransition,
  observeRecoveryTime,
  observeRejectedTransition,
} from '../observability';

/** Guards whose verdict comes from I/O: the validator lets these through for the handler to re-check. */
const IO_GUARDS = new Set([
  'licence-verdict',
  'licence-lapse',
  'tooling',
  'policy-update',
  'policy-breach',
  'confirmed-block',
]);

/**
 * The patch that moved signature checks in replayed code (the quorum guard's votes) from tweetnacl
 * to the strict verifier. Validators are never replayed and always verify strictly.
 */
export const STRICT_SIGNATURES_PATCH = 'swoosh-strict-signatures-v1';

/**
 * The patch that throttles the Web UI's search attributes to one upsert a second during a burst of
 * transitions. Each upsert is a history event and a visibility write on the server, which on a
 * busy mission cost more than the transition itself; the phase columns may now lag by up to
 * PUBLISH_EVERY_MS, and a timer brings them up to date after a burst.
 */
export const THROTTLED_ATTRIBUTES_PATCH = 'swoosh-throttled-attributes-v1';
const PUBLISH_EVERY_MS = 1_000;

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
  controls?: MissionControls & { recorded: number };
  recovery?: RecoveryView;
}

/**
 * Owner records share the decision ledger with statechart decisions, whose record ids derive from
 * (workflow id, seq); owner records number from here so the two sequences can never collide.
 */
export const OWNER_RECORD_SEQ_BASE = 2 ** 40;
/** Owner commands are unsigned: their actor is as reported by the sender, which is not verified. */
export const ACTOR_AS_REPORTED = 'actor as reported by the gateway; owner commands are not signed';
const RECOVERY_EPISODES = 16;
/** Validator results kept for their handlers; more are waiting only when updates pile up. */
const VALIDATED_KEPT = 64;

/** An accepted validation and everything it read, so the handler can tell whether it still holds. */
interface Validated {
  readonly result: Accepted;
  readonly state: StateDocument;
  readonly idempotency: IdempotencyTable;
  readonly io: GuardIO;
  readonly now: number;
}

export function machineConfigOf(config: ResolvedMissionConfig, members: number): MachineConfig {
  return defineConfig({
    quorumSize: config.quorumSize ?? Math.max(1, Math.floor(members / 2) + 1),
    approvalsRequired: config.approvalsRequired,
    schedule: config.schedule,
  });
}

export function councilMembers(config: ResolvedMissionConfig): { id: string; key: string }[] {
  return config.council.members.length > 0
    ? config.council.members
    : [{ id: 'orchestrator', key: config.orchestratorKey }];
}

export function rejection(r: Rejected, head: string): ApplicationFailure {
  const details: TransitionRejection = { failing_guard: r.failing_guard, reasons: [...r.reasons], head };
  return ApplicationFailure.create({
    type: TRANSITION_REJECTED,
    message: `rejected by ${r.failing_guard}: ${r.reasons.join('; ')}`,
    nonRetryable: true,
    details: [details],
  });
}

export class MissionEngine {
  state: StateDocument;
  idempotency: IdempotencyTable;
  io: GuardIO;
  sources: FetchedSource[];
  votes = new Map<string, Vote>();
  beatsCompleted: number;
  /** Set when the mission is finishing: no new forward work starts. */
  stopping = false;
  controls: MissionControls & { recorded: number };
  recovery: RecoveryView;
  /** Why the council's certificate was voided by the last transition; null while it holds. */
  quorumLost: string | null = null;
  readonly config: ResolvedMissionConfig;
  readonly machine: MachineConfig;
  readonly registry: SignerRegistry;
  readonly missionId: string;
  #chain: Promise<unknown> = Promise.resolve();
  /** Set while the orchestrator takes Control_Recover for a lost quorum. */
  #recoveryReason: string | null = null;
  #attributes = new Map<string, string | number>();
  /** Workflow time of the last upsert, and whether a timer will publish what is still pending. */
  #publishedAt = Number.NEGATIVE_INFINITY;
  #publishPending = false;
  /** Accepted validations by update id (see `#reuseValidated`). */
  #validated = new Map<string, Validated>();

  constructor(missionId: string, config: ResolvedMissionConfig, snapshot: Omit<MissionSnapshot, 'hash'>) {
    this.missionId = missionId;
    this.config = config;
    this.state = snapshot.state;
    this.idempotency = snapshot.idempotency;
    this.io = snapshot.io;
    this.sources = snapshot.sources;
    for (const v of snapshot.votes) this.votes.set(v.member, v);
    this.beatsCompleted = snapshot.beatsCompleted;
    this.controls = snapshot.controls ?? {
      agentTaskQueue: null,
      latency: { ...DEFAULT_LATENCY_BUDGETS },
      applied: [],
      recorded: 0,
    };
    this.recovery = snapshot.recovery ?? { since_ms: null, episodes: [] };
    this.machine = machineConfigOf(config, councilMembers(config).length);
    this.registry = createSignerRegistry([
      { key: config.orchestratorKey as SignerKey, classes: ['*'], label: 'orchestrator' },
      ...config.signers
        .filter((s) => s.key !== config.orchestratorKey)
        .map((s) => ({
          key: s.key as SignerKey,
          classes: s.classes as TransitionClass[],
          label: s.label ?? s.key,
        })),
    ]);
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
      votes: [...this.votes.values()],
      beatsCompleted: this.beatsCompleted,
      controls: this.controls,
      recovery: this.recovery,
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

  /** The policy scan on a transition's path: local once the mission has the patch. */
  #policyScan(): Promise<Awaited<ReturnType<ReturnType<typeof io>['policyScan']>>> {
    const calls = patched(LOCAL_ACTIVITIES_PATCH)
      ? localIo('policy scan', this.controls.latency)
      : this.ioCall('policy scan');
    return calls.policyScan({ sources: this.sources });
  }

  /** What the state query reports about owner controls. */
  controlsView(): MissionControls {
    const { agentTaskQueue, latency, applied } = this.controls;
    return { agentTaskQueue, latency: { ...latency }, applied: [...applied] };
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

  /** The top-level phase an operator sees (SPEC §2), most urgent first. */
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

  /**
   * Keeps the Web UI's search attributes current; upserts only what changed, and at most once every
   * PUBLISH_EVERY_MS (a timer publishes what a burst left unpublished). `immediately` skips the
   * throttle, for the last word before the run ends.
   */
  publish(immediately = false): void {
    const wanted: [string, string | number][] = [
      [PhaseKey.name, this.phase()],
      [IngestionPhaseKey.name, this.state.ingestion.phase],
      [CouncilPhaseKey.name, this.state.council.phase],
      [EnvironmentPhaseKey.name, this.state.environment.phase],
      [ExecutionPhaseKey.name, this.state.execution.phase],
      [BeatKey.name, this.state.execution.beat],
    ];
    const changed = wanted.filter(([k, v]) => this.#attributes.get(k) !== v);
    if (changed.length === 0) return;
    if (!immediately && patched(THROTTLED_ATTRIBUTES_PATCH)) {
      const wait = this.#publishedAt + PUBLISH_EVERY_MS - Date.now();
      if (wait > 0) {
        if (!this.#publishPending) {
          this.#publishPending = true;
          void sleep(wait).then(() => {
            this.#publishPending = false;
            this.publish();
          });
        }
        return;
      }
    }
    this.#publishedAt = Date.now();
    for (const [k, v] of changed) this.#attributes.set(k, v);
    const keys = {
      [PhaseKey.name]: PhaseKey,
      [IngestionPhaseKey.name]: IngestionPhaseKey,
      [CouncilPhaseKey.name]: CouncilPhaseKey,
      [EnvironmentPhaseKey.name]: EnvironmentPhaseKey,
      [ExecutionPhaseKey.name]: ExecutionPhaseKey,
    };
    upsertSearchAttributes(
      changed.map(([k, v]) =>
        k === BeatKey.name ? { key: BeatKey, value: v as number } : { key: keys[k]!, value: v as string },
      ),
    );
  }

  /** Runs `fn` after every earlier handler step: one proposal at a time against HEAD. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #cache(io: GuardIO | undefined): void {
    if (io?.licence) this.io = { ...this.io, licence: io.licence };
    if (io?.tools) this.io = { ...this.io, tools: io.tools };
  }

  /** The verifier for signatures a replay re-checks: tweetnacl's in histories recorded before the patch. */
  #verifier(): Verifier {
    return patched(STRICT_SIGNATURES_PATCH) ? verifyDetached : verifyDetachedLegacy;
  }

  /** Context for the pure protocol; `verifier` is omitted (strict) only where nothing replays it. */
  #ctx(now: number, extra?: GuardIO, verifier?: Verifier) {
    return {
      registry: this.registry,
      idempotency: this.idempotency,
      config: this.machine,
      now,
      ...(verifier ? { verifier } : {}),
      // A policy verdict speaks only for the step it was scanned for; licence and tool verdicts
      // are cached (the validator needs them), a policy breach must not leak into later steps.
      io: {
        ...(this.io.licence ? { licence: this.io.licence } : {}),
        ...(this.io.tools ? { tools: this.io.tools } : {}),
        ...extra,
      },
    };
  }

  async #commit(result: Accepted, observation: AcceptedObservation): Promise<void> {
    const pre = this.state;
    const violations = checkStepInvariants(pre, result.state, result, this.machine);
    if (violations.length > 0) {
      // The core promises these never happen; a violation is a bug to surface, not to record.
      log.error('invariant violation', { violations: violations.map((v) => `${v.invariant}: ${v.detail}`) });
    }
    this.state = result.state;
    this.idempotency = result.idempotency;
    if (pre.council.quorum_certificate !== null && result.state.council.quorum_certificate === null)
      this.quorumLost = `${result.decision.transition} voided the council's quorum certificate`;
    if (result.state.council.quorum_certificate !== null) this.quorumLost = null;
    if (pre.control.phase === 'RECOVERY' && result.state.control.phase !== 'RECOVERY') this.#closeRecovery();
    if (result.state.control.phase === 'RECOVERY' && this.#recoveryReason !== null) this.#openRecovery();
    this.publish();
    const summary = `record ${result.decision.transition} #${result.decision.seq}`;
    await (patched(LOCAL_ACTIVITIES_PATCH) ? localLedger(summary) : ledger(summary)).recordDecision(
      result.decision,
    );
    observeAcceptedTransition(result.decision, observation);
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
    this.#cache(opts.io);
    const result = applyTrustedProposal(this.state, proposal, this.#ctx(now, opts.io, this.#verifier()));
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
    await this.#commit(result, { requestedAtMs: now, retries: opts.retries ?? 0 });
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

  /**
   * Update validator: synchronous, and changes nothing of the mission (it only keeps an accepted
   * result for its handler). Throws to keep a rejection out of history. It is the trust boundary
   * for the proposal's signature: the handler does not verify it again.
   */
  validate(proposal: unknown): void {
    const now = Date.now();
    const r = applyProposal(this.state, proposal, this.#ctx(now));
    if (r.accepted) {
      const id = currentUpdateInfo()?.id;
      if (!r.duplicate && id !== undefined) {
        this.#validated.set(id, {
          result: r,
          state: this.state,
          idempotency: this.idempotency,
          io: this.io,
          now,
        });
        if (this.#validated.size > VALIDATED_KEPT)
          this.#validated.delete(this.#validated.keys().next().value!);
      }
      return;
    }
    if (IO_GUARDS.has(r.failing_guard)) return;
    observeRejectedTransition(r, { mission: this.missionId, head: this.hash, proposal });
    throw rejection(r, this.hash);
  }

  /** The I/O verdicts an outside proposal of `transition` needs, fetched fresh. */
  async #ioFor(transition: unknown): Promise<GuardIO> {
    switch (transition) {
      case 'Boot_Licensed':
      case 'Boot_LicenseGrace':
        return { licence: await this.ioCall('licence verdict').licenceVerdict() };
      case 'Council_ToolingReady':
        return { tools: (await this.ioCall('probe tool servers').toolStatus()).tools };
      case 'Policy_Update':
      case 'Policy_Quarantine':
        return { policy: await this.#policyScan() };
      case 'Terminal_Terminate': {
        // An owner-class proposal to terminate IS the owner's confirmation of the block.
        const policy = await this.#policyScan();
        return { policy: { ...policy, confirmed_block: true } };
      }
      default:
        return {};
    }
  }

  /**
   * Update handler: re-run the I/O guards, apply, record; a repeat returns the first outcome. The
   * signature was verified by `validate` (Temporal runs this only for an update it accepted), so
   * it is not verified again; HEAD, HLC and the guards are, since they can change in between.
   */
  handle(proposal: unknown): Promise<TransitionOutcome> {
    const requestedAtMs = Date.now();
    return this.exclusive(async () => {
      const transition = (proposal as { transition?: unknown } | null)?.transition;
      const fresh = await this.#ioFor(transition);
      this.#cache(fresh);
      const now = Date.now();
      const verifier = this.#verifier();
      const r: ApplyResult =
        this.#reuseValidated(now, fresh, verifier) ??
        applyValidatedProposal(this.state, proposal, this.#ctx(now, fresh, verifier));
      if (!r.accepted) {
        if (r.escalation && this.state.policy.phase === 'CLEAR') {
          await this.takeLocked(r.escalation.transition, {
            ...r.escalation.inputs,
            breaches: [...r.escalation.inputs.breaches],
          });
        }
        observeRejectedTransition(r, { mission: this.missionId, head: this.hash, proposal });
        throw rejection(r, this.hash);
      }
      if (r.duplicate) return { post_hash: r.post_hash, decision_id: r.decision_id, duplicate: true };
      await this.#commit(r, { requestedAtMs });
      return { post_hash: r.post_hash, decision_id: decisionId(r.decision), duplicate: false };
    });
  }

  /**
   * The validator's result for the running update, when applying the proposal now is the very
   * computation the validator did: same state, idempotency table and I/O verdicts (no fresh I/O),
   * same workflow clock and verifier. The protocol is a pure function of those and the proposal, so
   * the result is identical, and skipping the second computation halves a transition's CPU. On
   * replay validators do not run, nothing is kept, and the handler computes it again.
   */
  #reuseValidated(now: number, fresh: GuardIO, verifier: Verifier): Accepted | undefined {
    const id = currentUpdateInfo()?.id;
    if (id === undefined) return undefined;
    const kept = this.#validated.get(id);
    this.#validated.delete(id);
    const same =
      kept !== undefined &&
      Object.keys(fresh).length === 0 &&
      verifier === verifyDetached &&
      kept.state === this.state &&
      kept.idempotency === this.idempotency &&
      kept.io === this.io &&
      kept.now === now;
    return same ? kept.result : undefined;
  }

  /**
   * Applies an owner command (issue 6) to future work and records it in the decision ledger with
   * its actor and reason. Pause and resume go the statechart's path (Control_Pause/Control_Resume,
   * the actor in the reason); reroute and latency change what the next agent jobs and activities
   * are scheduled with. A command id seen before (a retried batch) is ignored.
   */
  applyOwnerControl(cmd: OwnerControlCommand): Promise<void> {
    return this.exclusive(async () => {
      if (this.controls.applied.some((a) => a.id === cmd.id)) return;
      const pre = this.hash;
      const evidence: string[] = [];
      let applied = true;
      let detail: string;
      if (cmd.action === 'pause' || cmd.action === 'resume') {
        const transition = cmd.action === 'pause' ? 'Control_Pause' : 'Control_Resume';
        const r = await this.takeLocked(transition, { reason: `${cmd.actor}: ${cmd.reason}`.slice(0, 1024) });
        applied = r.accepted;
        if (r.accepted) {
          evidence.push(decisionId(r.decision));
          detail = `${transition}: control is ${this.state.control.phase}`;
        } else detail = `${transition} refused by ${r.failing_guard}: ${r.reasons.join('; ')}`;
      } else if (cmd.action === 'reroute') {
        const before = this.controls.agentTaskQueue;
        this.controls = { ...this.controls, agentTaskQueue: cmd.taskQueue };
        detail = `agent task queue ${before ?? '(mission queue)'} -> ${cmd.taskQueue ?? '(mission queue)'}`;
      } else {
        const before = this.controls.latency;
        this.controls = { ...this.controls, latency: { ...before, ...cmd.budgets } };
        detail = LATENCY_CLASSES.filter((c) => cmd.budgets[c] !== undefined)
          .map((c) => `${c} ${before[c]}s -> ${cmd.budgets[c]}s`)
          .join(', ');
      }
      const now = Date.now();
      const seq = OWNER_RECORD_SEQ_BASE + this.controls.recorded;
      const transition = OWNER_CONTROL_TRANSITIONS[cmd.action];
      const record = decisionId({ mission: this.missionId, region: 'control', transition, seq });
      const entry: AppliedOwnerControl = {
        id: cmd.id,
        action: cmd.action,
        actor: cmd.actor,
        reason: cmd.reason,
        at_ms: now,
        applied,
        detail,
        record,
      };
      this.controls = {
        ...this.controls,
        recorded: this.controls.recorded + 1,
        applied: [...this.controls.applied, entry].slice(-OWNER_CONTROL_HISTORY),
      };
      const last = this.state.hlc_last === null ? { wall: 0, counter: 0 } : parseHlc(this.state.hlc_last);
      await localLedger(`record ${transition} by ${cmd.actor}`).recordDecision({
        mission: this.missionId,
        seq,
        region: 'control',
        transition,
        signer: this.config.orchestratorKey,
        proposal_signature: null,
        signature_verified: false,
        pre_state_hash: pre,
        post_state_hash: this.hash,
        inputs_hash: hashCanonical(cmd),
        idem_key: `owner:${cmd.id}`,
        hlc: formatHlc(hlcSend(last, now)),
        window_id: windowIdAt(this.machine.schedule, now),
        evidence,
        guards: [
          {
            guard: 'owner-control',
            ok: applied,
            // The actor is what the sender says (the gateway: the caller's token name); an owner
            // command carries no signature yet, so the record says so (docs/api.md, trust boundary).
            reasons: [`actor: ${cmd.actor}`, `reason: ${cmd.reason}`, detail, ACTOR_AS_REPORTED],
          },
        ],
        decided_at: decidedAt(now),
      });
    });
  }

  /** True while the orchestrator itself holds the mission in RECOVERY for a lost quorum. */
  recovering(): boolean {
    return this.state.control.phase === 'RECOVERY' && this.recovery.since_ms !== null;
  }

  /** A lost quorum the mission has not yet reacted to: RECOVERY is due. */
  recoveryDue(): boolean {
    const phase = this.state.control.phase;
    return (
      this.quorumLost !== null &&
      this.state.council.quorum_certificate === null &&
      (phase === 'RUNNING' || phase === 'DEGRADED') &&
      !this.terminated
    );
  }

  /** Enters RECOVERY through the normal transition path (Control_Recover) and starts the clock. */
  enterRecovery(): Promise<boolean> {
    return this.exclusive(async () => {
      if (!this.recoveryDue()) return false;
      this.#recoveryReason = this.quorumLost ?? 'quorum lost';
      try {
        return (await this.takeLocked('Control_Recover', { reason: this.#recoveryReason })).accepted;
      } finally {
        this.#recoveryReason = null;
      }
    });
  }

  /**
   * Leaves RECOVERY on a new valid quorum certificate: the collected votes are checked as a
   * certificate first (the pure quorum guard), then Control_Resume and Council_QuorumCert are taken
   * back to back under the mutex — the certificate's WORK guards need control RUNNING, and nothing
   * else can run between the two.
   */
  leaveRecovery(setHash: string): Promise<boolean> {
    return this.exclusive(async () => {
      if (!this.recovering() || this.state.council.council_set_hash !== setHash) return false;
      const votes = this.votesFor(setHash);
      const cert = { council_set_hash: setHash, votes };
      if (!checkQuorumCertificate(this.state, cert, this.machine, this.#verifier()).ok) return false;
      const seconds = (Date.now() - (this.recovery.since_ms ?? Date.now())) / 1000;
      const resumed = await this.takeLocked('Control_Resume', {
        reason: `council re-certified by a new quorum after ${seconds} s in RECOVERY`,
      });
      if (!resumed.accepted) return false;
      return (await this.takeLocked('Council_QuorumCert', { council_set_hash: setHash, votes })).accepted;
    });
  }

  /** Starts the clock when the orchestrator's own Control_Recover lands (before its ledger write). */
  #openRecovery(): void {
    const now = Date.now();
    this.recovery = {
      since_ms: now,
      episodes: [
        ...this.recovery.episodes,
        {
          reason: this.#recoveryReason ?? 'quorum lost',
          entered_at_ms: now,
          left_at_ms: null,
          seconds: null,
        },
      ].slice(-RECOVERY_EPISODES),
    };
  }

  #closeRecovery(): void {
    const since = this.recovery.since_ms;
    if (since === null) return;
    const now = Date.now();
    this.recovery = {
      since_ms: null,
      episodes: this.recovery.episodes.map((e) =>
        e.entered_at_ms === since && e.left_at_ms === null
          ? { ...e, left_at_ms: now, seconds: (now - since) / 1000 }
          : e,
      ),
    };
    observeRecoveryTime((now - since) / 1000);
  }

  /** Votes for the current election that verify (the update validator admits only those). */
  votesFor(setHash: string): Vote[] {
    return [...this.votes.values()]
      .filter((v) => v.council_set_hash === setHash)
      .sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  }

  quorum(): number {
    return quorumRequired(this.state.council.members.length, this.machine.quorumSize);
  }

  /**
   * The first outcome of `proposal` if it repeats one already applied (same idem_key, same signed
   * proposal), else null: lets the gateway answer a retry with `duplicate: true` before Temporal's
   * update-id deduplication would hand back the first answer verbatim. Pure; a query may call it.
   */
  repeatOutcome(proposal: unknown): TransitionOutcome | null {
    const r = applyProposal(this.state, proposal, this.#ctx(Date.now()));
    return r.accepted && r.duplicate
      ? { post_hash: r.post_hash, decision_id: r.decision_id, duplicate: true }
      : null;
  }
}
