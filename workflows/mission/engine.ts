/**
 * The mission's single serialisation point: it owns the state document, HEAD and the idempotency
 * table, and every transition — proposed from outside through the `transition` update
 * (`transition-update.ts`) or taken by the orchestrator itself (`take`) — goes one path: checks and
 * guards (`applyProposal` / `applyTrustedProposal`), reduce, hash, decision record (the
 * `recordDecision` activity, which signs the hash-chained record with the orchestrator key outside
 * the sandbox).
 *
 * Handlers that await activities are serialised by a promise-chain mutex (`exclusive`), so two
 * proposals are never checked against the same HEAD.
 */
import { log, patched, sleep, uuid4 } from '@temporalio/workflow';
import type { ResolvedMissionConfig } from '../../schemas/mission-config';
import type { FetchedSource, MissionPhase, RecoveryView } from '../../schemas/mission';
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
  applyTrustedProposal,
  backoffMs,
  checkQuorumCertificate,
  buildProposal,
  checkStepInvariants,
  quorumRequired,
  stateHash,
  verifyDetached,
  verifyDetachedLegacy,
  windowIdAt,
  type ApplyContext,
  type IdempotencyTable,
  type MachineConfig,
  type Rejected,
  type SignerRegistry,
  type Verifier,
} from '../statechart';
import { type GuardIO } from '../../schemas/guard-io';
import { formatHlc, hlcSend, parseHlc } from '../../schemas/hlc';
import { hashCanonical } from '../../schemas/hash';
import { TRANSITIONS, type TransitionName } from '../../schemas/statechart';
import type { Accepted } from '../statechart';
import { type StateDocument } from '../../schemas/state-document';
import { type Vote } from '../../schemas/proposal';
import { io, ledger, LOCAL_ACTIVITIES_PATCH, localLedger, ownerLedger, short } from './activities';
import { holdVerdicts, verdictsFor } from './guard-io';
import { councilMembers, machineConfigOf, signerRegistryOf } from './machine-config';
import { SearchAttributePublisher } from './search-attributes';
import {
  type AcceptedObservation,
  observeAcceptedTransition,
  observeRecoveryTime,
  observeRejectedTransition,
} from '../observability';

/**
 * The patch that moved signature checks in replayed code (the quorum guard's votes) from tweetnacl
 * to the strict verifier. Validators are never replayed and always verify strictly.
 */
export const STRICT_SIGNATURES_PATCH = 'swoosh-strict-signatures-v1';

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
  readonly #attributes = new SearchAttributePublisher(this);

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

  /** Keeps the Web UI's search attributes current (`search-attributes.ts`). */
  publish(immediately = false): void {
    this.#attributes.publish(immediately);
  }

  /** Runs `fn` after every earlier handler step: one proposal at a time against HEAD. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
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
          evidence.push(r.decision.id);
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
      const record = `ucxl://swoosh:${this.missionId}@control/${transition}/${seq}`;
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
      await ownerLedger(`record ${transition} by ${cmd.actor}`).recordDecision({
        id: record,
        seq,
        mission_id: this.missionId,
        region: 'control',
        transition,
        pre_hash: pre as Accepted['pre_hash'],
        post_hash: this.hash as Accepted['post_hash'],
        inputs_hash: hashCanonical(cmd),
        signer: this.config.orchestratorKey,
        signature: null,
        signature_verified: false,
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
        at_ms: now,
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
      if (!checkQuorumCertificate(this.state, cert, this.machine, this.verifier()).ok) return false;
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
}
