/**
 * The SWOOSH statechart as data (docs/design.md#the-statechart). Everything else is derived from this object: the
 * transition registry is typed against it (a missing handler does not compile), the state document
 * schema takes its phase enums from it, the YAML and Mermaid files are generated from it, and
 * `meta.schema_hash` in every state document is its canonical hash, so a state produced under one
 * definition cannot be mistaken for one produced under another.
 *
 * Shape: the top level runs BOOT → PROJECT_LIFECYCLE (three parallel regions) → EXECUTION (loop),
 * with CONTROL, POLICY and TERMINAL as orthogonal regions beside them. Every region holds exactly
 * one phase, and every transition belongs to exactly one region: it may read any region in its
 * guards but writes only its own, which is what lets the invariant checker demand exactly one epoch
 * advance per accepted transition.
 */
import { hashCanonical, type Sha256 } from './hash';
import { TRANSITION_CLASSES, type TransitionClass } from './transition-classes';

/** Top-level groups, in the order the diagram draws them. */
export const GROUPS = ['BOOT', 'PROJECT_LIFECYCLE', 'EXECUTION', 'CONTROL', 'POLICY', 'TERMINAL'] as const;
export type Group = (typeof GROUPS)[number];

interface RegionSpec {
  readonly group: Group;
  readonly initial: string;
  readonly states: readonly string[];
  readonly summary: string;
}

/**
 * Regions, their phases and initial phase. `execution.IDLE` means "not yet in EXECUTION", and
 * `boot.GRACE` is the licence grace substate that the design calls DEGRADED (docs/design.md#guards) (named apart from the
 * control and environment DEGRADED states so the three cannot be confused).
 */
export const REGIONS = {
  boot: {
    group: 'BOOT',
    initial: 'UNINITIALIZED',
    states: ['UNINITIALIZED', 'LICENSE_CHECK', 'LICENSED', 'GRACE', 'EXPIRED'],
    summary: 'Licence gate (KACHING) with a grace substate before the hard stop.',
  },
  ingestion: {
    group: 'PROJECT_LIFECYCLE',
    initial: 'DISCOVER',
    states: ['DISCOVER', 'FETCH', 'VALIDATE', 'INDEX', 'READY', 'QUARANTINED'],
    summary: 'Sources are fetched, validated and indexed into a content version.',
  },
  council: {
    group: 'PROJECT_LIFECYCLE',
    initial: 'PLAN_ROLES',
    states: ['PLAN_ROLES', 'ELECT', 'TOOLING_SYNC', 'READY'],
    summary: 'Roles are planned, a council is elected by quorum certificate and its tools synced.',
  },
  environment: {
    group: 'PROJECT_LIFECYCLE',
    initial: 'ALLOCATE',
    states: ['ALLOCATE', 'PROVISION', 'HEALTHCHECK', 'READY', 'DEGRADED'],
    summary: 'Capacity is allocated, provisioned and health-checked.',
  },
  execution: {
    group: 'EXECUTION',
    initial: 'IDLE',
    states: ['IDLE', 'PLAN', 'WORK', 'REVIEW', 'REVERB'],
    summary: 'The beat loop PLAN → WORK → REVIEW → REVERB → next window, entered once all regions are READY.',
  },
  control: {
    group: 'CONTROL',
    initial: 'RUNNING',
    states: ['RUNNING', 'PAUSED', 'RECOVERY', 'DEGRADED'],
    summary: 'Operator and orchestrator control: pause, recovery after faults, degraded operation.',
  },
  policy: {
    group: 'POLICY',
    initial: 'CLEAR',
    states: ['CLEAR', 'QUARANTINED'],
    summary: 'Policy (SHHH) quarantine; sticky until an owner release or a policy update.',
  },
  terminal: {
    group: 'TERMINAL',
    initial: 'ACTIVE',
    states: ['ACTIVE', 'TERMINATED'],
    summary: 'Absorbing termination after a confirmed policy block.',
  },
} as const satisfies Record<string, RegionSpec>;

export type Region = keyof typeof REGIONS;
export const REGION_NAMES = Object.keys(REGIONS) as Region[];
export type StateOf<R extends Region> = (typeof REGIONS)[R]['states'][number];

/** Transition classes live with the contracts, so mission configs are checked against this list. */
export { TRANSITION_CLASSES, type TransitionClass };

