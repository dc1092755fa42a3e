/**
 * Ledger append benchmark: N decision records appended to one mission, one after another as a
 * mission's workflow emits them, each append timed from call to acknowledgement (durable). Prints
 * appends/s and p50/p95/p99/max per append, and what the orchestrator's signer costs per
 * signature and `verifySignature` per check. Figures to read, not a test: nothing fails on a
 * number. Run it on the disk whose figures you want (fsync costs what that disk costs):
 *
 *   npx tsx bench/ledger.ts [--n=500] [--dir=<parent folder, default the OS temp folder>]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateSigner, utf8Bytes, verifySignature } from '../host/keys';
import { FileLedger } from '../ledger';
import { decisionEntry } from '../tests/ledger/support/entries';

function flag(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

const n = Number(flag('n') ?? 500);
if (!Number.isInteger(n) || n < 2) throw new Error('--n must be an integer of at least 2');
const parent = flag('dir') ?? tmpdir();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Mean cost of `call` in µs over at least `minMs` of calls. */
function perCall(call: () => unknown, minMs = 1_000): number {
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) {
    call();
    calls++;
  }
  return ((performance.now() - start) * 1000) / calls;
}

const dir = await mkdtemp(join(parent, 'swoosh-bench-ledger-'));
try {
  const { signer } = generateSigner();
  const ledger = new FileLedger({ dir, signer });
  const times: number[] = [];
  for (let seq = 0; seq < n; seq++) {
    const start = performance.now();
    await ledger.appendDecision(decisionEntry(signer.keyId, seq));
    times.push(performance.now() - start);
  }
  await ledger.close();
  // The first append creates the mission's files; the rest is the steady state.
  const [first, ...rest] = times;
  const total = rest.reduce((a, b) => a + b, 0);
  const sorted = [...rest].sort((a, b) => a - b);
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  console.log(`first append (creates the files): ${ms(first!)}`);
  console.log(
    `${rest.length} appends: ${((rest.length / total) * 1000).toFixed(0)} appends/s; per append ` +
      `p50 ${ms(percentile(sorted, 50))}, p95 ${ms(percentile(sorted, 95))}, ` +
      `p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1)!)}`,
  );

  const message = utf8Bytes(`sha256-${'ab'.repeat(32)}`);
  const signature = signer.sign(message);
  console.log(
    `sign: ${perCall(() => signer.sign(message)).toFixed(1)} µs/call; ` +
      `verify: ${perCall(() => verifySignature(signer.keyId, message, signature)).toFixed(1)} µs/call`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
