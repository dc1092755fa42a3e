/**
 * A small driver for unit tests: it holds one mission's state, idempotency table and clock, builds
 * proposals against HEAD with a fresh HLC and idem_key, signs them when asked, and applies them
 * through the real protocol. `drive*` helpers take a mission to a named point of the happy path so
 * each test starts where its behaviour begins.
 */
import type { UnsignedTransitionProposal } from '../../../schemas/proposal';
import { defineConfig, type MachineConfig } from '../../../workflows/statechart/config';
import { TRANSITIONS, type TransitionName, type WindowClass } from '../../../schemas/statechart';
import type { GuardIO } from '../../../schemas/guard-io';
import { hashCanonical } from '../../../schemas/hash';
import { formatHlc, hlcSend, tryParseHlc, type Hlc } from '../../../schemas/hlc';
import { EMPTY_IDEMPOTENCY, type IdempotencyTable } from '../../../workflows/statechart/idempotency';
import {
  applyProposal,
  applyTrustedProposal,
  buildProposal,
  type Accepted,
  type ApplyResult,
} from '../../../workflows/statechart/protocol';
import type { SignerRegistry } from '../../../workflows/statechart/registry';
import { signProposal, signVote } from '../../../workflows/statechart/signing';
import { currentPlanLock, initialState } from '../../../workflows/statechart/state';
import { type StateDocument } from '../../../schemas/state-document';
import { nextOpening, windowAt } from '../../../workflows/statechart/window';
import { ACTORS, APPROVERS, MEMBERS, proposerFor, testRegistry, type TestKey } from './keys';

/** 2025-10-19T01:00:00Z, the start of bar 02 of the default 30-minute schedule (PLAN phase). */
export const T0 = Date.UTC(2025, 9, 19, 1, 0, 0);
export const DAY = 86_400_000;

export const TOKEN_DIGEST = hashCanonical('licence-token-1');
export const TOOL_PINS = { 'mcp-git': '1.4.2', 'mcp-search': '0.9.1' } as const;
export const HEALTHY_TOOLS = [
  { name: 'mcp-git', reachable: true, version: '1.4.2' },
  { name: 'mcp-search', reachable: true, version: '0.9.1' },
];

/** A valid licence verdict and the matching Boot_Licensed inputs, expiring `ttlMs` after `now`. */
export function licence(now: number, ttlMs = 7 * DAY, digest = TOKEN_DIGEST) {
  const expires_at_ms = now + ttlMs;
  return {
    inputs: { expires_at_ms, token_digest: digest },
    io: { licence: { status: 'valid' as const, expires_at_ms, token_digest: digest } },
  };
}

/** Signed votes of `voters` for the council set currently elected in `state`. */
export function votesFor(state: StateDocument, voters: readonly string[]) {
  const setHash = state.council.council_set_hash;
  if (setHash === null) throw new Error('no council set elected');
  return voters.map((id) => {
    const member = MEMBERS.find((m) => m.id === id);
    if (!member) throw new Error(`unknown member ${id}`);
    return signVote({ member: id, council_set_hash: setHash }, state.meta.mission_id, member.secretKey);
  });
}

export const memberEntries = (ids: readonly string[]) =>
  ids.map((id) => {
    const m = MEMBERS.find((x) => x.id === id);
    if (!m) throw new Error(`unknown member ${id}`);
    return { id: m.id, key: m.key };
  });

export interface StepOptions {
  readonly signer?: TestKey;
  readonly io?: GuardIO;
  readonly evidence?: readonly string[];
  /** Sign and verify (default) or take the orchestrator's unsigned path. */
  readonly signed?: boolean;
  readonly hlc?: string;
  readonly window_id?: string;
  readonly idem_key?: string;
}

export class Harness {
  state: StateDocument;
  idempotency: IdempotencyTable = EMPTY_IDEMPOTENCY;
  now: number;
  readonly config: MachineConfig;
  readonly registry: SignerRegistry;
  private clock: Hlc = { wall: 0, counter: 0 };
  private counter = 0;

  constructor(options: { missionId?: string; now?: number; config?: Partial<MachineConfig> } = {}) {
    this.state = initialState(options.missionId ?? 'm-test');
    this.now = options.now ?? T0;
    this.config = defineConfig(options.config ?? {});
    this.registry = testRegistry();
  }

  /** A fresh idem_key for transition `name`. */
  idemKey(name: TransitionName): string {
    this.counter++;
    const uuid = `00000000-0000-4000-8000-${String(this.counter).padStart(12, '0')}`;
    return `${this.state.meta.mission_id}:${this.state.execution.beat}:${TRANSITIONS[name].class}:${uuid}`;
  }

  /** The next HLC: after both our last stamp and the state's last applied HLC. */
  nextHlc(): string {
    const last = this.state.hlc_last === null ? null : tryParseHlc(this.state.hlc_last);
    const base = last !== null && last.wall > this.clock.wall ? last : this.clock;
    this.clock = hlcSend(base, this.now);
    return formatHlc(this.clock);
  }

  /** An unsigned proposal for `name` against HEAD. */
  draft(
    name: TransitionName,
    inputs: Record<string, unknown>,
    options: StepOptions = {},
  ): UnsignedTransitionProposal {
    const signer = options.signer ?? proposerFor(TRANSITIONS[name].class);
    return buildProposal(this.state, {
      transition: name,
      inputs,
      signer: signer.key,
      idem_key: options.idem_key ?? this.idemKey(name),
      hlc: options.hlc ?? this.nextHlc(),
      window_id: options.window_id ?? windowAt(this.config.schedule, this.now).id,
      evidence: options.evidence ?? [],
    });
  }