/** Window classes of the BACKBEAT schedule: each is open during one phase of every bar. */
export const WINDOW_CLASSES = ['plan', 'work', 'review', 'reverb'] as const;
export type WindowClass = (typeof WINDOW_CLASSES)[number];

/** Every named guard. The guard registry is typed against this list in both directions. */
export const GUARD_NAMES = [
  'active',
  'licence',
  'control',
  'not-quarantined',
  'policy-scan',
  'window',
  'licence-verdict',
  'licence-lapse',
  'grace-expired',
  'validation',
  'validation-violation',
  'quarantine-exit',
  'quorum',
  'tooling',
  'membership',
  'health',
  'health-failure',
  'regions-ready',
  'plan-lock',
  'plan-current',
  'evidence',
  'approval-unique',
  'approvals',
  'next-window',
  'policy-breach',
  'policy-update',
  'confirmed-block',
] as const;
export type GuardName = (typeof GUARD_NAMES)[number];

/** Guards every transition runs before its own: a TERMINATED mission accepts nothing. */
export const GLOBAL_GUARDS = ['active'] as const satisfies readonly GuardName[];

type TransitionSpecFor<R extends Region> = {
  readonly region: R;
  readonly from: readonly StateOf<R>[];
  readonly to: StateOf<R>;
  readonly class: TransitionClass;
  /** The window class that must be open (BACKBEAT), or null when the transition is not time-gated. */
  readonly window: WindowClass | null;
  readonly guards: readonly GuardName[];
  /** Compensations undo earlier work; they stay available while paused, quarantined or unlicensed. */
  readonly compensation: boolean;
  readonly summary: string;
};
/** A transition whose `from`/`to` are states of its own region; anything else is a compile error. */
export type TransitionSpec = { [R in Region]: TransitionSpecFor<R> }[Region];

/** The gates every forward (non-compensating) step of real work passes. */
const WORK = ['licence', 'control', 'not-quarantined', 'policy-scan'] as const;
/** What every step inside the EXECUTION loop passes on top of WORK. */
const BEAT = [...WORK, 'window', 'regions-ready', 'plan-current'] as const;

/**
 * All transitions, keyed by name (`Region_Action`). Keys are unique by construction; the order is
 * the order of the YAML file and of the diagram.
 */
