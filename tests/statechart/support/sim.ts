/**
 * A closed-loop mission simulator for property tests, the 10k run and the benchmark.
 *
 * A planner plays every caller at once: it reads HEAD, picks a sensible next transition (the happy
 * path, plus perturbations — pauses, recoveries, licence lapses, tool flaps, ejections,
 * re-ingestion, quarantines), builds valid inputs and I/O verdicts, and proposes. A chaos layer
 * between caller and protocol duplicates, reorders and drops deliveries and injects invalid
 * proposals (forged or unauthorised signatures, stale hashes, malformed fields, HLC regressions,
 * reused idem keys, transitions not enabled). Everything follows from the seed, so a run is a
 * reproducible stream of deliveries that can be replayed on its own.
 */
import type { UnsignedTransitionProposal } from '../../../schemas/proposal';
import { base64Decode, base64Encode } from '../../../schemas/base64';
import { defineConfig, type MachineConfig } from '../../../workflows/statechart/config';
import {
  TRANSITION_NAMES,
  TRANSITIONS,
  type TransitionName,
  type WindowClass,
} from '../../../schemas/statechart';
import { quorumRequired } from '../../../workflows/statechart/guards/quorum';
import type { Escalation } from '../../../workflows/statechart/guards/types';
import type { GuardIO } from '../../../schemas/guard-io';
import { hashCanonical } from '../../../schemas/hash';
import { formatHlc, hlcSend, tryParseHlc, type Hlc } from '../../../schemas/hlc';
import { EMPTY_IDEMPOTENCY, type IdempotencyTable } from '../../../workflows/statechart/idempotency';
import { checkStepInvariants, type InvariantViolation } from '../../../workflows/statechart/invariants';
import {
  applyProposal,
  applyTrustedProposal,
  buildProposal,
  type ApplyResult,
  type FailingGuard,
} from '../../../workflows/statechart/protocol';
import { isEnabled } from '../../../workflows/statechart/reducer';
import type { TransitionEvent } from '../../../workflows/statechart/reducer';
import type { SignerRegistry } from '../../../workflows/statechart/registry';
import { signProposal, signVote } from '../../../workflows/statechart/signing';
import { currentPlanLock, initialState, samePlanLock, stateHash } from '../../../workflows/statechart/state';
import { type StateDocument } from '../../../schemas/state-document';
import { nextOpening, windowAt } from '../../../workflows/statechart/window';
import { ACTORS, APPROVERS, MEMBERS, proposerFor, testRegistry, type TestKey } from './keys';
import { Rng } from '../../support/random';

export interface ChaosRates {
  readonly duplicate: number;
  readonly reorder: number;
  readonly drop: number;
  readonly invalid: number;
}

export interface SimOptions {
  readonly seed: number;
  /** Stop after this many deliveries… */
  readonly deliveries?: number;
  /** …or after this many accepted transitions (whichever comes first). */
  readonly accepted?: number;
  /** Sign every proposal and verify signatures (slow), or take the trusted unsigned path. */
  readonly signed: boolean;
  readonly chaos: ChaosRates;
  /** Probability per step of a perturbation (pause, lapse, eject…). */
  readonly perturb?: number;
  readonly allowTerminate?: boolean;
  readonly checkInvariants?: boolean;
  readonly missionId?: string;
  readonly config?: Partial<MachineConfig>;
  readonly start?: number;
}

export const INVALID_KINDS = [
  'forged-signature',
  'unauthorised',
  'unregistered',
  'stale-hash',
  'bad-schema',
  'hlc-regression',
  'idem-reuse',
  'not-enabled',
] as const;
export type InvalidKind = (typeof INVALID_KINDS)[number];

/** The failing guard each kind of invalid proposal must be rejected by. */
export const EXPECTED_FAILURE: Readonly<Record<InvalidKind, FailingGuard>> = {
  'forged-signature': 'signature',
  unauthorised: 'authorisation',
  unregistered: 'authorisation',
  'stale-hash': 'concurrency',
  'bad-schema': 'schema',
  'hlc-regression': 'hlc',
  'idem-reuse': 'idempotency',
  'not-enabled': 'statechart',
};

export type DeliveryKind = 'fresh' | 'duplicate' | 'reordered' | `invalid:${InvalidKind}`;

