/**
 * The proposers of a chaos run: one loop per mission that signs transitions on the HEAD it last
 * saw and sends them through `POST /transition` or the A2A endpoint, with faults of its own —
 * copies sent again (at once or later), a proposal overtaken by a newer one (it arrives stale),
 * requests abandoned before their answer (and retried, as a client would), and two proposers
 * racing on one HEAD. Every answer is booked: what was accepted must be in the ledger exactly once,
 * what was refused must have left no trace, and no proposal may get both answers.
 */
import type { JsonRpcReply, SwooshClient } from '../../api/client';
import type { TransitionProposal } from '../../schemas/proposal';
import { proposalSigner, type TestSigner } from '../lifecycle/support/missions';
import type { WindowSchedule } from '../../workflows/statechart';

export interface FaultRates {
  /** A proposal sent again after its answer (half at once, half later). */
  duplicate: number;
  /** A proposal overtaken by a newer one on the same HEAD, then sent: it must be refused as stale. */
  reorder: number;
  /** A request abandoned before its answer, then retried with the same proposal. */
  drop: number;
  /** Two proposals on one HEAD sent at once: one wins, the other is stale. */
  race: number;
  /** Through A2A rather than REST. */
  a2a: number;
}

/** A definitive answer, or none yet (the request failed in transit or the gateway could not tell). */
export type Answer =
  | { kind: 'accepted'; post_hash: string; decision_id: string; duplicate: boolean }
  | { kind: 'stale'; current_hash: string }
  | { kind: 'rejected'; guard: string; reasons: string[] }
  | { kind: 'unknown'; why: string };

/** Everything the proposers saw, per mission; the verdict compares it with the ledger. */
export interface Book {
  /** idem_key → the post-state hash of its first acceptance. */
  accepted: Map<string, string>;
  /** idem_key → the guard that refused it (its last refusal). */
  refused: Map<string, string>;
  /** Proposals answered both ways, or accepted with two different post-state hashes. */
  contradictions: string[];
  /** Proposals that never got a definitive answer. */
  unresolved: Set<string>;
}

export interface Counts {
  sent: number;
  accepted: number;
  duplicatesAnswered: number;
  stale: number;
  rejectedByGuard: Map<string, number>;
  unknownAnswers: number;
  retried: number;
  latencies: number[];
}

