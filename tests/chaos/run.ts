/**
 * `npm run chaos`: a chaos run at full size (docs/chaos.md). Starts its own Temporal dev server,
 * worker processes and gateway in a temporary folder, prints one progress line while it runs and
 * the verdict at the end, and exits 1 unless every check passed.
 *
 *   npm run chaos -- [--missions=20] [--transitions=10000] [--seed=1] [--workers=2]
 *                    [--kill-worker-every=30] [--gateway-kills=2] [--server-restarts=1]
 *                    [--beat-missions=2] [--licence-denials=1] [--licence-deny=15]
 *                    [--tool-flaps=2] [--tool-down=10] [--owner-pauses=1] [--owner-pause=5]
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
  'beat-missions': z.coerce.number().int().min(0).max(50).default(2),
  'licence-denials': z.coerce.number().int().min(0).default(1),
  'licence-deny': z.coerce.number().min(1).default(15),
  'tool-flaps': z.coerce.number().int().min(0).default(2),
  'tool-down': z.coerce.number().min(1).default(10),
  'owner-pauses': z.coerce.number().int().min(0).default(1),
  'owner-pause': z.coerce.number().min(0).default(5),
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
if ('help' in raw) {
  console.log(
    `npm run chaos -- [--option=value ...]  (docs/chaos.md)\n${Object.keys(Args.shape)
      .map((k) => `  --${k}`)
      .join('\n')}`,
  );
  process.exit(0);
}
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
    beatMissions: a['beat-missions'],
    licenceDenials: a['licence-denials'],
    licenceDenyMs: a['licence-deny'] * 1000,
    toolFlaps: a['tool-flaps'],
    toolDownMs: a['tool-down'] * 1000,
    ownerPauses: a['owner-pauses'],
    ownerPauseMs: a['owner-pause'] * 1000,
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