export interface Delivery {
  readonly kind: DeliveryKind;
  readonly proposal: unknown;
  readonly io: GuardIO;
  readonly now: number;
}

export interface SimRun {
  readonly stream: Delivery[];
  readonly results: ApplyResult[];
  /** HEAD hash after each delivery. */
  readonly heads: string[];
  readonly final: StateDocument;
  readonly finalHash: string;
  readonly idempotency: IdempotencyTable;
  readonly violations: { index: number; violations: InvariantViolation[] }[];
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly config: MachineConfig;
}

interface Intent {
  readonly name: TransitionName;
  readonly inputs: Record<string, unknown>;
  readonly io?: GuardIO;
  readonly evidence?: readonly string[];
  readonly signer?: TestKey;
  /** Move the clock to the opening of this window class first (and, for NextWindow, a new bar). */
  readonly window?: WindowClass;
}

const STEP_MIN_MS = 1_000;
const STEP_MAX_MS = 20_000;
const DAY = 86_400_000;
const PINS = { 'mcp-git': '1.4.2', 'mcp-search': '0.9.1' };
const TOOLS = [
  { name: 'mcp-git', reachable: true, version: '1.4.2' },
  { name: 'mcp-search', reachable: true, version: '0.9.1' },
];

/**
 * Signed votes by (mission, member, set). Signing is deterministic, so caching changes no result;
 * it only spares repeated runs the cost of ed25519 signing in pure JavaScript (there are few
 * distinct member sets among seven candidates).
 */
const VOTES = new Map<string, { member: string; council_set_hash: string; signature: string }>();

/** The registry and config a run uses; exported so a replay can rebuild the exact context. */
export function simContext(options: Pick<SimOptions, 'config'>): {
  registry: SignerRegistry;
  config: MachineConfig;
} {
  return { registry: testRegistry(), config: defineConfig(options.config ?? {}) };
}

class Simulation {
  readonly rng: Rng;
  readonly registry: SignerRegistry;
  readonly config: MachineConfig;
  state: StateDocument;
  idempotency: IdempotencyTable = EMPTY_IDEMPOTENCY;
  now: number;
  clock: Hlc = { wall: 0, counter: 0 };
  counter = 0;
  escalation: Escalation | null = null;
  breachNext = false;
  readonly acceptedHistory: { proposal: unknown; io: GuardIO; cls: string }[] = [];
  readonly held: { delivery: Omit<Delivery, 'now' | 'kind'>; release: number }[] = [];
  readonly run: {
    stream: Delivery[];
    results: ApplyResult[];
    heads: string[];
    violations: { index: number; violations: InvariantViolation[] }[];
  } = { stream: [], results: [], heads: [], violations: [] };
  accepted = 0;
  duplicates = 0;
  rejected = 0;

  constructor(readonly options: SimOptions) {
    this.rng = new Rng(options.seed);
    const ctx = simContext(options);
    this.registry = ctx.registry;
    this.config = ctx.config;
    this.state = initialState(options.missionId ?? 'm-sim');
    this.now = options.start ?? Date.UTC(2025, 9, 19, 0, 0, 0);
  }

  // ---------------------------------------------------------------- building proposals

  idem(name: TransitionName): string {
    return `${this.state.meta.mission_id}:${this.state.execution.beat}:${TRANSITIONS[name].class}:${this.rng.uuid()}`;
  }

  hlc(): string {
    const last = this.state.hlc_last === null ? null : tryParseHlc(this.state.hlc_last);
    const base =
      last !== null &&
      (last.wall > this.clock.wall || (last.wall === this.clock.wall && last.counter > this.clock.counter))
        ? last
        : this.clock;
    this.clock = hlcSend(base, this.now);
    return formatHlc(this.clock);
  }

  draft(
    intent: Intent,
    signer: TestKey,
    overrides: Partial<UnsignedTransitionProposal> = {},
  ): UnsignedTransitionProposal {
    const base = buildProposal(this.state, {
      transition: intent.name,
      inputs: intent.inputs,
      signer: signer.key,
      idem_key: this.idem(intent.name),
      hlc: this.hlc(),
      window_id: windowAt(this.config.schedule, this.now).id,
      evidence: intent.evidence ?? [],
    });
    return { ...base, ...overrides };
  }

