/**
 * Building, hashing and reading state documents. State documents are immutable values: the reducer
 * returns a new one per accepted transition and shares untouched regions with the old one, and
 * both `initialState` and the reducer freeze what they build, so a hash computed once stays true.
 */
import { StateDocumentSchema, type PlanLock, type StateDocument } from '../../schemas/state-document';
import {
  DEFINITION_HASH,
  MACHINE_VERSION,
  REGION_NAMES,
  REGIONS,
  type Region,
} from '../../schemas/statechart';
import { deepFreeze, isDeepFrozen } from '../../schemas/canonical-json';
import { DocumentHasher, hashCanonical, type Sha256 } from '../../schemas/hash';

export { deepFreeze };

export type { PlanLock, StateDocument };

export { DEFINITION_HASH };

/**
 * The state of a new mission: every region in its initial phase, every epoch 0, no HLC yet. The
 * mission id is part of the document (and therefore of every hash) so that two missions never
 * share a state hash and a proposal signed for one cannot apply to another.
 */
export function initialState(missionId: string): StateDocument {
  if (missionId.length === 0) throw new RangeError('mission id must not be empty');
  const epoch = Object.fromEntries(REGION_NAMES.map((r) => [r, 0])) as Record<Region, number>;
  return deepFreeze<StateDocument>({
    meta: { machine_version: MACHINE_VERSION, schema_hash: DEFINITION_HASH, mission_id: missionId },
    boot: {
      phase: REGIONS.boot.initial,
      licence: { status: 'none', expires_at_ms: null, token_digest: null, grace_until_ms: null },
      identities: {},
    },
    ingestion: {
      phase: REGIONS.ingestion.initial,
      sources: [],
      content_hash: null,
      index_version: 0,
      index_hash: null,
      validation: null,
      rationale: null,
      rollbacks: 0,
    },
    council: {
      phase: REGIONS.council.initial,
      roles: [],
      members: [],
      council_set_hash: null,
      quorum_certificate: null,
      tooling: null,
      ejected: [],
    },
    environment: {
      phase: REGIONS.environment.initial,
      allocations: [],
      assets: [],
      assets_hash: null,
      health: [],
      deprovisions: 0,
    },
    execution: {
      phase: REGIONS.execution.initial,
      plan_hash: null,
      plan_lock: null,
      beat: 0,
      window_id: null,
      tasks: [],
      evidence: [],
      approvals: [],
    },
    control: { phase: REGIONS.control.initial, reason: null },
    policy: { phase: REGIONS.policy.initial, rationale: null, breaches: [], policy_version: null },
    terminal: { phase: REGIONS.terminal.initial, rationale: null },
    epoch,
    hlc_last: null,
    head: { seq: 0, transition: null, signer: null, idem_key: null },
  });
}

/**
 * One document hasher per mission, keyed by the mission's `meta` object, which every state the
 * reducer derives shares by identity: a transition replaces a region, `epoch`, `hlc_last` and
 * `head` and shares every other region with the previous state, so the hasher encodes only those
 * and resumes SHA-256 after the regions before them. Weak, so a finished mission's entry goes.
 * Which states went through a hasher before never changes a digest, only how much is recomputed.
 */
const documentHashers = new WeakMap<object, DocumentHasher>();

/**
 * The state hash `sha256-<hex>` over the document's canonical JSON. A deep-frozen document goes
 * through its mission's `DocumentHasher`, which also memoises the digest on the document, because
 * the protocol asks for HEAD's hash on every proposal; anything that could still change is hashed
 * afresh every time.
 */
export function stateHash(state: StateDocument): Sha256 {
  if (!isDeepFrozen(state)) return hashCanonical(state);
  let hasher = documentHashers.get(state.meta);
  if (hasher === undefined) {
    hasher = new DocumentHasher();
    documentHashers.set(state.meta, hasher);
  }
  return hasher.digest(state);
}

/** Raised by `parseStateDocument` for a snapshot that is not a valid state document. */
export class StateDocumentError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`invalid state document: ${issues.join('; ')}`);
    this.name = 'StateDocumentError';
  }
}

/**
 * Validates an untrusted snapshot (continue-as-new input, a stored document) and returns it frozen.
 * It also insists that the snapshot was produced under this statechart definition: a document
 * from another definition could hold phases whose transitions mean something else now.
 */
export function parseStateDocument(value: unknown): StateDocument {
  const parsed = StateDocumentSchema.safeParse(value);
  if (!parsed.success) {
    throw new StateDocumentError(parsed.error.issues.map((i) => `${i.path.join('.') || '$'}: ${i.message}`));
  }
  if (parsed.data.meta.schema_hash !== DEFINITION_HASH) {
    throw new StateDocumentError([
      `meta.schema_hash ${parsed.data.meta.schema_hash} is not this statechart's ${DEFINITION_HASH}`,
    ]);
  }
  return deepFreeze(parsed.data);
}

/**
 * Hash of a council member set: canonical JSON of the members sorted by id (then key). Sorting
 * first means the order votes or proposals list members in never changes which set they name.
 */
export function memberSetHash(members: readonly { readonly id: string; readonly key: string }[]): Sha256 {
  const sorted = [...members]
    .map((m) => ({ id: m.id, key: m.key }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return hashCanonical(sorted);
}

/** Hash of the environment's provisioned assets: the environment's version in a plan lock. */
export function assetsHash(
  assets: readonly { readonly id: string; readonly kind: string; readonly ref: string }[],
): Sha256 {
  const sorted = [...assets]
    .map((a) => ({ id: a.id, kind: a.kind, ref: a.ref }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return hashCanonical(sorted);
}

/**
 * The plan lock the regions currently support: the content/version hashes EXECUTION must match.
 * Null while any of them is missing (nothing indexed, no council set, nothing provisioned).
 */
export function currentPlanLock(state: StateDocument): PlanLock | null {
  const { content_hash, index_version } = state.ingestion;
  const council_set_hash = state.council.council_set_hash;
  const environment_hash = state.environment.assets_hash;
  if (content_hash === null || index_version < 1 || council_set_hash === null || environment_hash === null)
    return null;
  return { content_hash, index_version, council_set_hash, environment_hash };
}

/** True when two plan locks name the same versions. */
export function samePlanLock(a: PlanLock | null, b: PlanLock | null): boolean {
  if (a === null || b === null) return false;
  return (
    a.content_hash === b.content_hash &&
    a.index_version === b.index_version &&
    a.council_set_hash === b.council_set_hash &&
    a.environment_hash === b.environment_hash
  );
}
