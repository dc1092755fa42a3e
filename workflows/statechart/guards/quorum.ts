/**
 * The council quorum certificate (docs/design.md#guards): ELECT → TOOLING_SYNC needs signed votes, from members
 * of the elected set, for that set's member-set hash, at or above the quorum size. A vote for a
 * different set hash means two councils are being formed at once (split brain) and rejects the
 * certificate outright, even if enough other votes agree, because the disagreement itself is the
 * fault to surface.
 */
import type { MachineConfig } from '../config';
import type { Vote } from '../../../schemas/proposal';
import { verifyDetached, type Verifier } from '../signing';
import { voteSigningBytes } from '../../../schemas/signed-bytes';
import type { StateDocument } from '../../../schemas/state-document';
import { fail, verdict, type GuardFor, type GuardResult } from './types';

/**
 * Votes needed for a set of `memberCount`: the configured quorum size, but never less than a strict
 * majority. Below a majority two disjoint halves of one council could each certify themselves.
 */
export function quorumRequired(memberCount: number, quorumSize: number): number {
  return Math.max(quorumSize, Math.floor(memberCount / 2) + 1);
}

/**
 * Checks a certificate (`council_set_hash` and votes) against the elected set in `state`. Every
 * defective vote gets its own reason: who voted, and what was wrong.
 */
export function checkQuorumCertificate(
  state: StateDocument,
  cert: { readonly council_set_hash: string; readonly votes: readonly Vote[] },
  config: MachineConfig,
  verify: Verifier = verifyDetached,
): GuardResult {
  const elected = state.council.council_set_hash;
  if (elected === null) return fail('no council set has been elected');
  const reasons: string[] = [];
  if (cert.council_set_hash !== elected) {
    reasons.push(
      `split brain: certificate is for set ${cert.council_set_hash} but the elected set is ${elected}`,
    );
  }
  const keys = new Map(state.council.members.map((m) => [m.id, m.key]));
  const seen = new Set<string>();
  let valid = 0;
  for (const vote of cert.votes) {
    const key = keys.get(vote.member);
    if (key === undefined) {
      reasons.push(`vote from ${vote.member}, who is not a member of the elected set`);
      continue;
    }
    if (seen.has(vote.member)) {
      reasons.push(`duplicate vote from ${vote.member}`);
      continue;
    }
    seen.add(vote.member);
    if (vote.council_set_hash !== elected) {
      reasons.push(
        `split brain: ${vote.member} voted for set ${vote.council_set_hash}, the elected set is ${elected}`,
      );
      continue;
    }
    const check = verify(voteSigningBytes(vote, state.meta.mission_id), vote.signature, key);
    if (!check.ok) {
      reasons.push(`invalid vote signature from ${vote.member}: ${check.reason}`);
      continue;
    }
    valid++;
  }
  const required = quorumRequired(keys.size, config.quorumSize);
  if (valid < required) {
    reasons.push(
      `quorum not reached: ${valid} valid vote(s), ${required} required (quorum size ${config.quorumSize}, ${keys.size} member(s))`,
    );
  }
  return verdict(reasons);
}

export const quorumGuard: GuardFor<'quorum'> = (state, gi, config) =>
  checkQuorumCertificate(state, gi.inputs, config, gi.verify);