  seal(unsigned: UnsignedTransitionProposal, signer: TestKey): unknown {
    return this.options.signed ? signProposal(unsigned, signer.secretKey) : unsigned;
  }

  // ---------------------------------------------------------------- delivery

  deliver(kind: DeliveryKind, proposal: unknown, io: GuardIO): ApplyResult {
    const pre = this.state;
    const ctx = {
      registry: this.registry,
      idempotency: this.idempotency,
      config: this.config,
      now: this.now,
      io,
    };
    const result = this.options.signed
      ? applyProposal(pre, proposal, ctx)
      : applyTrustedProposal(pre, proposal, ctx);
    let post = pre;
    if (result.accepted && !result.duplicate) {
      post = result.state;
      this.state = post;
      this.idempotency = result.idempotency;
      this.accepted++;
      const cls = TRANSITIONS[result.decision.transition].class;
      this.acceptedHistory.push({ proposal, io, cls });
      if (this.acceptedHistory.length > 64) this.acceptedHistory.shift();
    } else if (result.accepted) {
      this.duplicates++;
    } else {
      this.rejected++;
      if (kind === 'fresh' && result.escalation !== undefined) this.escalation = result.escalation;
    }
    const index = this.run.stream.length;
    this.run.stream.push({ kind, proposal, io, now: this.now });
    this.run.results.push(result);
    this.run.heads.push(stateHash(post));
    if (this.options.checkInvariants) {
      const violations = checkStepInvariants(pre, post, result, this.config);
      if (violations.length > 0) this.run.violations.push({ index, violations });
    }
    return result;
  }

  done(): boolean {
    if (this.options.deliveries !== undefined && this.run.stream.length >= this.options.deliveries)
      return true;
    if (this.options.accepted !== undefined && this.accepted >= this.options.accepted) return true;
    return false;
  }

  step(): void {
    this.now += this.rng.int(STEP_MIN_MS, STEP_MAX_MS);
    const chaos = this.options.chaos;

    // Held (reordered) proposals whose turn has come arrive late.
    for (let i = 0; i < this.held.length && !this.done();) {
      const held = this.held[i]!;
      if (held.release <= this.run.stream.length) {
        this.held.splice(i, 1);
        this.deliver('reordered', held.delivery.proposal, held.delivery.io);
      } else i++;
    }
    if (this.done()) return;

    // A re-delivery of something already applied.
    if (this.acceptedHistory.length > 0 && this.rng.chance(chaos.duplicate)) {
      const dup = this.rng.pick(this.acceptedHistory);
      this.deliver('duplicate', dup.proposal, dup.io);
      if (this.done()) return;
    }

    const intent = this.plan();
    if (intent === null) return;
    if (intent.window !== undefined) this.moveToWindow(intent.name, intent.window);
    const signer = intent.signer ?? proposerFor(TRANSITIONS[intent.name].class);
    const io = intent.io ?? {};

    // An invalid proposal of some kind, built against the same HEAD.
    if (this.rng.chance(chaos.invalid)) {
      this.deliverInvalid(intent, signer, io);
      if (this.done()) return;
    }

    const proposal = this.seal(this.draft(intent, signer), signer);
    if (this.rng.chance(chaos.drop)) return;
    if (this.rng.chance(chaos.reorder)) {
      this.held.push({ delivery: { proposal, io }, release: this.run.stream.length + this.rng.int(1, 3) });
      return;
    }
    this.deliver('fresh', proposal, io);
  }

  moveToWindow(name: TransitionName, cls: WindowClass): void {
    const schedule = this.config.schedule;
    let t = nextOpening(schedule, cls, this.now);
    if (name === 'Execution_NextWindow' && windowAt(schedule, t).id === this.state.execution.window_id) {
      t = nextOpening(schedule, cls, windowAt(schedule, t).end);
    }
    if (t !== this.now) {
      const w = windowAt(schedule, t);
      t += this.rng.int(0, Math.max(0, Math.min(30_000, Math.floor((w.phaseEnd - w.phaseStart) / 4))));
    }
    this.now = t;
  }

