/**
 * `npm run chaos`: a chaos run at full size (docs/chaos.md). Starts its own Temporal dev server,
 * worker processes and gateway in a temporary folder, prints one progress line while it runs and
 * the verdict at the end, and exits 1 unless every check passed.
 *
 *   npm run chaos -- [--missions=20] [--transitions=10000] [--seed=1] [--workers=2]
 *                    [--kill-worker-every=30] [--gateway-kills=2] [--server-restarts=1]
 *                    [--duplicate=0.05] [--reorder=0.05] [--drop=0.03] [--race=0.05] [--a2a=0.3] [--keep]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_RATES, formatReport, runChaos } from './harness';
import { killEverything } from './processes';

const rate = z.coerce.number().min(0).max(0.5);
const Args = z.strictObject({
  missions: z.coerce.number().int().min(1).max(500).default(20),
  transitions: z.coerce.number().int().min(1).default(10_000),
  seed: z.coerce.number().int().default(1),
  workers: z.coerce.number().int().min(1).max(8).default(2),
  'kill-worker-every': z.coerce.number().min(0).default(30),
  'gateway-kills': z.coerce.number().int().min(0).default(2),
  'server-restarts': z.coerce.number().int().min(0).default(1),
  duplicate: rate.default(DEFAULT_RATES.duplicate),
  reorder: rate.default(DEFAULT_RATES.reorder),
  drop: rate.default(DEFAULT_RATES.drop),
  race: rate.default(DEFAULT_RATES.race),
  a2a: z.coerce.number().min(0).max(1).default(DEFAULT_RATES.a2a),
  keep: z.coerce.boolean().default(false),
});

const raw = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    if (!m) {
      console.error(`chaos: not an option: ${a}`);
      process.exit(64);
    }
    return [m[1]!, m[2] ?? 'true'];
  }),
);
const parsed = Args.safeParse(raw);
if (!parsed.success) {
  for (const issue of parsed.error.issues)
    console.error(`chaos: --${issue.path.join('.')}: ${issue.message}`);
  process.exit(64);
}
const a = parsed.data;
const dataDir = mkdtempSync(join(tmpdir(), 'swoosh-chaos-'));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killEverything();
    console.error(`\n[chaos] interrupted; its processes are stopped; kept ${dataDir}`);
    process.exit(130);
  });
}
console.log(
  `[chaos] ${a.missions} missions, ${a.transitions} proposals, seed ${a.seed}, ${a.workers} workers; folder ${dataDir}`,
);
let code = 1;
try {
  const report = await runChaos({
    missions: a.missions,
    transitions: a.transitions,
    seed: a.seed,
    workers: a.workers,
    workerKillEveryMs: a['kill-worker-every'] * 1000,
    gatewayKills: a['gateway-kills'],
    serverRestarts: a['server-restarts'],
    rates: { duplicate: a.duplicate, reorder: a.reorder, drop: a.drop, race: a.race, a2a: a.a2a },
    dataDir,
    progress: (line) =>
      process.stdout.write(line.endsWith('\n') || line.startsWith('\r') ? line : `${line}\n`),
  });
  console.log(formatReport(report));
  code = report.failed === 0 ? 0 : 1;
} catch (error) {
  console.error(
    `[chaos] the run could not finish: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
} finally {
  if (a.keep || code !== 0) console.log(`[chaos] kept ${dataDir} (logs, ledgers, histories)`);
  else rmSync(dataDir, { recursive: true, force: true });
}
process.exit(code);
