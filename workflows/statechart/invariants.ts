/**
 * The invariant checker (docs/design.md#what-must-always-hold). It does not trust the protocol: given the state before and
 * after a step and what the protocol reported, it re-derives what must hold and lists every
 * violation. Tests and chaos runs call it after every step; an operator can run it over a replayed
 * history.
 *
 * Step invariants: the HLC order only moves forward; an accepted transition advances exactly its
 * own region's epoch, by one, and changes no other region; a rejection or a repeat changes nothing;
 * EXECUTION is entered only with all regions READY and a plan locked to their exact hashes, and
 * every later step still matches that lock; QUARANTINED is left only by an owner release or a
 * policy update, and no external work happens while it holds; external work needs a live licence;
 * time-gated transitions happen only inside their window; TERMINATED is absorbing.
 * State invariants: a quorum certificate matches the elected set hash; a certified council phase
 * has a certificate; an entered EXECUTION has a plan lock.
 */
import type { StateDocument } from '../../schemas/state-document';
import type { MachineConfig } from './config';
import { REGION_NAMES, TRANSITIONS, type Region } from '../../schemas/statechart';
import { canonicalJson } from '../../schemas/canonical-json';
import { compareOrder, tryParseHlc } from '../../schemas/hlc';
import type { ApplyResult } from './protocol';
import { currentPlanLock, memberSetHash, samePlanLock, stateHash } from './state';
import { windowAt } from './window';

