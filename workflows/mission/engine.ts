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
import { ApplicationFailure, log, sleep, upsertSearchAttributes, uuid4 } from '@temporalio/workflow';
import type { ResolvedMissionConfig } from '../../schemas/mission-config';
import {
  TRANSITION_REJECTED,
  type FetchedSource,
  type MissionPhase,
  type TransitionOutcome,
  type TransitionRejection,
} from '../../schemas/mission';
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
  backoffMs,
  buildProposal,
  checkStepInvariants,
  createSignerRegistry,
  defineConfig,
  formatHlc,
  hlcSend,
  parseHlc,
  quorumRequired,
  stateHash,
  TRANSITIONS,
  windowIdAt,
  type Accepted,
  type ApplyResult,
  type GuardIO,
  type IdempotencyTable,
  type MachineConfig,
  type Rejected,
  type SignerKey,
  type SignerRegistry,
  type StateDocument,
  type TransitionClass,
  type TransitionName,
  type Vote,
} from '../statechart';
import { io, ledger } from './activities';

/** Guards whose verdict comes from I/O: the validator lets these through for the handler to re-check. */
const IO_GUARDS = new Set([
  'licence-verdict',
  'licence-lapse',
  'tooling',
  'policy-update',
  'policy-breach',
  'confirmed-block',
]);

/** What crosses continue-as-new: the state document is the snapshot; its hash must not change. */
export interface MissionSnapshot {
  state: StateDocument;
  hash: string;
  idempotency: IdempotencyTable;
  io: GuardIO;
  sources: FetchedSource[];
  votes: Vote[];
  beatsCompleted: number;
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
  readonly config: ResolvedMissionConfig;
  readonly machine: MachineConfig;
  readonly registry: SignerRegistry;
  readonly missionId: string;
  #chain: Promise<unknown> = Promise.resolve();
  #attributes = new Map<string, string | number>();

  constructor(missionId: string, config: ResolvedMissionConfig, snapshot: Omit<MissionSnapshot, 'hash'>) {
    this.missionId = missionId;
    this.config = config;
    this.state = snapshot.state;
    this.idempotency = snapshot.idempotency;
    this.io = snapshot.io;
    this.sources = snapshot.sources;
    for (const v of snapshot.votes) this.votes.set(v.member, v);
    this.beatsCompleted = snapshot.beatsCompleted;
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
    };
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

  /** Keeps the Web UI's search attributes current; upserts only what changed. */
  publish(): void {
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

  #ctx(now: number, extra?: GuardIO) {
    return {
      registry: this.registry,
      idempotency: this.idempotency,
      config: this.machine,
      now,
      // A policy verdict speaks only for the step it was scanned for; licence and tool verdicts
      // are cached (the validator needs them), a policy breach must not leak into later steps.
      io: {
        ...(this.io.licence ? { licence: this.io.licence } : {}),
        ...(this.io.tools ? { tools: this.io.tools } : {}),
        ...extra,
      },
    };
  }

  async #commit(result: Accepted): Promise<void> {
    const pre = this.state;
    const violations = checkStepInvariants(pre, result.state, result, this.machine);
    if (violations.length > 0) {
      // The core promises these never happen; a violation is a bug to surface, not to record.
      log.error('invariant violation', { violations: violations.map((v) => `${v.invariant}: ${v.detail}`) });
    }
    this.state = result.state;
    this.idempotency = result.idempotency;
    this.publish();
    log.info('transition', {
      transition: result.decision.transition,
      state_pre_hash: result.pre_hash,
      state_post_hash: result.post_hash,
      hlc: result.decision.hlc,
      window_id: result.decision.window_id,
    });
    await ledger(`record ${result.decision.transition} #${result.decision.seq}`).recordDecision(
      result.decision,
    );
  }

  /** The orchestrator's own transition, inside the mutex (for callers already holding it). */
  async takeLocked(
    transition: TransitionName,
    inputs: Record<string, unknown>,
    opts: { evidence?: string[]; io?: GuardIO } = {},
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
    const result = applyTrustedProposal(this.state, proposal, this.#ctx(now, opts.io));
    if (!result.accepted) {
      log.warn('own transition rejected', {
        transition,
        failing_guard: result.failing_guard,
        reasons: result.reasons,
      });
      if (result.escalation && this.state.policy.phase === 'CLEAR') {
        await this.takeLocked(result.escalation.transition, {
          ...result.escalation.inputs,
          breaches: [...result.escalation.inputs.breaches],
        });
      }
      return result;
    }
    if (result.duplicate) throw new Error('a fresh uuid cannot repeat an idem_key');
    await this.#commit(result);
    return result;
  }

  /** The orchestrator's own transition: same path as an outside proposal, signer = its public key. */
  take(
    transition: TransitionName,
    inputs: Record<string, unknown>,
    opts: { evidence?: string[]; io?: GuardIO } = {},
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
      const r = await this.take(transition, prepared.inputs, prepared);
      if (r.accepted) return true;
      await sleep(backoffMs(this.machine.schedule, Math.min(attempt, 16)));
    }
    return false;
  }

  /** Update validator: pure, synchronous, no mutation. Throws to keep a rejection out of history. */
  validate(proposal: unknown): void {
    const r = applyProposal(this.state, proposal, this.#ctx(Date.now()));
    if (r.accepted) return;
    if (IO_GUARDS.has(r.failing_guard)) return;
    throw rejection(r, this.hash);
  }

  /** The I/O verdicts an outside proposal of `transition` needs, fetched fresh. */
  async #ioFor(transition: unknown): Promise<GuardIO> {
    switch (transition) {
      case 'Boot_Licensed':
      case 'Boot_LicenseGrace':
        return { licence: await io('licence verdict').licenceVerdict() };
      case 'Council_ToolingReady':
        return { tools: (await io('probe tool servers').toolStatus()).tools };
      case 'Policy_Update':
      case 'Policy_Quarantine':
        return { policy: await io('policy scan').policyScan({ sources: this.sources }) };
      case 'Terminal_Terminate': {
        // An owner-class proposal to terminate IS the owner's confirmation of the block.
        const policy = await io('policy scan').policyScan({ sources: this.sources });
        return { policy: { ...policy, confirmed_block: true } };
      }
      default:
        return {};
    }
  }

  /** Update handler: re-run the I/O guards, apply, record; a repeat returns the first outcome. */
  handle(proposal: unknown): Promise<TransitionOutcome> {
    return this.exclusive(async () => {
      const transition = (proposal as { transition?: unknown } | null)?.transition;
      const fresh = await this.#ioFor(transition);
      this.#cache(fresh);
      const r: ApplyResult = applyProposal(this.state, proposal, this.#ctx(Date.now(), fresh));
      if (!r.accepted) {
        if (r.escalation && this.state.policy.phase === 'CLEAR') {
          await this.takeLocked(r.escalation.transition, {
            ...r.escalation.inputs,
            breaches: [...r.escalation.inputs.breaches],
          });
        }
        throw rejection(r, this.hash);
      }
      if (r.duplicate) return { post_hash: r.post_hash, decision_id: r.decision_id, duplicate: true };
      await this.#commit(r);
      return { post_hash: r.post_hash, decision_id: r.decision.id, duplicate: false };
    });
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