export const TRANSITIONS = {
  Boot_LicenseCheck: {
    region: 'boot',
    from: ['UNINITIALIZED', 'EXPIRED'],
    to: 'LICENSE_CHECK',
    class: 'licence',
    window: null,
    guards: [],
    compensation: false,
    summary: 'Start (or restart after expiry) the licence check, recording the mission identities.',
  },
  Boot_Licensed: {
    region: 'boot',
    from: ['LICENSE_CHECK', 'LICENSED', 'GRACE'],
    to: 'LICENSED',
    class: 'licence',
    window: null,
    guards: ['licence-verdict'],
    compensation: false,
    summary: 'A valid licence verdict licenses the mission, refreshes the token, or ends grace.',
  },
  Boot_LicenseGrace: {
    region: 'boot',
    from: ['LICENSED'],
    to: 'GRACE',
    class: 'licence',
    window: null,
    guards: ['licence-lapse'],
    compensation: false,
    summary: 'The licence lapsed (denied, unreachable or expired token): start the configured grace period.',
  },
  Boot_LicenseExpire: {
    region: 'boot',
    from: ['GRACE'],
    to: 'EXPIRED',
    class: 'licence',
    window: null,
    guards: ['grace-expired'],
    compensation: false,
    summary: 'Grace ran out: hard stop of all external work until a new licence check succeeds.',
  },
  Ingestion_Fetch: {
    region: 'ingestion',
    from: ['DISCOVER', 'READY'],
    to: 'FETCH',
    class: 'ingestion',
    window: null,
    guards: [...WORK],
    compensation: false,
    summary: 'Fetch the discovered sources (from READY: re-ingest, producing a new version later).',
  },
  Ingestion_Validate: {
    region: 'ingestion',
    from: ['FETCH'],
    to: 'VALIDATE',
    class: 'ingestion',
    window: null,
    guards: [...WORK],
    compensation: false,
    summary: 'Fetched content, identified by its content hash, goes to validation.',
  },
  Ingestion_Index: {
    region: 'ingestion',
    from: ['VALIDATE'],
    to: 'INDEX',
    class: 'ingestion',
    window: null,
    guards: [...WORK, 'validation'],
    compensation: false,
    summary: 'Content that passed validation is indexed.',
  },
  Ingestion_Ready: {
    region: 'ingestion',
    from: ['INDEX'],
    to: 'READY',
    class: 'ingestion',
    window: null,
    guards: [...WORK],
    compensation: false,
    summary: 'The index is complete: a new content version (index_version + 1).',
  },
  Ingestion_Quarantine: {
    region: 'ingestion',
    from: ['VALIDATE'],
    to: 'QUARANTINED',
    class: 'ingestion',
    window: null,
    guards: ['validation-violation'],
    compensation: false,
    summary: 'Validation found a policy violation: the content is quarantined with its rationale.',
  },
  Ingestion_RollbackIndex: {
    region: 'ingestion',
    from: ['VALIDATE', 'INDEX', 'READY', 'QUARANTINED'],
    to: 'DISCOVER',
    class: 'ingestion',
    window: null,
    guards: ['quarantine-exit'],
    compensation: true,
    summary: 'ROLLBACK_INDEX: discard the current content and index and start discovery again.',
  },
  Council_Elect: {
    region: 'council',
    from: ['PLAN_ROLES'],
    to: 'ELECT',
    class: 'council',
    window: null,
    guards: [...WORK],
    compensation: false,
    summary: 'Planned roles and a proposed member set open an election.',
  },
  Council_QuorumCert: {
    region: 'council',
    from: ['ELECT'],
    to: 'TOOLING_SYNC',
    class: 'council',
    window: null,
    guards: [...WORK, 'quorum'],
    compensation: false,
    summary: 'A quorum of signed votes over the member-set hash certifies the council.',
  },
  Council_ToolingReady: {
    region: 'council',
    from: ['TOOLING_SYNC'],
    to: 'READY',
    class: 'council',
    window: null,
    guards: [...WORK, 'tooling'],
    compensation: false,
    summary: 'Tool servers are reachable and match their version pins.',
  },
  Council_Eject: {
    region: 'council',
    from: ['ELECT', 'TOOLING_SYNC', 'READY'],
    to: 'ELECT',
    class: 'council',
    window: null,
    guards: ['membership'],
    compensation: true,
    summary: 'EJECT: remove members; the certificate is void and the rest must be re-certified.',
  },
  Council_ReElect: {
    region: 'council',
    from: ['ELECT', 'TOOLING_SYNC', 'READY'],
    to: 'ELECT',
    class: 'council',
    window: null,
    guards: [],
    compensation: true,
    summary: 'RE_ELECT: propose a new member set; the certificate is void until a new quorum.',
  },
  Environment_Provision: {
    region: 'environment',
    from: ['ALLOCATE'],
    to: 'PROVISION',
    class: 'environment',
    window: null,
    guards: [...WORK],
    compensation: false,
    summary: 'Allocated capacity is being provisioned.',
  },
  Environment_Healthcheck: {
    region: 'environment',
    from: ['PROVISION'],
    to: 'HEALTHCHECK',
    class: 'environment',
    window: null,
    guards: [...WORK],
    compensation: false,
    summary: 'Provisioned assets are recorded (their hash is the environment version) and checked.',
  },
  Environment_Ready: {
    region: 'environment',
    from: ['HEALTHCHECK', 'DEGRADED'],
    to: 'READY',
    class: 'environment',
    window: null,
    guards: [...WORK, 'health'],
    compensation: false,
    summary: 'Every health check passed.',
  },
  Environment_Degrade: {
    region: 'environment',
    from: ['HEALTHCHECK', 'READY'],
    to: 'DEGRADED',
    class: 'environment',
    window: null,
    guards: ['health-failure'],
    compensation: false,
    summary: 'A health check failed: the environment is degraded and execution holds.',
  },
  Environment_Deprovision: {
    region: 'environment',
    from: ['PROVISION', 'HEALTHCHECK', 'READY', 'DEGRADED'],
    to: 'ALLOCATE',
    class: 'environment',
    window: null,
    guards: [],
    compensation: true,
    summary: 'DEPROVISION: release every provisioned asset and return to allocation.',
  },
  Execution_Enter: {
    region: 'execution',
    from: ['IDLE'],
    to: 'PLAN',
    class: 'plan',
    window: 'plan',
    guards: [...WORK, 'window', 'regions-ready', 'plan-lock'],
    compensation: false,
    summary: 'Enter EXECUTION with a plan locked to the READY regions’ content/version hashes.',
  },
  Execution_Work: {
    region: 'execution',
    from: ['PLAN'],
    to: 'WORK',
    class: 'work',
    window: 'work',
    guards: [...BEAT],
    compensation: false,
    summary: 'Agents work on the planned tasks.',
  },
  Execution_Review: {
    region: 'execution',
    from: ['WORK'],
    to: 'REVIEW',
    class: 'review',
    window: 'review',
    guards: [...BEAT, 'evidence'],
    compensation: false,
    summary: 'Work results, as evidence pointers, go to review.',
  },
  Execution_Approve: {
    region: 'execution',
    from: ['REVIEW'],
    to: 'REVIEW',
    class: 'approval',
    window: 'review',
    guards: [...BEAT, 'approval-unique'],
    compensation: false,
    summary: 'A signed approval (or rejection) of the evidence under review.',
  },
  Execution_Reverb: {
    region: 'execution',
    from: ['REVIEW'],
    to: 'REVERB',
    class: 'reverb',
    window: 'reverb',
    guards: [...BEAT, 'approvals'],
    compensation: false,
    summary: 'Approved results are submitted and their effects propagate.',
  },
  Execution_NextWindow: {
    region: 'execution',
    from: ['REVERB'],
    to: 'PLAN',
    class: 'plan',
    window: 'plan',
    guards: [...BEAT, 'next-window'],
    compensation: false,
    summary: 'The next window opens: the next beat starts planning.',
  },
  Execution_Replan: {
    region: 'execution',
    from: ['PLAN', 'WORK', 'REVIEW', 'REVERB'],
    to: 'PLAN',
    class: 'plan',
    window: null,
    guards: [...WORK, 'regions-ready', 'plan-lock'],
    compensation: false,
    summary:
      'Explicit plan change: re-lock the plan to new region versions (e.g. an index swapped mid-flight).',
  },
  Control_Pause: {
    region: 'control',
    from: ['RUNNING', 'DEGRADED'],
    to: 'PAUSED',
    class: 'control',
    window: null,
    guards: [],
    compensation: false,
    summary: 'Pause all forward work.',
  },
  Control_Resume: {
    region: 'control',
    from: ['PAUSED', 'RECOVERY', 'DEGRADED'],
    to: 'RUNNING',
    class: 'control',
    window: null,
    guards: [],
    compensation: false,
    summary: 'Resume normal operation.',
  },
  Control_Degrade: {
    region: 'control',
    from: ['RUNNING'],
    to: 'DEGRADED',
    class: 'control',
    window: null,
    guards: [],
    compensation: false,
    summary: 'Operate degraded (reduced capacity, flapping dependencies); work continues.',
  },
  Control_Recover: {
    region: 'control',
    from: ['RUNNING', 'PAUSED', 'DEGRADED'],
    to: 'RECOVERY',
    class: 'control',
    window: null,
    guards: [],
    compensation: false,
    summary: 'Enter recovery after a fault: forward work holds, compensations run.',
  },
  Policy_Quarantine: {
    region: 'policy',
    from: ['CLEAR'],
    to: 'QUARANTINED',
    class: 'policy',
    window: null,
    guards: ['policy-breach'],
    compensation: false,
    summary: 'A policy breach quarantines the mission, with its rationale.',
  },
  Policy_Release: {
    region: 'policy',
    from: ['QUARANTINED'],
    to: 'CLEAR',
    class: 'owner',
    window: null,
    guards: [],
    compensation: false,
    summary: 'Explicit owner release of the quarantine.',
  },
  Policy_Update: {
    region: 'policy',
    from: ['CLEAR', 'QUARANTINED'],
    to: 'CLEAR',
    class: 'policy',
    window: null,
    guards: ['policy-update'],
    compensation: false,
    summary: 'A new policy version; it lifts a quarantine only if the mission is clear under it.',
  },
  Terminal_Terminate: {
    region: 'terminal',
    from: ['ACTIVE'],
    to: 'TERMINATED',
    class: 'terminal',
    window: null,
    guards: ['confirmed-block'],
    compensation: false,
    summary: 'A confirmed policy block terminates the quarantined mission.',
  },
} as const satisfies Record<string, TransitionSpec>;

