/**
 * The transition registry: one handler per transition of the statechart, typed as a mapped type
 * over `TransitionName`, so adding a transition to the definition without a handler — or keeping a
 * handler for a transition that no longer exists — does not compile.
 *
 * A handler receives its own region's document and the parsed inputs, and returns that region's
 * new document (minus `phase`, which the reducer takes from the definition's `to`). It cannot touch
 * another region: the type only lets it return its own, which is how "exactly one region changes
 * per transition" holds by construction. Handlers never mutate their arguments; set-like lists are
 * sorted so that the same set always produces the same document and hash.
 */
import type { StateDocument } from '../../schemas/state-document';
import type { MachineConfig } from './config';
import type { RegionOf, TransitionName } from '../../schemas/statechart';
import { quorumRequired } from './guards/quorum';
import type { InputOf } from '../../schemas/transition-inputs';
import { assetsHash, memberSetHash } from './state';

/** What a transition carries besides its inputs (from the proposal, plus the orchestrator's clock). */
export interface TransitionEvent<K extends TransitionName = TransitionName> {
  readonly name: K;
  readonly inputs: unknown;
  readonly signer: string;
  readonly idem_key: string;
  readonly hlc: string;
  readonly window_id: string;
  readonly evidence: readonly string[];
  /** The orchestrator's deterministic clock when the transition is applied (Unix ms). */
  readonly at_ms: number;
}

export interface HandlerEnv {
  readonly state: StateDocument;
  readonly event: TransitionEvent;
  readonly config: MachineConfig;
}

type RegionDoc<K extends TransitionName> = StateDocument[RegionOf<K>];
export type Handler<K extends TransitionName> = (
  region: RegionDoc<K>,
  inputs: InputOf<K>,
  env: HandlerEnv,
) => Omit<RegionDoc<K>, 'phase'>;

/** The registry type: a missing or extra handler is a compile error. */
export type TransitionRegistry = { readonly [K in TransitionName]: Handler<K> };

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedUnique = (items: readonly string[]): string[] => [...new Set(items)].sort(byText);
const sortBy =
  <T>(key: (item: T) => string) =>
  (items: readonly T[]): T[] =>
    [...items].sort((a, b) => byText(key(a), key(b)));

const sortMembers = sortBy((m: { id: string; key: string }) => m.id);
const sortChecks = sortBy((c: { name: string; ok: boolean; detail: string | null }) => c.name);