  deliverInvalid(intent: Intent, signer: TestKey, io: GuardIO): void {
    let kind = this.rng.pick(INVALID_KINDS);
    if (kind === 'forged-signature' && !this.options.signed) kind = 'stale-hash';
    if (
      kind === 'idem-reuse' &&
      !this.acceptedHistory.some((h) => h.cls === TRANSITIONS[intent.name].class)
    ) {
      kind = 'stale-hash';
    }
    let proposal: unknown;
    switch (kind) {
      case 'forged-signature': {
        const unsigned = this.draft(intent, signer);
        if (this.rng.chance(0.5)) {
          const signed = signProposal(unsigned, signer.secretKey);
          const bytes = base64Decode(signed.signature)!;
          bytes[this.rng.int(0, 31)]! ^= 1 << this.rng.int(0, 7);
          proposal = { ...signed, signature: base64Encode(bytes) };
        } else {
          // Signed by someone else's key while claiming to be `signer`.
          const other = signer === ACTORS.stranger ? ACTORS.intruder : ACTORS.stranger;
          proposal = {
            ...signProposal({ ...unsigned, signer: other.key }, other.secretKey),
            signer: signer.key,
          };
        }
        break;
      }
      case 'unauthorised':
      case 'unregistered': {
        const cls = TRANSITIONS[intent.name].class;
        const who = kind === 'unregistered' || cls === 'work' ? ACTORS.stranger : ACTORS.intruder;
        proposal = this.sealAs(this.draft(intent, who), who);
        break;
      }
      case 'stale-hash':
        proposal = this.seal(
          this.draft(intent, signer, { current_state_hash: hashCanonical(this.rng.uuid()) }),
          signer,
        );
        break;
      case 'bad-schema': {
        const variants: Partial<UnsignedTransitionProposal>[] = [
          { hlc: '2025-13-40T99:00:00.000+00:00#1' },
          { inputs_hash: hashCanonical('not the inputs') },
          { idem_key: 'no-colons-here' },
          { window_id: 'W-2025' },
          { evidence: ['not a uri'] },
        ];
        const unsigned = this.draft(intent, signer, this.rng.pick(variants));
        proposal = this.options.signed ? signProposal(unsigned, signer.secretKey) : unsigned;
        break;
      }
      case 'hlc-regression': {
        const last = this.state.hlc_last === null ? null : tryParseHlc(this.state.hlc_last);
        const wall =
          last !== null
            ? Math.max(0, last.wall - this.rng.int(1, 60_000))
            : this.now + this.config.hlcMaxDriftMs + 60_000;
        proposal = this.seal(this.draft(intent, signer, { hlc: formatHlc({ wall, counter: 0 }) }), signer);
        break;
      }
      case 'idem-reuse': {
        const cls = TRANSITIONS[intent.name].class;
        const earlier = this.acceptedHistory.filter((h) => h.cls === cls);
        const reused = (this.rng.pick(earlier).proposal as { idem_key: string }).idem_key;
        proposal = this.seal(
          this.draft(intent, signer, { idem_key: reused, evidence: ['urn:swoosh:reused'] }),
          signer,
        );
        break;
      }
      case 'not-enabled': {
        const disabled = TRANSITION_NAMES.filter((n) => !isEnabled(this.state, n));
        const name = this.rng.pick(disabled);
        const who = proposerFor(TRANSITIONS[name].class);
        proposal = this.seal(this.draft({ name, inputs: {} }, who), who);
        break;
      }
    }
    this.deliver(`invalid:${kind}`, proposal, io);
  }

  sealAs(unsigned: UnsignedTransitionProposal, who: TestKey): unknown {
    return this.options.signed ? signProposal(unsigned, who.secretKey) : unsigned;
  }

  // ---------------------------------------------------------------- the planner