export const INVARIANTS = [
  'hlc-monotonic',
  'single-epoch-advance',
  'region-isolation',
  'no-change-on-reject',
  'execution-entry',
  'plan-current',
  'quorum-certificate',
  'quarantine-sticky',
  'licence',
  'window',
  'terminal-absorbing',
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export interface InvariantViolation {
  readonly invariant: InvariantName;
  readonly detail: string;
}

/** Invariants of a single state document, whatever led to it. */
export function checkStateInvariants(state: StateDocument): InvariantViolation[] {
  const out: InvariantViolation[] = [];
  const { council, execution } = state;
  const setHash = council.members.length > 0 ? memberSetHash(council.members) : null;
  if (council.council_set_hash !== setHash) {
    out.push({
      invariant: 'quorum-certificate',
      detail: `council_set_hash ${council.council_set_hash} is not the members' hash ${setHash}`,
    });
  }
  const cert = council.quorum_certificate;
  if (cert !== null && cert.council_set_hash !== council.council_set_hash) {
    out.push({
      invariant: 'quorum-certificate',
      detail: `certificate is for ${cert.council_set_hash}, the elected set is ${council.council_set_hash}`,
    });
  }
  if (cert !== null && cert.votes.length < cert.quorum) {
    out.push({
      invariant: 'quorum-certificate',
      detail: `certificate holds ${cert.votes.length} votes, quorum ${cert.quorum}`,
    });
  }
  if ((council.phase === 'TOOLING_SYNC' || council.phase === 'READY') && cert === null) {
    out.push({
      invariant: 'quorum-certificate',
      detail: `council is ${council.phase} without a quorum certificate`,
    });
  }
  if (execution.phase !== 'IDLE' && execution.plan_lock === null) {
    out.push({ invariant: 'execution-entry', detail: `execution is ${execution.phase} without a plan lock` });
  }
  return out;
}

/**
 * Observations that move a lifecycle region without doing work: recording a violation or a failed
 * health check. They stay allowed under quarantine and without a licence.
 */
const OBSERVATIONS = new Set<string>(['Ingestion_Quarantine', 'Environment_Degrade']);
const WORK_REGIONS = new Set<Region>(['ingestion', 'council', 'environment', 'execution']);

/** True for transitions that do external work: forward steps of the lifecycle regions and execution. */
export function isWorkTransition(name: keyof typeof TRANSITIONS): boolean {
  const def = TRANSITIONS[name];
  return WORK_REGIONS.has(def.region) && !def.compensation && !OBSERVATIONS.has(name);
}

function licenceLive(state: StateDocument, atMs: number): boolean {
  const { phase, licence } = state.boot;
  if (phase === 'LICENSED') return licence.expires_at_ms === null || atMs < licence.expires_at_ms;
  if (phase === 'GRACE') return licence.grace_until_ms !== null && atMs < licence.grace_until_ms;
  return false;
}

/**
 * Invariants of one protocol step: `pre` and `post` are the states before and after, `result` what
 * the protocol returned. Returns every violation found (an empty list when the step was sound).
 */
export function checkStepInvariants(
  pre: StateDocument,
  post: StateDocument,
  result: ApplyResult,
  config: MachineConfig,
): InvariantViolation[] {
  const out: InvariantViolation[] = [...checkStateInvariants(post)];
  if (!result.accepted || result.duplicate) {
    if (stateHash(pre) !== stateHash(post)) {
      out.push({
        invariant: 'no-change-on-reject',
        detail: `${result.accepted ? 'a repeat' : 'a rejection'} changed the state hash`,
      });
    }
    return out;
  }
  const { decision } = result;
  const name = decision.transition;
  const decidedAt = Date.parse(decision.decided_at);
  const def = TRANSITIONS[name];

  // HLC strictly increases in (hlc, signer, idem_key) order.
  const preHlc = pre.hlc_last === null ? null : tryParseHlc(pre.hlc_last);
  const postHlc = post.hlc_last === null ? null : tryParseHlc(post.hlc_last);
  if (postHlc === null)
    out.push({ invariant: 'hlc-monotonic', detail: 'hlc_last is missing after a transition' });
  else if (
    preHlc !== null &&
    compareOrder(
      { hlc: postHlc, signer: post.head.signer ?? '', idem_key: post.head.idem_key ?? '' },
      { hlc: preHlc, signer: pre.head.signer ?? '', idem_key: pre.head.idem_key ?? '' },
    ) <= 0
  ) {
    out.push({
      invariant: 'hlc-monotonic',
      detail: `hlc_last went from ${pre.hlc_last} to ${post.hlc_last}`,
    });
  }

  // Exactly one epoch advance, in the transition's own region, and no other region changes.
  for (const region of REGION_NAMES) {
    const delta = post.epoch[region] - pre.epoch[region];
    const expected = region === def.region ? 1 : 0;
    if (delta !== expected) {
      out.push({
        invariant: 'single-epoch-advance',
        detail: `${name}: epoch.${region} moved by ${delta}, expected ${expected}`,
      });
    }
    if (region !== def.region && !sameRegion(pre, post, region)) {
      out.push({ invariant: 'region-isolation', detail: `${name} (${def.region}) changed region ${region}` });
    }
  }
  if (post.head.seq !== pre.head.seq + 1) {
    out.push({
      invariant: 'single-epoch-advance',
      detail: `head.seq moved from ${pre.head.seq} to ${post.head.seq}`,
    });
  }

  // EXECUTION: entry with all regions READY and an exact lock; every later step still on that lock.
  if (def.region === 'execution') {
    const ready =
      pre.ingestion.phase === 'READY' && pre.council.phase === 'READY' && pre.environment.phase === 'READY';
    if (!ready)
      out.push({ invariant: 'execution-entry', detail: `${name} ran while not all regions were READY` });
    const lock = currentPlanLock(pre);
    if (!samePlanLock(post.execution.plan_lock, lock)) {
      out.push({
        invariant:
          name === 'Execution_Enter' || name === 'Execution_Replan' ? 'execution-entry' : 'plan-current',
        detail: `${name}: plan lock does not match the regions' content/version hashes`,
      });
    }
  }

  // QUARANTINED is sticky: left only by release/update; only compensations and escapes move under it.
  if (pre.policy.phase === 'QUARANTINED') {
    if (post.policy.phase !== 'QUARANTINED' && name !== 'Policy_Release' && name !== 'Policy_Update') {
      out.push({ invariant: 'quarantine-sticky', detail: `${name} left QUARANTINED` });
    }
    if (isWorkTransition(name)) {
      out.push({ invariant: 'quarantine-sticky', detail: `${name} made forward progress while QUARANTINED` });
    }
  }

  // External work only under a live licence; it stops at grace expiry.
  if (isWorkTransition(name) && !licenceLive(pre, decidedAt)) {
    out.push({
      invariant: 'licence',
      detail: `${name} did external work without a live licence (boot ${pre.boot.phase})`,
    });
  }

  // Time-gated transitions only inside their window.
  if (def.window !== null) {
    const w = windowAt(config.schedule, decidedAt);
    if (w.opens !== def.window || w.id !== decision.window_id) {
      out.push({
        invariant: 'window',
        detail: `${name} ran in ${w.id} (${w.phase}), outside its '${def.window}' window`,
      });
    }
  }

  if (pre.terminal.phase === 'TERMINATED') {
    out.push({ invariant: 'terminal-absorbing', detail: `${name} ran after termination` });
  }
  return out;
}

function sameRegion(a: StateDocument, b: StateDocument, region: Region): boolean {
  return a[region] === b[region] || canonicalJson(a[region]) === canonicalJson(b[region]);
}