export function newCounts(): Counts {
  return {
    sent: 0,
    accepted: 0,
    duplicatesAnswered: 0,
    stale: 0,
    rejectedByGuard: new Map(),
    unknownAnswers: 0,
    retried: 0,
    latencies: [],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One mission's proposer. */
export class Proposer {
  readonly book: Book = {
    accepted: new Map(),
    refused: new Map(),
    contradictions: [],
    unresolved: new Set(),
  };
  /** Proposals this proposer sent, copies and retries included. */
  sent = 0;
  /**
   * Why the mission left the run: it ended (the gateway answers 409 for its state) or gave no state
   * for ten minutes. It gets no more traffic, and the verdict fails it.
   */
  ended: string | undefined;
  #head = '';
  #paused = false;
  readonly #sign: ReturnType<typeof proposalSigner>;
  readonly #later: Promise<void>[] = [];

  constructor(
    readonly missionId: string,
    owner: TestSigner,
    schedule: WindowSchedule,
    private readonly client: () => SwooshClient,
    private readonly rates: FaultRates,
    private readonly random: () => number,
    private readonly counts: Counts,
  ) {
    this.#sign = proposalSigner(missionId, owner, schedule);
  }

  /** Reads HEAD (and whether the mission is paused) until the gateway answers. */
  async refresh(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.client().getState(this.missionId, 'Control');
        if (res.ok) {
          this.#head = res.body.hash;
          this.#paused = (res.body.projection.control as { phase?: string } | undefined)?.phase === 'PAUSED';
          return;
        }
        if (res.status === 409) {
          this.ended = (res.body as { detail?: string }).detail ?? 'it has ended';
          return;
        }
      } catch {
        // The gateway is down or restarting: try again.
      }
      if (attempt > 600) {
        this.ended = 'it gave no state for 10 minutes';
        return;
      }
      await sleep(1_000);
    }
  }

  #next(head = this.#head): TransitionProposal {
    const r = this.random();
    if (r < 0.3) {
      return this.#sign(head, this.#paused ? 'Control_Resume' : 'Control_Pause', { reason: 'chaos' });
    }
    return this.#sign(head, 'Policy_Update', {
      policy_version: `v${Math.floor(this.random() * 1e9)}`,
      rationale: 'chaos',
    });
  }

  /** Sends one proposal once and classifies the answer; never throws. */
  async send(p: TransitionProposal, abandonAfterMs?: number): Promise<Answer> {
    this.counts.sent++;
    this.sent++;
    const started = performance.now();
    const signal = abandonAfterMs === undefined ? undefined : AbortSignal.timeout(abandonAfterMs);
    let answer: Answer;
    try {
      answer =
        this.random() < this.rates.a2a ? await this.#viaA2A(p, signal) : await this.#viaRest(p, signal);
    } catch (error) {
      answer = { kind: 'unknown', why: error instanceof Error ? error.message : String(error) };
    }
    this.#book(p, answer, performance.now() - started);
    return answer;
  }

  async #viaRest(p: TransitionProposal, signal?: AbortSignal): Promise<Answer> {
    const res = await this.client().request<{ post_hash: string; decision_id: string; duplicate: boolean }>(
      'POST',
      '/transition',
      { body: p, signal },
    );
    if (res.ok) return { kind: 'accepted', ...res.body };
    const body = res.body as { failing_guard?: string; reasons?: string[]; current_hash?: string };
    if (res.status === 409 && body.current_hash) return { kind: 'stale', current_hash: body.current_hash };
    if (res.status === 400 && body.failing_guard)
      return { kind: 'rejected', guard: body.failing_guard, reasons: body.reasons ?? [] };
    return { kind: 'unknown', why: `HTTP ${res.status}` };
  }

  async #viaA2A(p: TransitionProposal, signal?: AbortSignal): Promise<Answer> {
    const res = await this.client().fetch('POST', '/a2a', {
      body: { jsonrpc: '2.0', id: p.idem_key, method: 'swoosh.proposeTransition', params: { proposal: p } },
      signal,
    });
    if (res.status !== 200) return { kind: 'unknown', why: `A2A HTTP ${res.status}` };
    const reply = (await res.json()) as JsonRpcReply;
    if ('result' in reply) {
      const r = reply.result as { post_hash: string; decision_id: string; duplicate: boolean };
      return { kind: 'accepted', ...r };
    }
    const data = (reply.error.data ?? {}) as {
      failing_guard?: string;
      reasons?: string[];
      current_hash?: string;
    };
    if (reply.error.code === -32002 && data.current_hash)
      return { kind: 'stale', current_hash: data.current_hash };
    if (reply.error.code === -32001 && data.failing_guard)
      return { kind: 'rejected', guard: data.failing_guard, reasons: data.reasons ?? [] };
    return { kind: 'unknown', why: `A2A ${reply.error.code} ${reply.error.message}` };
  }

  #book(p: TransitionProposal, a: Answer, ms: number): void {
    const key = p.idem_key;
    const { book, counts } = this;
    if (a.kind === 'accepted') {
      counts.accepted++;
      counts.latencies.push(ms);
      if (a.duplicate) counts.duplicatesAnswered++;
      const first = book.accepted.get(key);
      if (first !== undefined && first !== a.post_hash)
        book.contradictions.push(`${key}: accepted as ${first} and as ${a.post_hash}`);
      if (book.refused.has(key))
        book.contradictions.push(`${key}: refused (${book.refused.get(key)}) and accepted`);
      if (first === undefined) book.accepted.set(key, a.post_hash);
      book.unresolved.delete(key);
    } else if (a.kind === 'stale' || a.kind === 'rejected') {
      const guard = a.kind === 'stale' ? 'concurrency' : a.guard;
      if (a.kind === 'stale') counts.stale++;
      else counts.rejectedByGuard.set(guard, (counts.rejectedByGuard.get(guard) ?? 0) + 1);
      if (book.accepted.has(key)) book.contradictions.push(`${key}: accepted and then refused (${guard})`);
      book.refused.set(key, guard);
      book.unresolved.delete(key);
    } else {
      counts.unknownAnswers++;
      if (!book.accepted.has(key) && !book.refused.has(key)) book.unresolved.add(key);
    }
  }

  /**
   * Sends `p` until it gets a definitive answer, as a client that lost an answer would, for about
   * three minutes (longer than any restart of the run takes): an update Temporal failed for good
   * answers the same failure to every retry, and the verdict reports it as never answered.
   */
  async settle(p: TransitionProposal, first: Answer): Promise<Answer> {
    let answer = first;
    for (let attempt = 0; answer.kind === 'unknown' && attempt < 40; attempt++) {
      this.counts.retried++;
      await sleep(Math.min(500 * 2 ** Math.min(attempt, 4), 5_000));
      answer = await this.send(p);
    }
    return answer;
  }

  #adopt(a: Answer): void {
    if (a.kind === 'accepted') this.#head = a.post_hash;
    if (a.kind === 'stale') this.#head = a.current_hash;
    // The mission's clock ran ahead of ours (its own transitions use workflow time): jump past it.
    if (a.kind === 'rejected' && a.guard === 'hlc') this.#sign.catchUp();
  }

  /** One step of the mission's traffic: one proposal, or two for a race or a reordering. */
  async step(): Promise<void> {
    if (this.ended !== undefined) return;
    const r = this.random();
    const { rates } = this;
    if (r < rates.race) {
      const [a, b] = [this.#next(), this.#next()];
      const answers = await Promise.all([a, b].map(async (p) => this.settle(p, await this.send(p))));
      for (const x of answers) this.#adopt(x);
      if (!answers.some((x) => x.kind === 'accepted')) await this.refresh();
    } else if (r < rates.race + rates.reorder) {
      const older = this.#next();
      const newer = this.#next();
      this.#adopt(await this.settle(newer, await this.send(newer)));
      // The overtaken proposal arrives after the newer one moved HEAD.
      this.#adopt(await this.settle(older, await this.send(older)));
    } else if (r < rates.race + rates.reorder + rates.drop) {
      const p = this.#next();
      const abandoned = await this.send(p, 1 + Math.floor(this.random() * 40));
      const answer = await this.settle(p, abandoned);
      this.#adopt(answer);
      if (answer.kind !== 'accepted' && answer.kind !== 'stale') await this.refresh();
    } else {
      const p = this.#next();
      const answer = await this.settle(p, await this.send(p));
      this.#adopt(answer);
      if (answer.kind !== 'accepted' && answer.kind !== 'stale') await this.refresh();
      if (answer.kind === 'accepted' && this.random() < rates.duplicate * 2) {
        if (this.random() < 0.5) await this.send(p);
        else
          this.#later.push(sleep(200 + this.random() * 3_000).then(() => this.send(p).then(() => undefined)));
      }
    }
    if (this.#head === '') await this.refresh();
    if (this.random() < 0.3) await this.refresh();
  }

  /** Waits for the copies sent later, so their answers are booked before the verdict. */
  async drain(): Promise<void> {
    await Promise.all(this.#later);
  }
}