  plan(): Intent | null {
    const s = this.state;
    const rng = this.rng;
    if (s.terminal.phase === 'TERMINATED') {
      // Keep knocking: everything must be refused from now on.
      return { name: 'Control_Pause', inputs: { reason: 'after termination' } };
    }
    if (this.escalation !== null) {
      const esc = this.escalation;
      this.escalation = null;
      if (s.policy.phase === 'CLEAR') {
        return {
          name: 'Policy_Quarantine',
          inputs: { rationale: esc.inputs.rationale, breaches: [...esc.inputs.breaches] },
          io: {
            policy: { breach: true, rationale: esc.inputs.rationale, breaches: [...esc.inputs.breaches] },
          },
        };
      }
    }
    if (s.policy.phase === 'QUARANTINED') {
      const r = rng.next();
      if (this.options.allowTerminate && r < 0.2) {
        return {
          name: 'Terminal_Terminate',
          inputs: { rationale: 'confirmed block' },
          io: { policy: { breach: true, confirmed_block: true } },
        };
      }
      if (r < 0.3) {
        const comp = this.compensation();
        if (comp) return comp;
      }
      if (r < 0.6) return { name: 'Policy_Release', inputs: { rationale: 'owner reviewed the breach' } };
      const version = `policy-${this.counter++}`;
      return {
        name: 'Policy_Update',
        inputs: { policy_version: version, rationale: 'policy updated' },
        io: { policy: { breach: false, policy_version: version } },
      };
    }
    if (s.control.phase === 'PAUSED' || s.control.phase === 'RECOVERY') {
      if (rng.chance(0.25)) {
        const comp = this.compensation();
        if (comp) return comp;
      }
      return {
        name: 'Control_Resume',
        inputs: { reason: 'operator resumed' },
        signer: rng.chance(0.5) ? ACTORS.owner : ACTORS.orchestrator,
      };
    }
    const boot = this.bootIntent();
    if (boot) return boot;
    if (rng.chance(this.options.perturb ?? 0.04)) {
      const p = this.perturbation();
      if (p) return p;
    }
    if (s.control.phase === 'DEGRADED' && rng.chance(0.2))
      return { name: 'Control_Resume', inputs: { reason: 'capacity back' } };
    return this.progress();
  }

  bootIntent(): Intent | null {
    const s = this.state;
    const { phase, licence } = s.boot;
    const valid = (): Intent => {
      const expires_at_ms = this.now + 7 * DAY;
      const token_digest = hashCanonical(`token-${this.counter++}`);
      const denied = this.rng.chance(0.08);
      return {
        name: 'Boot_Licensed',
        inputs: { expires_at_ms, token_digest },
        io: {
          licence: denied
            ? { status: 'denied', expires_at_ms: null, token_digest: null, detail: 'seat limit' }
            : { status: 'valid', expires_at_ms, token_digest },
        },
      };
    };
    switch (phase) {
      case 'UNINITIALIZED':
      case 'EXPIRED':
        return {
          name: 'Boot_LicenseCheck',
          inputs: { identities: { orchestrator: ACTORS.orchestrator.key, owner: ACTORS.owner.key } },
        };
      case 'LICENSE_CHECK':
        return valid();
      case 'GRACE':
        if (licence.grace_until_ms !== null && this.now >= licence.grace_until_ms)
          return { name: 'Boot_LicenseExpire', inputs: {} };
        return this.rng.chance(0.2) ? valid() : null;
      case 'LICENSED':
        if (licence.expires_at_ms !== null && this.now >= licence.expires_at_ms - DAY) return valid();
        return null;
    }
  }

  compensation(): Intent | null {
    const s = this.state;
    const options: Intent[] = [];
    if (s.environment.phase !== 'ALLOCATE')
      options.push({ name: 'Environment_Deprovision', inputs: { reason: 'release capacity' } });
    if (
      ['VALIDATE', 'INDEX', 'READY', 'QUARANTINED'].includes(s.ingestion.phase) &&
      !(s.ingestion.phase === 'QUARANTINED' && s.policy.phase === 'QUARANTINED')
    ) {
      options.push({ name: 'Ingestion_RollbackIndex', inputs: { reason: 'roll back index' } });
    }
    if (['ELECT', 'TOOLING_SYNC', 'READY'].includes(s.council.phase) && s.council.members.length >= 2) {
      options.push({
        name: 'Council_Eject',
        inputs: { members: [this.rng.pick(s.council.members).id], reason: 'unresponsive' },
      });
    }
    return options.length > 0 ? this.rng.pick(options) : null;
  }

