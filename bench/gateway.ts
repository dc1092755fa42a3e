/**
 * Gateway throughput on the real stack: a Temporal CLI dev server and a SWOOSH worker (started
 * here), and the gateway as its own process (`api/main.ts`, as `npm run gateway` runs it) on a
 * free port. Prints requests per second and latency percentiles for GET /missions/:id (state
 * query through the workflow) and POST /transition (signed proposals applied by the mission's
 * update, each against a fresh HEAD), with the same query straight from a Temporal client as a
 * baseline. Everything is stopped at the end; the gateway by SIGTERM, which must exit 0.
 *
 *   npx tsx bench/gateway.ts [seconds=10] [concurrency=16] [missions=4] [transitionsPerMission=25]
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { SwooshClient } from '../api/client';
import { missionWorkflowId } from '../schemas/mission';
import { readyAndPaused, startGatewayFixture, startOwnedMission } from '../tests/gateway/support/gateway';
import { stateQuery } from '../schemas/mission-messages';
import { startGatewayProcess } from './gateway-process';

Runtime.install({ logger: new DefaultLogger('WARN') });

const [seconds = 10, concurrency = 16, missionCount = 4, perMission = 25] = process.argv.slice(2).map(Number);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function report(name: string, latencies: number[], elapsedMs: number, unit = 'req'): void {
  const sorted = [...latencies].sort((a, b) => a - b);
  const rate = (latencies.length / elapsedMs) * 1000;
  console.log(
    `${name.padEnd(46)} ${rate.toFixed(1).padStart(8)} ${unit}/s  n=${latencies.length}  ` +
      `p50 ${percentile(sorted, 50).toFixed(1)} ms  p95 ${percentile(sorted, 95).toFixed(1)} ms  ` +
      `p99 ${percentile(sorted, 99).toFixed(1)} ms`,
  );
}

/** Runs `call` from `workers` loops until the deadline; every call must succeed. */
async function closedLoop(
  workers: number,
  ms: number,
  call: () => Promise<void>,
): Promise<{ latencies: number[]; elapsed: number }> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await call();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, elapsed: performance.now() - start };
}

const fx = await startGatewayFixture('bench-gateway');
// The gateway under test runs as its own process, as in a deployment.
const gatewayProcess = await startGatewayProcess(fx, ['operator', 'agent']);
try {
  const url = gatewayProcess.url;
  const operator = new SwooshClient(url, fx.tokens.operator);
  const agent = new SwooshClient(url, fx.tokens.agent);
  console.log(`[bench] starting ${missionCount} missions and waiting until they are ready and paused ...`);
  const missions = await Promise.all(Array.from({ length: missionCount }, () => startOwnedMission(operator)));
  await Promise.all(missions.map((m) => readyAndPaused(operator, m)));
  const target = missions[0]!;

  console.log(`[bench] GET /missions/:id, ${concurrency} concurrent clients, ${seconds} s`);
  const reads = await closedLoop(concurrency, seconds * 1000, async () => {
    const res = await operator.getMission(target.id);
    if (res.status !== 200) throw new Error(`GET /missions/:id answered ${res.status}`);
  });
  report('GET /missions/:id', reads.latencies, reads.elapsed);
  // The same state query straight from a Temporal client: what the gateway adds is the difference.
  const handle = fx.env.client.workflow.getHandle(missionWorkflowId(target.id));
  const direct = await closedLoop(concurrency, seconds * 1000, async () => {
    await handle.query(stateQuery);
  });
  report('baseline: the state query without the gateway', direct.latencies, direct.elapsed);

  const apply = async (m: (typeof missions)[number], i: number): Promise<number> => {
    const t0 = performance.now();
    await m.apply('Policy_Update', { policy_version: `bench-${i}`, rationale: 'throughput' });
    return performance.now() - t0;
  };

  console.log(`[bench] POST /transition, one mission, ${perMission} transitions back to back`);
  const one: number[] = [];
  const t1 = performance.now();
  for (let i = 0; i < perMission; i++) one.push(await apply(target, i));
  report('POST /transition (1 mission, sequential)', one, performance.now() - t1, 'transitions');

  console.log(`[bench] POST /transition, ${missionCount} missions in parallel, ${perMission} each`);
  const many: number[] = [];
  const t2 = performance.now();
  await Promise.all(
    missions.map(async (m) => {
      for (let i = 0; i < perMission; i++) many.push(await apply(m, perMission + i));
    }),
  );
  report(
    `POST /transition (${missionCount} missions, parallel)`,
    many,
    performance.now() - t2,
    'transitions',
  );

  console.log(
    `[bench] POST /transition, one applied proposal repeated by ${concurrency} clients, ${seconds} s`,
  );
  const repeated = target.proposal(await target.head(), 'Policy_Update', {
    policy_version: 'bench-repeat',
    rationale: 'dup',
  });
  const seeded = await agent.propose(repeated);
  if (seeded.status !== 202) throw new Error(`repeat seed answered ${seeded.status}`);
  const dups = await closedLoop(concurrency, seconds * 1000, async () => {
    const res = await agent.propose(repeated);
    if (res.status !== 202) throw new Error(`repeat answered ${res.status}`);
  });
  report('POST /transition (repeat of an applied one)', dups.latencies, dups.elapsed);
  console.log(
    '[bench] a transition = GET /state for HEAD + POST /transition (202), Policy_Update (policy scan + ledger append)',
  );
} finally {
  const code = await gatewayProcess.stop();
  console.log(`[bench] gateway process stopped by SIGTERM, exit code ${code}`);
  await fx.stop();
}