export type TransitionName = keyof typeof TRANSITIONS;
export const TRANSITION_NAMES = Object.keys(TRANSITIONS) as TransitionName[];
export type TransitionDef<K extends TransitionName = TransitionName> = (typeof TRANSITIONS)[K];
export type RegionOf<K extends TransitionName> = (typeof TRANSITIONS)[K]['region'];

/** Machine version written into every state document's `meta`. */
export const MACHINE_VERSION = 'swoosh.statechart/1';

/** The statechart as one plain object: what the YAML file holds and what `schema_hash` hashes. */
export const STATECHART = {
  machine: MACHINE_VERSION,
  groups: GROUPS,
  regions: REGIONS,
  transition_classes: TRANSITION_CLASSES,
  window_classes: WINDOW_CLASSES,
  guards: GUARD_NAMES,
  global_guards: GLOBAL_GUARDS,
  transitions: TRANSITIONS,
} as const;

/** Looks up a transition by name; `undefined` for names outside the statechart. */
export function transitionDef(name: string): TransitionSpec | undefined {
  return Object.hasOwn(TRANSITIONS, name) ? TRANSITIONS[name as TransitionName] : undefined;
}

/** True when `name` is a transition of the statechart. */
export function isTransitionName(name: string): name is TransitionName {
  return Object.hasOwn(TRANSITIONS, name);
}