  perturbation(): Intent | null {
    const s = this.state;
    const rng = this.rng;
    const options: (() => Intent | null)[] = [
      () =>
        s.control.phase === 'RUNNING' || s.control.phase === 'DEGRADED'
          ? { name: 'Control_Pause', inputs: { reason: 'pause all' }, signer: ACTORS.owner }
          : null,
      () =>
        s.control.phase === 'RUNNING'
          ? { name: 'Control_Degrade', inputs: { reason: 'capacity churn' } }
          : null,
      () =>
        s.control.phase !== 'RECOVERY'
          ? { name: 'Control_Recover', inputs: { reason: 'worker restart mid-flight' } }
          : null,
      () =>
        s.boot.phase === 'LICENSED'
          ? {
              name: 'Boot_LicenseGrace',
              inputs: { reason: 'licence server unreachable' },
              io: { licence: { status: 'unreachable', expires_at_ms: null, token_digest: null } },
            }
          : null,
      () =>
        s.environment.phase === 'READY' || s.environment.phase === 'HEALTHCHECK'
          ? {
              name: 'Environment_Degrade',
              inputs: {
                checks: [
                  { name: 'api', ok: false, detail: 'timeout' },
                  { name: 'dns', ok: true },
                ],
              },
            }
          : null,
      () => this.compensation(),
      () =>
        ['ELECT', 'TOOLING_SYNC', 'READY'].includes(s.council.phase) && rng.chance(0.3)
          ? { name: 'Council_ReElect', inputs: { members: this.electMembers(), reason: 'rotate council' } }
          : null,
      () =>
        s.ingestion.phase === 'READY'
          ? { name: 'Ingestion_Fetch', inputs: { sources: this.sources() } }
          : null,
      () =>
        s.policy.phase === 'CLEAR'
          ? {
              name: 'Policy_Quarantine',
              inputs: { rationale: 'secret in artifact', breaches: ['secret in artifact'] },
              io: { policy: { breach: true, rationale: 'secret in artifact' } },
            }
          : null,
      () => {
        const version = `policy-${this.counter++}`;
        return { name: 'Policy_Update', inputs: { policy_version: version, rationale: 'routine update' } };
      },
      () => {
        this.breachNext = true;
        return null;
      },
      () => {
        this.now += rng.int(1, 4) * 3_600_000;
        return null;
      },
    ];
    return rng.pick(options)();
  }

  electMembers(): { id: string; key: string }[] {
    return this.rng.sample(MEMBERS, this.rng.int(3, 5)).map((m) => ({ id: m.id, key: m.key }));
  }

  sources(): string[] {
    return [`ucxl://swoosh:m-sim@sources/spec-${this.counter++}`, 'https://example.org/spec.md'];
  }

  withScan(intent: Intent): Intent {
    if (!this.breachNext) return intent;
    this.breachNext = false;
    return {
      ...intent,
      io: {
        ...(intent.io ?? {}),
        policy: { breach: true, rationale: 'PII in inputs', breaches: ['PII in inputs'] },
      },
    };
  }

  progress(): Intent | null {
    const s = this.state;
    const rng = this.rng;
    const regions: (() => Intent | null)[] = [];
    if (s.ingestion.phase !== 'READY') regions.push(() => this.ingestionStep());
    if (s.council.phase !== 'READY') regions.push(() => this.councilStep());
    if (s.environment.phase !== 'READY') regions.push(() => this.environmentStep());
    if (regions.length > 0) {
      const intent = rng.pick(regions)();
      return intent === null ? null : this.withScan(intent);
    }
    const exec = this.executionStep();
    return exec === null ? null : this.withScan(exec);
  }

  ingestionStep(): Intent | null {
    const s = this.state;
    const rng = this.rng;
    switch (s.ingestion.phase) {
      case 'DISCOVER':
        return { name: 'Ingestion_Fetch', inputs: { sources: this.sources() } };
      case 'FETCH':
        return {
          name: 'Ingestion_Validate',
          inputs: { content_hash: hashCanonical(`content-${this.counter++}`) },
        };
      case 'VALIDATE':
        if (rng.chance(0.08)) {
          return {
            name: 'Ingestion_Quarantine',
            inputs: {
              report_hash: hashCanonical(`report-${this.counter++}`),
              violations: ['licence header missing'],
              rationale: 'policy violation in content',
            },
          };
        }
        return {
          name: 'Ingestion_Index',
          inputs: {
            report_hash: hashCanonical(`report-${this.counter++}`),
            passed: !rng.chance(0.03),
            violations: [],
          },
        };
      case 'INDEX':
        return { name: 'Ingestion_Ready', inputs: { index_hash: hashCanonical(`index-${this.counter++}`) } };
      case 'QUARANTINED':
        return { name: 'Ingestion_RollbackIndex', inputs: { reason: 'drop quarantined content' } };
      default:
        return null;
    }
  }

