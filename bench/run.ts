/**
 * `npm run bench`: throughput of the statechart core on a randomized, chaotic 10k-transition
 * mission (the same generator as the determinism tests).
 *
 * Figures:
 *  - the 10k run: wall time to simulate the mission (planning, proposing, applying) until 10,000
 *    transitions are accepted;
 *  - protocol throughput without signature verification: the recorded stream replayed through
 *    `applyTrustedProposal` (schema, authorisation, idempotency, HLC, guards, reduce, hash);
 *  - protocol throughput with ed25519 verification and hashing: a prefix of the same stream,
 *    signed by each proposal's signer, replayed through `applyProposal`;
 *  - the bare reducer: `reduce` plus `stateHash` over the accepted transitions (median of
 *    `BENCH_REDUCER_PASSES` passes, default 5).
 */
import { applyProposal, applyTrustedProposal, type ApplyContext } from '../workflows/statechart/protocol';
import { EMPTY_IDEMPOTENCY, type IdempotencyTable } from '../workflows/statechart/idempotency';
import { reduce } from '../workflows/statechart/reducer';
import { signProposal } from '../workflows/statechart/signing';
import { initialState, stateHash } from '../workflows/statechart/state';
import { type StateDocument } from '../schemas/state-document';
import type { UnsignedTransitionProposal } from '../schemas/proposal';
import { ACTORS, APPROVERS, testKey, type TestKey } from '../tests/statechart/support/keys';
import {
  acceptedEvents,
  simContext,
  simulate,
  type Delivery,
  type SimOptions,
} from '../tests/statechart/support/sim';

const SEED = 10_000;
const SIGNED_PREFIX = Number(process.env.BENCH_SIGNED ?? 300);

const options: SimOptions = {
  seed: SEED,
  accepted: 10_000,
  signed: false,
  chaos: { duplicate: 0.05, reorder: 0.03, drop: 0.03, invalid: 0.05 },
};

function replayStream(
  stream: readonly Delivery[],
  verify: boolean,
): { ms: number; accepted: number; finalHash: string } {
  const { registry, config } = simContext(options);
  let state = initialState('m-sim');
  let idempotency: IdempotencyTable = EMPTY_IDEMPOTENCY;
  let accepted = 0;
  const started = performance.now();
  for (const d of stream) {
    const ctx: ApplyContext = { registry, config, idempotency, now: d.now, io: d.io };
    const r = verify ? applyProposal(state, d.proposal, ctx) : applyTrustedProposal(state, d.proposal, ctx);
    if (r.accepted && !r.duplicate) {
      state = r.state;
      idempotency = r.idempotency;
      accepted++;
    }
  }
  return { ms: performance.now() - started, accepted, finalHash: stateHash(state) };
}

const keysBySigner = new Map<string, TestKey>(
  [...Object.values(ACTORS), ...APPROVERS, testKey('unknown')].map((k) => [k.key, k]),
);

/** Signs each proposal of the stream with its own signer's key (the same object signed once). */
function signStream(stream: readonly Delivery[]): Delivery[] {
  const signed = new Map<unknown, unknown>();
  return stream.map((d) => {
    let proposal = signed.get(d.proposal);
    if (proposal === undefined) {
      const p = d.proposal as UnsignedTransitionProposal & { signature?: string };
      const key = keysBySigner.get(p.signer);
      proposal = key === undefined ? p : signProposal(p, key.secretKey);
      signed.set(d.proposal, proposal);
    }
    return { ...d, proposal };
  });
}

const rate = (count: number, ms: number): string => Math.round((count * 1000) / ms).toLocaleString('en-US');
const line = (label: string, value: string): void => console.log(`${label.padEnd(58)} ${value}`);

console.log(`SWOOSH statechart benchmark — seed ${SEED}, Node ${process.version}\n`);

const t0 = performance.now();
const run = simulate(options);
const tenKMs = performance.now() - t0;
line(
  '10k run (simulate + apply until 10,000 accepted)',
  `${(tenKMs / 1000).toFixed(2)} s  (${run.stream.length} proposals, ${run.accepted} accepted, ${run.duplicates} duplicates, ${run.rejected} rejected)`,
);
line('  final state hash', run.finalHash);

const trusted = replayStream(run.stream, false);
if (trusted.finalHash !== run.finalHash) throw new Error('replay disagrees with the run');
line(
  'protocol without signature verification (hashing included)',
  `${rate(trusted.accepted, trusted.ms)} transitions/s  (${rate(run.stream.length, trusted.ms)} proposals/s)`,
);
line('  10k stream replay time', `${(trusted.ms / 1000).toFixed(2)} s`);

const prefix = signStream(run.stream.slice(0, SIGNED_PREFIX));
const verified = replayStream(prefix, true);
line(
  'protocol with ed25519 verification and hashing',
  `${rate(verified.accepted, verified.ms)} transitions/s  (${rate(prefix.length, verified.ms)} proposals/s, first ${prefix.length} proposals)`,
);

// The bare reducer: reduce + hash over the accepted transitions, no protocol checks. One pass is
// well under a second, so a single garbage collection of the heap the runs above left behind can
// halve it; the figure is the median of several passes, each from a fresh initial state.
const { config } = simContext(options);
const events = acceptedEvents(run);
const PASSES = Number(process.env.BENCH_REDUCER_PASSES ?? 5);
const passRates: number[] = [];
for (let pass = 0; pass < PASSES; pass++) {
  let state: StateDocument = initialState('m-sim');
  const t1 = performance.now();
  for (const e of events) {
    state = reduce(state, e, config);
    stateHash(state);
  }
  const reduceMs = performance.now() - t1;
  if (stateHash(state) !== run.finalHash) throw new Error('bare reducer disagrees with the run');
  passRates.push((events.length * 1000) / reduceMs);
}
passRates.sort((a, b) => a - b);
const round = (n: number): string => Math.round(n).toLocaleString('en-US');
line(
  'bare reducer (reduce + stateHash)',
  `${round(passRates[Math.floor(PASSES / 2)]!)} transitions/s  (median of ${PASSES} passes; best ${round(passRates.at(-1)!)})`,
);
