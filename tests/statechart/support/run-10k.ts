/**
 * One independent 10k-transition run, for the cross-process determinism test and the benchmark:
 * simulates a chaotic mission from a fixed seed until 10,000 transitions are accepted and prints
 * the hashes as one JSON line. `--check` checks every invariant after every step; `--replay` also
 * feeds the recorded stream to a fresh reducer and reports the hash it reaches.
 *
 *   node --import tsx tests/statechart/support/run-10k.ts <seed> [--check] [--replay]
 */
import { hashCanonical } from '../../../schemas/hash';
import { replay, simulate, type SimOptions } from './sim';

export const TEN_K_OPTIONS = (seed: number, checkInvariants = false): SimOptions => ({
  seed,
  accepted: 10_000,
  signed: false,
  checkInvariants,
  chaos: { duplicate: 0.05, reorder: 0.03, drop: 0.03, invalid: 0.05 },
});

export function runTenK(seed: number, checkInvariants = false, replayStream = true) {
  const started = performance.now();
  const options = TEN_K_OPTIONS(seed, checkInvariants);
  const run = simulate(options);
  const simulatedMs = performance.now() - started;
  const replayStarted = performance.now();
  const replayed = replayStream ? replay(run.stream, options) : null;
  const replayMs = performance.now() - replayStarted;
  return {
    seed,
    accepted: run.accepted,
    deliveries: run.stream.length,
    duplicates: run.duplicates,
    rejected: run.rejected,
    violations: run.violations.length,
    finalHash: run.finalHash,
    replayHash: replayed?.finalHash ?? null,
    streamHash: hashCanonical(
      run.stream.map((d) => ({ kind: d.kind, now: d.now, io: d.io, proposal: d.proposal })),
    ),
    simulatedMs: Math.round(simulatedMs),
    replayMs: Math.round(replayMs),
  };
}

if (process.argv[1] !== undefined && /run-10k\.ts$/.test(process.argv[1])) {
  const seed = Number(process.argv[2] ?? '10000');
  console.log(
    JSON.stringify(runTenK(seed, process.argv.includes('--check'), process.argv.includes('--replay'))),
  );
}
