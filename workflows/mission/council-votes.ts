/**
 * The council members' signed votes the mission holds for the current election. Votes reach it
 * only through the `vote` update, whose validator admits only votes that verify against the
 * elected set, and they cross continue-as-new in the snapshot in the order they first arrived.
 */
import type { Vote } from '../../schemas/proposal';
import type { StateDocument } from '../../schemas/state-document';
import { quorumRequired, type MachineConfig } from '../statechart';

export class CouncilVotes {
  readonly #byMember = new Map<string, Vote>();

  constructor(votes: readonly Vote[]) {
    for (const v of votes) this.#byMember.set(v.member, v);
  }

  /** A member's newer vote replaces its earlier one: one member, one vote. */
  record(vote: Vote): void {
    this.#byMember.set(vote.member, vote);
  }

  /** Votes for member set `setHash`, sorted by member: the certificate the orchestrator proposes. */
  forSet(setHash: string): Vote[] {
    return [...this.#byMember.values()]
      .filter((v) => v.council_set_hash === setHash)
      .sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  }

  /** Every vote held, in arrival order, for the continue-as-new snapshot. */
  all(): Vote[] {
    return [...this.#byMember.values()];
  }
}

/** Votes the elected council of `state` needs for a certificate. */
export function quorumOf(state: StateDocument, machine: MachineConfig): number {
  return quorumRequired(state.council.members.length, machine.quorumSize);
}
