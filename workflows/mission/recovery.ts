/**
 * Automatic RECOVERY after a lost quorum (docs/lifecycle.md): when a transition voids the
 * council's certificate while the mission runs, the orchestrator takes Control_Recover itself, and
 * leaves again on a new valid certificate. Both go the ordinary transition path under the engine's
 * mutex; this module keeps the episodes the `state` query reports and the clock they are timed by.
 */
import type { RecoveryView } from '../../schemas/mission';
import type { StateDocument } from '../../schemas/state-document';
import type { TransitionName } from '../../schemas/statechart';
import { observeRecoveryTime } from '../observability';
import { checkQuorumCertificate } from '../statechart';
import type { MissionEngine } from './engine';

const RECOVERY_EPISODES = 16;

export class MissionRecovery {
  view: RecoveryView;
  /** Why the council's certificate was voided by the last transition; null while it holds. */
  quorumLost: string | null = null;
  readonly #m: MissionEngine;
  /** Set while the orchestrator takes Control_Recover for a lost quorum. */
  #reason: string | null = null;

  constructor(m: MissionEngine, view: RecoveryView = { since_ms: null, episodes: [] }) {
    this.#m = m;
    this.view = view;
  }

  /** True while the orchestrator itself holds the mission in RECOVERY for a lost quorum. */
  recovering(): boolean {
    return this.#m.state.control.phase === 'RECOVERY' && this.view.since_ms !== null;
  }

  /** A lost quorum the mission has not yet reacted to: RECOVERY is due. */
  due(): boolean {
    const phase = this.#m.state.control.phase;
    return (
      this.quorumLost !== null &&
      this.#m.state.council.quorum_certificate === null &&
      (phase === 'RUNNING' || phase === 'DEGRADED') &&
      !this.#m.terminated
    );
  }

  /** Enters RECOVERY through the normal transition path (Control_Recover) and starts the clock. */
  enter(): Promise<boolean> {
    return this.#m.exclusive(async () => {
      if (!this.due()) return false;
      this.#reason = this.quorumLost ?? 'quorum lost';
      try {
        return (await this.#m.takeLocked('Control_Recover', { reason: this.#reason })).accepted;
      } finally {
        this.#reason = null;
      }
    });
  }

  /**
   * Leaves RECOVERY on a new valid quorum certificate: the collected votes are checked as a
   * certificate first (the pure quorum guard), then Control_Resume and Council_QuorumCert are taken
   * back to back under the mutex — the certificate's WORK guards need control RUNNING, and nothing
   * else can run between the two.
   */
  leave(setHash: string): Promise<boolean> {
    const m = this.#m;
    return m.exclusive(async () => {
      if (!this.recovering() || m.state.council.council_set_hash !== setHash) return false;
      const votes = m.votes.forSet(setHash);
      const cert = { council_set_hash: setHash, votes };
      if (!checkQuorumCertificate(m.state, cert, m.machine, m.verifier()).ok) return false;
      const seconds = (Date.now() - (this.view.since_ms ?? Date.now())) / 1000;
      const resumed = await m.takeLocked('Control_Resume', {
        reason: `council re-certified by a new quorum after ${seconds} s in RECOVERY`,
      });
      if (!resumed.accepted) return false;
      return (await m.takeLocked('Council_QuorumCert', { council_set_hash: setHash, votes })).accepted;
    });
  }

  /**
   * Bookkeeping for an accepted transition, before its decision is recorded: a voided certificate
   * makes RECOVERY due, a new one cancels that; leaving RECOVERY stops the clock, and the
   * orchestrator's own Control_Recover starts it.
   */
  observe(pre: StateDocument, post: StateDocument, transition: TransitionName): void {
    if (pre.council.quorum_certificate !== null && post.council.quorum_certificate === null)
      this.quorumLost = `${transition} voided the council's quorum certificate`;
    if (post.council.quorum_certificate !== null) this.quorumLost = null;
    if (pre.control.phase === 'RECOVERY' && post.control.phase !== 'RECOVERY') this.#close();
    if (post.control.phase === 'RECOVERY' && this.#reason !== null) this.#open();
  }

  #open(): void {
    const now = Date.now();
    this.view = {
      since_ms: now,
      episodes: [
        ...this.view.episodes,
        {
          reason: this.#reason ?? 'quorum lost',
          entered_at_ms: now,
          left_at_ms: null,
          seconds: null,
        },
      ].slice(-RECOVERY_EPISODES),
    };
  }

  #close(): void {
    const since = this.view.since_ms;
    if (since === null) return;
    const now = Date.now();
    this.view = {
      since_ms: null,
      episodes: this.view.episodes.map((e) =>
        e.entered_at_ms === since && e.left_at_ms === null
          ? { ...e, left_at_ms: now, seconds: (now - since) / 1000 }
          : e,
      ),
    };
    observeRecoveryTime((now - since) / 1000);
  }
}