/** Canonical hash of the statechart definition; written to `meta.schema_hash`. */
export const DEFINITION_HASH: Sha256 = hashCanonical(STATECHART);

/**
 * The I/O verdicts guards decide on, named by the key that carries each in a guard's `io`
 * (schemas/guard-io.ts): the licence server's verdict, the tool servers' probe, the policy scan.
 */
export const GUARD_IO_KINDS = ['licence', 'tools', 'policy'] as const;
export type GuardIOKind = (typeof GUARD_IO_KINDS)[number];

/** A verdict a guard cannot decide without, so the orchestrator fetches it for an outside proposal. */
export interface GuardIONeed {
  readonly io: GuardIOKind;
  /** The policy verdict's `confirmed_block` is the proposal itself: proposing is confirming. */
  readonly proposalConfirmsBlock?: true;
}

/**
 * Which guards decide on I/O, and on which verdict; a transition needs the union over its guards
 * (`transitionIO`). Declared beside the definition but outside `STATECHART`: what feeds a guard is
 * not the machine's shape, and putting it in the hashed object would change DEFINITION_HASH and
 * strand every running mission's state. `policy-scan` is absent on purpose: it judges a scan when
 * the caller ran one and passes otherwise, so it never asks for one.
 */
export const GUARD_IO = {
  'licence-verdict': { io: 'licence' },
  'licence-lapse': { io: 'licence' },
  tooling: { io: 'tools' },
  'policy-breach': { io: 'policy' },
  'policy-update': { io: 'policy' },
  // Terminal_Terminate is signed by the terminal class, whose proposal is the owner's confirmation.
  'confirmed-block': { io: 'policy', proposalConfirmsBlock: true },
} as const satisfies { readonly [G in GuardName]?: GuardIONeed };

/** The I/O need of guard `name`, or undefined for a guard (or protocol stage) that needs none. */
export function guardIO(name: string): GuardIONeed | undefined {
  return Object.hasOwn(GUARD_IO, name) ? GUARD_IO[name as keyof typeof GUARD_IO] : undefined;
}

/** The verdicts transition `name`'s guards need, and whether its proposal confirms a block. */
export interface TransitionIO {
  readonly needs: ReadonlySet<GuardIOKind>;
  readonly proposalConfirmsBlock: boolean;
}

/** The I/O transition `name` needs: the union over the global guards and its own. */
export function transitionIO(name: TransitionName): TransitionIO {
  const needs = new Set<GuardIOKind>();
  let proposalConfirmsBlock = false;
  for (const guard of [...GLOBAL_GUARDS, ...TRANSITIONS[name].guards]) {
    const need = guardIO(guard);
    if (need === undefined) continue;
    needs.add(need.io);
    if (need.proposalConfirmsBlock === true) proposalConfirmsBlock = true;
  }
  return { needs, proposalConfirmsBlock };
}