export const HANDLERS: TransitionRegistry = {
  Boot_LicenseCheck: (boot, inputs) => ({ ...boot, identities: { ...inputs.identities } }),
  Boot_Licensed: (boot, inputs) => ({
    ...boot,
    licence: {
      status: 'valid',
      expires_at_ms: inputs.expires_at_ms,
      token_digest: inputs.token_digest,
      grace_until_ms: null,
    },
  }),
  Boot_LicenseGrace: (boot, _inputs, env) => ({
    ...boot,
    licence: {
      ...boot.licence,
      status: 'grace',
      grace_until_ms: env.event.at_ms + env.config.licenceGraceMs,
    },
  }),
  Boot_LicenseExpire: (boot) => ({ ...boot, licence: { ...boot.licence, status: 'expired' } }),

  Ingestion_Fetch: (ing, inputs) => ({
    ...ing,
    sources: sortedUnique(inputs.sources),
    content_hash: null,
    index_hash: null,
    validation: null,
    rationale: null,
  }),
  Ingestion_Validate: (ing, inputs) => ({ ...ing, content_hash: inputs.content_hash }),
  Ingestion_Index: (ing, inputs) => ({
    ...ing,
    validation: {
      report_hash: inputs.report_hash,
      passed: inputs.passed,
      violations: [...inputs.violations],
    },
  }),
  Ingestion_Ready: (ing, inputs) => ({
    ...ing,
    index_version: ing.index_version + 1,
    index_hash: inputs.index_hash,
  }),
  Ingestion_Quarantine: (ing, inputs) => ({
    ...ing,
    validation: { report_hash: inputs.report_hash, passed: false, violations: [...inputs.violations] },
    rationale: inputs.rationale,
  }),
  Ingestion_RollbackIndex: (ing) => ({
    ...ing,
    sources: [],
    content_hash: null,
    index_hash: null,
    validation: null,
    rationale: null,
    rollbacks: ing.rollbacks + 1,
  }),

  Council_Elect: (council, inputs) => {
    const members = sortMembers(inputs.members);
    return {
      ...council,
      roles: sortedUnique(inputs.roles),
      members,
      council_set_hash: memberSetHash(members),
      quorum_certificate: null,
      tooling: null,
      ejected: [],
    };
  },
  Council_QuorumCert: (council, inputs, env) => ({
    ...council,
    quorum_certificate: {
      council_set_hash: inputs.council_set_hash,
      quorum: quorumRequired(council.members.length, env.config.quorumSize),
      votes: sortBy((v: { member: string; signature: string }) => v.member)(
        inputs.votes.map((v) => ({ member: v.member, signature: v.signature })),
      ),
    },
  }),
  Council_ToolingReady: (council, inputs) => ({ ...council, tooling: { pins: { ...inputs.pins } } }),
  Council_Eject: (council, inputs) => {
    const members = council.members.filter((m) => !inputs.members.includes(m.id));
    return {
      ...council,
      members,
      council_set_hash: memberSetHash(members),
      quorum_certificate: null,
      tooling: null,
      ejected: sortedUnique([...council.ejected, ...inputs.members]),
    };
  },
  Council_ReElect: (council, inputs) => {
    const members = sortMembers(inputs.members);
    return {
      ...council,
      roles: inputs.roles === undefined ? council.roles : sortedUnique(inputs.roles),
      members,
      council_set_hash: memberSetHash(members),
      quorum_certificate: null,
      tooling: null,
      ejected: [],
    };
  },

  Environment_Provision: (env, inputs) => ({
    ...env,
    allocations: sortBy((a: { resource: string; amount: number }) => a.resource)(inputs.allocations),
    assets: [],
    assets_hash: null,
    health: [],
  }),
  Environment_Healthcheck: (env, inputs) => {
    const assets = sortBy((a: { id: string; kind: string; ref: string }) => a.id)(inputs.assets);
    return { ...env, assets, assets_hash: assetsHash(assets), health: [] };
  },
  Environment_Ready: (env, inputs) => ({ ...env, health: sortChecks(inputs.checks) }),
  Environment_Degrade: (env, inputs) => ({ ...env, health: sortChecks(inputs.checks) }),
  Environment_Deprovision: (env) => ({
    ...env,
    allocations: [],
    assets: [],
    assets_hash: null,
    health: [],
    deprovisions: env.deprovisions + 1,
  }),

  Execution_Enter: (exec, inputs, { event }) => ({
    ...exec,
    plan_hash: inputs.plan_hash,
    plan_lock: { ...inputs.plan_lock },
    beat: 1,
    window_id: event.window_id,
    tasks: [],
    evidence: [],
    approvals: [],
  }),
  Execution_Work: (exec, inputs, { event }) => ({
    ...exec,
    window_id: event.window_id,
    tasks: sortedUnique(inputs.tasks),
  }),
  Execution_Review: (exec, _inputs, { event }) => ({
    ...exec,
    window_id: event.window_id,
    evidence: sortedUnique(event.evidence),
  }),
  Execution_Approve: (exec, inputs, { event }) => ({
    ...exec,
    window_id: event.window_id,
    approvals: sortBy((a: { approver: string; decision: 'approve' | 'reject' }) => a.approver)([
      ...exec.approvals,
      { approver: event.signer, decision: inputs.decision },
    ]),
  }),
  Execution_Reverb: (exec, _inputs, { event }) => ({ ...exec, window_id: event.window_id }),
  Execution_NextWindow: (exec, _inputs, { event }) => ({
    ...exec,
    beat: exec.beat + 1,
    window_id: event.window_id,
    tasks: [],
    evidence: [],
    approvals: [],
  }),
  Execution_Replan: (exec, inputs) => ({
    ...exec,
    plan_hash: inputs.plan_hash,
    plan_lock: { ...inputs.plan_lock },
    tasks: [],
    evidence: [],
    approvals: [],
  }),

  Control_Pause: (control, inputs) => ({ ...control, reason: inputs.reason }),
  Control_Resume: (control, inputs) => ({ ...control, reason: inputs.reason }),
  Control_Degrade: (control, inputs) => ({ ...control, reason: inputs.reason }),
  Control_Recover: (control, inputs) => ({ ...control, reason: inputs.reason }),

  Policy_Quarantine: (policy, inputs) => ({
    ...policy,
    rationale: inputs.rationale,
    breaches: sortedUnique(inputs.breaches),
  }),
  Policy_Release: (policy, inputs) => ({ ...policy, rationale: inputs.rationale, breaches: [] }),
  Policy_Update: (policy, inputs) => ({
    ...policy,
    policy_version: inputs.policy_version,
    rationale: inputs.rationale,
    breaches: [],
  }),

  Terminal_Terminate: (terminal, inputs) => ({ ...terminal, rationale: inputs.rationale }),
};