  councilStep(): Intent | null {
    const s = this.state;
    const rng = this.rng;
    switch (s.council.phase) {
      case 'PLAN_ROLES':
        return {
          name: 'Council_Elect',
          inputs: { roles: ['architect', 'implementer', 'reviewer'], members: this.electMembers() },
        };
      case 'ELECT': {
        const n = s.council.members.length;
        const required = quorumRequired(n, this.config.quorumSize);
        if (n < required)
          return {
            name: 'Council_ReElect',
            inputs: { members: this.electMembers(), reason: 'too few members for quorum' },
          };
        // Exactly a quorum most of the time: every vote costs an ed25519 verification.
        const voters = rng.sample(s.council.members, rng.chance(0.8) ? required : rng.int(required, n));
        const setHash = s.council.council_set_hash!;
        const votes = voters.map((m) => this.vote(m.id, setHash));
        if (rng.chance(0.05)) {
          // Split brain: one voter signed a different set.
          const rogue = voters[0]!;
          votes[0] = this.vote(rogue.id, hashCanonical(`other-set-${this.counter++}`));
        }
        return { name: 'Council_QuorumCert', inputs: { council_set_hash: setHash, votes } };
      }
      case 'TOOLING_SYNC': {
        const flap = rng.chance(0.1);
        return {
          name: 'Council_ToolingReady',
          inputs: { pins: { ...PINS } },
          io: { tools: flap ? [{ ...TOOLS[0]!, reachable: false }, TOOLS[1]!] : TOOLS },
        };
      }
      default:
        return null;
    }
  }

  vote(member: string, setHash: string): { member: string; council_set_hash: string; signature: string } {
    const key = `${this.state.meta.mission_id}|${member}|${setHash}`;
    const hit = VOTES.get(key);
    if (hit) return hit;
    const m = MEMBERS.find((x) => x.id === member)!;
    const vote = signVote({ member, council_set_hash: setHash }, this.state.meta.mission_id, m.secretKey);
    VOTES.set(key, vote);
    return vote;
  }

  environmentStep(): Intent | null {
    const s = this.state;
    switch (s.environment.phase) {
      case 'ALLOCATE':
        return {
          name: 'Environment_Provision',
          inputs: {
            allocations: [
              { resource: 'cpu', amount: this.rng.int(1, 16) },
              { resource: 'memory-gib', amount: 8 },
            ],
          },
        };
      case 'PROVISION':
        return {
          name: 'Environment_Healthcheck',
          inputs: { assets: [{ id: `ns-${this.counter++}`, kind: 'namespace', ref: 'k8s://swoosh-agents' }] },
        };
      case 'HEALTHCHECK':
      case 'DEGRADED':
        return {
          name: 'Environment_Ready',
          inputs: {
            checks: [
              { name: 'api', ok: true },
              { name: 'dns', ok: true },
            ],
          },
        };
      default:
        return null;
    }
  }

  planInputs(): { plan_hash: string; plan_lock: NonNullable<ReturnType<typeof currentPlanLock>> } | null {
    const lock = currentPlanLock(this.state);
    return lock === null ? null : { plan_hash: hashCanonical(`plan-${this.counter++}`), plan_lock: lock };
  }