  /** Applies a proposal and, when accepted, adopts the new state and idempotency table. */
  apply(proposal: unknown, options: { io?: GuardIO; signed?: boolean } = {}): ApplyResult {
    const ctx = {
      registry: this.registry,
      idempotency: this.idempotency,
      config: this.config,
      now: this.now,
      io: options.io ?? {},
    };
    const result =
      options.signed === false
        ? applyTrustedProposal(this.state, proposal, ctx)
        : applyProposal(this.state, proposal, ctx);
    if (result.accepted && !result.duplicate) {
      this.state = result.state;
      this.idempotency = result.idempotency;
    }
    return result;
  }

  /** Drafts, signs (unless `signed: false`) and applies one proposal. */
  step(name: TransitionName, inputs: Record<string, unknown>, options: StepOptions = {}): ApplyResult {
    const signer = options.signer ?? proposerFor(TRANSITIONS[name].class);
    const unsigned = this.draft(name, inputs, { ...options, signer });
    const proposal = options.signed === false ? unsigned : signProposal(unsigned, signer.secretKey);
    return this.apply(proposal, { io: options.io ?? {}, signed: options.signed ?? true });
  }

  /** Like `step`, on the unsigned path by default (fast), and failing the test if rejected. */
  must(name: TransitionName, inputs: Record<string, unknown>, options: StepOptions = {}): Accepted {
    const result = this.step(name, inputs, { signed: false, ...options });
    if (!result.accepted || result.duplicate) {
      throw new Error(`${name} was not accepted: ${JSON.stringify(result)}`);
    }
    return result;
  }

  /** Moves the clock forward by `ms`. */
  advance(ms: number): this {
    this.now += ms;
    return this;
  }

  /** Moves the clock to the next opening of `cls` (now, if already open), plus `offsetMs`. */
  toWindow(cls: WindowClass, offsetMs = 1_000): this {
    const opens = nextOpening(this.config.schedule, cls, this.now);
    this.now = opens === this.now ? opens : opens + offsetMs;
    return this;
  }

  // --- the happy path, in stages ---

  driveLicensed(): this {
    this.must('Boot_LicenseCheck', {
      identities: { orchestrator: ACTORS.orchestrator.key, owner: ACTORS.owner.key },
    });
    const lic = licence(this.now);
    this.must('Boot_Licensed', lic.inputs, { io: lic.io });
    return this;
  }

  driveIngestionReady(): this {
    this.must('Ingestion_Fetch', {
      sources: ['ucxl://swoosh:m-test@sources/spec', 'https://example.org/spec.md'],
    });
    this.must('Ingestion_Validate', { content_hash: hashCanonical('content-v1') });
    this.must('Ingestion_Index', { report_hash: hashCanonical('report-1'), passed: true, violations: [] });
    this.must('Ingestion_Ready', { index_hash: hashCanonical('index-1') });
    return this;
  }

  driveCouncilReady(ids: readonly string[] = ['ada', 'brin', 'cole']): this {
    this.must('Council_Elect', { roles: ['architect', 'reviewer'], members: memberEntries(ids) });
    this.must('Council_QuorumCert', {
      council_set_hash: this.state.council.council_set_hash,
      votes: votesFor(
        this.state,
        ids.slice(0, Math.max(this.config.quorumSize, Math.floor(ids.length / 2) + 1)),
      ),
    });
    this.must('Council_ToolingReady', { pins: { ...TOOL_PINS } }, { io: { tools: HEALTHY_TOOLS } });
    return this;
  }

  driveEnvironmentReady(): this {
    this.must('Environment_Provision', { allocations: [{ resource: 'cpu', amount: 4 }] });
    this.must('Environment_Healthcheck', {
      assets: [{ id: 'ns-1', kind: 'namespace', ref: 'k8s://swoosh-agents' }],
    });
    this.must('Environment_Ready', { checks: [{ name: 'api', ok: true }] });
    return this;
  }

  driveLifecycleReady(): this {
    return this.driveLicensed().driveIngestionReady().driveCouncilReady().driveEnvironmentReady();
  }

  /** Plan-lock inputs matching the current regions. */
  planInputs(planName = 'plan-1'): {
    plan_hash: string;
    plan_lock: NonNullable<ReturnType<typeof currentPlanLock>>;
  } {
    const lock = currentPlanLock(this.state);
    if (lock === null) throw new Error('regions have no complete version');
    return { plan_hash: hashCanonical(planName), plan_lock: lock };
  }

  driveExecuting(): this {
    this.driveLifecycleReady();
    this.toWindow('plan');
    this.must('Execution_Enter', this.planInputs());
    return this;
  }

  /** From PLAN, one full beat to REVERB (work, review with evidence, one approval, reverb). */
  driveBeat(): this {
    this.toWindow('work').must('Execution_Work', { tasks: ['t-1'] });
    this.toWindow('review').must(
      'Execution_Review',
      {},
      { evidence: ['ucxl://swoosh:m-test@execution/evidence/1'] },
    );
    this.must('Execution_Approve', { decision: 'approve' }, { signer: APPROVERS[0] });
    this.toWindow('reverb').must('Execution_Reverb', {});
    return this;
  }
}