  executionStep(): Intent | null {
    const s = this.state;
    const exec = s.execution;
    const plan = this.planInputs();
    if (plan === null) return null;
    if (exec.phase === 'IDLE') return { name: 'Execution_Enter', inputs: plan, window: 'plan' };
    if (!samePlanLock(exec.plan_lock, currentPlanLock(s))) {
      return { name: 'Execution_Replan', inputs: { ...plan, reason: 'regions changed version' } };
    }
    switch (exec.phase) {
      case 'PLAN':
        return {
          name: 'Execution_Work',
          inputs: { tasks: [`task-${exec.beat}-a`, `task-${exec.beat}-b`] },
          window: 'work',
        };
      case 'WORK':
        return {
          name: 'Execution_Review',
          inputs: {},
          evidence: [`ucxl://swoosh:m-sim@execution/beat-${exec.beat}/artifact`, `bubble://dr/${exec.beat}`],
          window: 'review',
        };
      case 'REVIEW': {
        if (exec.approvals.some((a) => a.decision === 'reject')) {
          return { name: 'Execution_Replan', inputs: { ...plan, reason: 'review rejected the results' } };
        }
        const approved = exec.approvals.filter((a) => a.decision === 'approve').length;
        if (approved < this.config.approvalsRequired) {
          const pending = APPROVERS.filter((a) => !exec.approvals.some((x) => x.approver === a.key));
          if (pending.length === 0)
            return { name: 'Execution_Replan', inputs: { ...plan, reason: 'no approvers left' } };
          return {
            name: 'Execution_Approve',
            inputs: { decision: this.rng.chance(0.05) ? 'reject' : 'approve' },
            signer: this.rng.pick(pending),
            window: 'review',
          };
        }
        return { name: 'Execution_Reverb', inputs: {}, window: 'reverb' };
      }
      case 'REVERB':
        return { name: 'Execution_NextWindow', inputs: {}, window: 'plan' };
    }
  }
}

/** Runs a simulation to completion and returns its stream and outcomes. */
/** The events of a run's accepted transitions, in order: what the bare reducer is fed. */
export function acceptedEvents(run: Pick<SimRun, 'stream' | 'results'>): TransitionEvent[] {
  const events: TransitionEvent[] = [];
  run.results.forEach((r, i) => {
    if (!r.accepted || r.duplicate) return;
    const p = run.stream[i]!.proposal as UnsignedTransitionProposal;
    events.push({
      name: p.transition,
      inputs: p.inputs,
      signer: p.signer,
      idem_key: p.idem_key,
      hlc: p.hlc,
      window_id: p.window_id,
      evidence: p.evidence,
      at_ms: Date.parse(r.decision.decided_at),
    });
  });
  return events;
}

export function simulate(options: SimOptions): SimRun {
  const sim = new Simulation(options);
  let guard = 0;
  const limit = 50 * Math.max(options.deliveries ?? 0, options.accepted ?? 0) + 1000;
  while (!sim.done()) {
    sim.step();
    if (++guard > limit) throw new Error(`simulation made no progress (seed ${options.seed})`);
  }
  return {
    ...sim.run,
    final: sim.state,
    finalHash: stateHash(sim.state),
    idempotency: sim.idempotency,
    accepted: sim.accepted,
    duplicates: sim.duplicates,
    rejected: sim.rejected,
    config: sim.config,
  };
}

/** Replays a recorded stream from the initial state: what an independent reducer fed the same stream does. */
export function replay(
  stream: readonly Delivery[],
  options: Pick<SimOptions, 'signed' | 'missionId' | 'config'>,
): {
  final: StateDocument;
  finalHash: string;
  results: ApplyResult[];
  heads: string[];
  /** The state and idempotency table each delivery met. */
  before: { state: StateDocument; idempotency: IdempotencyTable }[];
} {
  const { registry, config } = simContext(options);
  let state = initialState(options.missionId ?? 'm-sim');
  let idempotency: IdempotencyTable = EMPTY_IDEMPOTENCY;
  const results: ApplyResult[] = [];
  const heads: string[] = [];
  const before: { state: StateDocument; idempotency: IdempotencyTable }[] = [];
  for (const d of stream) {
    before.push({ state, idempotency });
    const ctx = { registry, idempotency, config, now: d.now, io: d.io };
    const r = options.signed
      ? applyProposal(state, d.proposal, ctx)
      : applyTrustedProposal(state, d.proposal, ctx);
    if (r.accepted && !r.duplicate) {
      state = r.state;
      idempotency = r.idempotency;
    }
    results.push(r);
    heads.push(stateHash(state));
  }
  return { final: state, finalHash: stateHash(state), results, heads, before };
}

/** A compact, comparable summary of a result. */
export function summarise(r: ApplyResult): string {
  if (!r.accepted) return `rejected:${r.failing_guard}`;
  return r.duplicate ? `duplicate:${r.seq}` : `accepted:${r.post_hash}`;
}
