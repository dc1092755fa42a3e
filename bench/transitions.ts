/**
 * `npm run bench:transitions`: SWOOSH transitions side by side with raw Temporal, on one dev server
 * this bench starts itself, in alternating rounds so that a noisy machine slows both sides alike.
 *
 * Pairs (SWOOSH vs its raw baseline):
 *  - one mission, sequential transitions through the `transition` Update
 *      vs one entity, sequential Updates that each run one local activity (append + fsync);
 *  - one mission, sequential `POST /transition` on a gateway running as its own process
 *      vs one entity, sequential empty Updates;
 *  - K missions in parallel, each sequential, vs K entities likewise (K from --parallel).
 * Each SWOOSH transition is a signed Control_Pause or Control_Resume on a mission held where only
 * the bench moves HEAD (council electing a member who never votes): its only I/O is the decision
 * ledger append. The client builds each proposal on the previous answer's post-state hash, as a
 * caller who just got a 202 would. For every pair it prints throughput, p50 and p95 of each side,
 * and the SWOOSH/raw ratios (median of the per-round ratios), then counts workflow-task timeouts and
 * failures in every mission's history and the worker's "workflow task duration exceeded" warnings.
 *
 *   npm run bench:transitions -- [--rounds=3] [--n=100] [--parallel=20,200] [--per-entity=10]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogEntry } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { SwooshClient } from '../api/client';
import { loadWorkerTuning } from '../schemas/config';
import { missionWorkflowId, type MissionView } from '../schemas/mission';
import type { TransitionProposal } from '../schemas/proposal';
import { stateQuery, transitionUpdate } from '../schemas/mission-messages';
import { windowIdAt } from '../workflows/statechart';
import { proposalSigningBytes } from '../schemas/signed-bytes';
import { formatHlc, hlcSend, parseHlc, type Hlc } from '../schemas/hlc';
import { hashCanonical } from '../schemas/hash';
import { type StateDocument } from '../schemas/state-document';
import { type TransitionName } from '../schemas/statechart';
import { startGatewayFixture } from '../tests/gateway/support/gateway';
import { startGatewayProcess } from './gateway-process';
import { generateSigner, type Signer } from '../host/keys';
import { newSigner, prompt, TEST_SCHEDULE } from '../tests/lifecycle/support/missions';
import { createRawActivities } from './raw/activities';
import { appendUpdate, emptyUpdate, stopSignal } from './raw/entity-workflow';
import { tuningOptions } from '../workers/worker';

const { TimeoutType } = proto.temporal.api.enums.v1;

const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const ROUNDS = Number(arg('rounds', '3'));
const N = Number(arg('n', '100'));
const PARALLEL = arg('parallel', '20,200').split(',').filter(Boolean).map(Number);
const PER_ENTITY = Number(arg('per-entity', '10'));

// Core's warnings about slow workflow tasks are what this bench must not provoke; count them.
let exceededWarnings = 0;
const fallback = new DefaultLogger('WARN');
Runtime.install({
  logger: new DefaultLogger('WARN', (entry: LogEntry) => {
    if (/duration exceeded|timed out/i.test(entry.message)) exceededWarnings++;
    fallback.log(entry.level, entry.message, entry.meta);
  }),
});

interface Sample {
  latencies: number[];
  ms: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

function summary(s: Sample): { rate: number; p50: number; p95: number } {
  const sorted = [...s.latencies].sort((a, b) => a - b);
  return {
    rate: (s.latencies.length / s.ms) * 1000,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** `count` calls from each of `lanes` sequential loops; every latency is kept. */
async function lanes(
  count: number,
  laneCount: number,
  call: (lane: number) => Promise<void>,
): Promise<Sample> {
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: laneCount }, async (_, lane) => {
      for (let i = 0; i < count; i++) {
        const s = performance.now();
        await call(lane);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { latencies, ms: performance.now() - t0 };
}

/**
 * One mission driven by the bench: alternating pause and resume, each proposal on the HEAD the
 * previous one produced, with an HLC after every earlier one. A refusal (the mission's own clock
 * moved past ours, or HEAD moved) re-reads the state and tries again, and is counted.
 */
class HeldMission {
  head = '';
  paused = false;
  retries = 0;
  #hlc: Hlc = { wall: 0, counter: 0 };
  readonly handle: WorkflowHandle;

  constructor(
    client: Client,
    readonly id: string,
    readonly owner: Signer,
  ) {
    this.handle = client.workflow.getHandle(missionWorkflowId(id));
  }

  async read(): Promise<StateDocument> {
    const v = (await this.handle.query(stateQuery)) as MissionView & { state: StateDocument; hash: string };
    this.head = v.hash;
    this.paused = v.state.control.phase === 'PAUSED';
    if (v.state.hlc_last !== null) {
      const last = parseHlc(v.state.hlc_last);
      if (last.wall > this.#hlc.wall || (last.wall === this.#hlc.wall && last.counter > this.#hlc.counter))
        this.#hlc = last;
    }
    return v.state;
  }

  next(): TransitionProposal {
    const transition: TransitionName = this.paused ? 'Control_Resume' : 'Control_Pause';
    const inputs = { reason: 'bench' };
    this.#hlc = hlcSend(this.#hlc, Date.now());
    const unsigned = {
      current_state_hash: this.head,
      transition,
      inputs_hash: hashCanonical(inputs),
      signer: this.owner.keyId,
      idem_key: `${this.id}:0:control:${randomUUID()}`,
      hlc: formatHlc(this.#hlc),
      window_id: windowIdAt(TEST_SCHEDULE, Date.now()),
      evidence: [],
      inputs,
    };
    // Signed with node:crypto, as a client on its own machine would: the bench shares this
    // process's CPU with the worker, and a client's signing is not the orchestrator's cost.
    return { ...unsigned, signature: this.owner.sign(proposalSigningBytes(unsigned)) };
  }

  /** One accepted transition through `send`, which answers the post-state hash or throws. */
  async step(send: (p: TransitionProposal) => Promise<string>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.head = await send(this.next());
        this.paused = !this.paused;
        return;
      } catch (error) {
        if (attempt >= 5) throw error;
        this.retries++;
        await this.read();
      }
    }
  }
}

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

// The SWOOSH worker takes the same SWOOSH_WORKER_* settings as `npm run worker` (docs/workers.md).
const tuning = loadWorkerTuning();
const fx = await startGatewayFixture('bench-transitions', tuning);
const client = fx.env.client;
const rawDir = mkdtempSync(join(tmpdir(), 'swoosh-bench-raw-'));
const rawQueue = `bench-raw-${randomUUID().slice(0, 8)}`;
const rawConnection = await NativeConnection.connect({ address: fx.env.address });
const rawWorker = await Worker.create({
  connection: rawConnection,
  namespace: 'default',
  taskQueue: rawQueue,
  workflowsPath: here('./raw/entity-workflow.ts'),
  activities: createRawActivities(rawDir),
});
const rawRun = rawWorker.run();

// The gateway under test runs as its own process, as in a deployment.
const gatewayProcess = await startGatewayProcess(fx, ['operator']);

const missions: HeldMission[] = [];
const entities: WorkflowHandle[] = [];

/** Missions held in council ELECT: ingestion and environment READY, a council that never votes. */
async function startMissions(count: number): Promise<HeldMission[]> {
  const silent = newSigner();
  const started = await Promise.all(
    Array.from({ length: count }, async () => {
      const { signer: owner } = generateSigner();
      const id = randomUUID();
      await client.workflow.start('missionWorkflow', {
        workflowId: missionWorkflowId(id),
        taskQueue: fx.taskQueue,
        args: [
          prompt(id),
          {
            config: {
              signers: [{ key: owner.keyId, classes: ['control'], label: 'bench owner' }],
              council: { roles: ['planner'], members: [{ id: 'silent', key: silent.key }] },
              schedule: TEST_SCHEDULE,
            },
          },
        ],
      });
      return new HeldMission(client, id, owner);
    }),
  );
  let waiting = started;
  while (waiting.length > 0) {
    const states = await Promise.all(waiting.map((m) => m.read().catch(() => undefined)));
    waiting = waiting.filter((_, i) => {
      const s = states[i];
      return !(
        s?.ingestion.phase === 'READY' &&
        s.environment.phase === 'READY' &&
        s.council.phase === 'ELECT'
      );
    });
    process.stdout.write(`\r[bench] ${count - waiting.length}/${count} missions held   `);
    if (waiting.length > 0) await new Promise((r) => setTimeout(r, 500));
  }
  process.stdout.write('\n');
  missions.push(...started);
  return started;
}

async function startEntities(count: number): Promise<WorkflowHandle[]> {
  const started = await Promise.all(
    Array.from({ length: count }, () =>
      client.workflow.start('rawEntityWorkflow', { workflowId: `raw-${randomUUID()}`, taskQueue: rawQueue }),
    ),
  );
  entities.push(...started);
  return started;
}

type Side = 'swoosh' | 'raw';
interface Pair {
  label: string;
  raw: string;
  swoosh: string;
  run: Record<Side, () => Promise<Sample>>;
  rounds: Record<Side, ReturnType<typeof summary>[]>;
}

const viaUpdate = (m: HeldMission) => (p: TransitionProposal) =>
  m.handle.executeUpdate(transitionUpdate, { args: [p], updateId: p.idem_key }).then((o) => o.post_hash);

try {
  const gateway = new SwooshClient(gatewayProcess.url, fx.tokens.operator);
  const viaGateway = async (p: TransitionProposal): Promise<string> => {
    const res = await gateway.propose(p);
    if (res.status !== 202) throw new Error(`POST /transition answered ${res.status}`);
    return (res.body as { post_hash: string }).post_hash;
  };

  const largest = Math.max(1, ...PARALLEL);
  console.log(`[bench] starting ${largest} missions and ${largest} raw entities ...`);
  const held = await startMissions(largest);
  const raw = await startEntities(largest);
  let line = 0;
  const append = (e: WorkflowHandle) => e.executeUpdate(appendUpdate, { args: [`line ${line++}`] });

  const pairs: Pair[] = [
    {
      label: 'one mission, sequential',
      swoosh: 'transition Update',
      raw: 'Update + local activity (append + fsync)',
      run: {
        swoosh: () => lanes(N, 1, () => held[0]!.step(viaUpdate(held[0]!))),
        raw: () => lanes(N, 1, () => append(raw[0]!).then(() => undefined)),
      },
      rounds: { swoosh: [], raw: [] },
    },
    {
      label: 'one mission, sequential, REST',
      swoosh: 'POST /transition (gateway process)',
      raw: 'empty Update',
      run: {
        swoosh: () => lanes(N, 1, () => held[0]!.step(viaGateway)),
        raw: () => lanes(N, 1, () => raw[0]!.executeUpdate(emptyUpdate).then(() => undefined)),
      },
      rounds: { swoosh: [], raw: [] },
    },
    ...PARALLEL.map((k): Pair => ({
      label: `${k} missions in parallel, each sequential`,
      swoosh: 'transition Update',
      raw: 'Update + local activity',
      run: {
        swoosh: () => lanes(PER_ENTITY, k, (lane) => held[lane]!.step(viaUpdate(held[lane]!))),
        raw: () => lanes(PER_ENTITY, k, (lane) => append(raw[lane]!).then(() => undefined)),
      },
      rounds: { swoosh: [], raw: [] },
    })),
  ];

  for (let round = 0; round < ROUNDS; round++) {
    for (const pair of pairs) {
      const order: Side[] = round % 2 === 0 ? ['raw', 'swoosh'] : ['swoosh', 'raw'];
      for (const side of order) {
        const s = summary(await pair.run[side]());
        pair.rounds[side].push(s);
        console.log(
          `[round ${round + 1}/${ROUNDS}] ${pair.label.padEnd(40)} ${side.padEnd(6)} ${s.rate.toFixed(1).padStart(7)}/s  p50 ${s.p50.toFixed(1)} ms  p95 ${s.p95.toFixed(1)} ms`,
        );
      }
    }
  }

  console.log(
    `\nSWOOSH transitions vs raw Temporal — medians of ${ROUNDS} alternating rounds, Node ${process.version}, worker tuning ${JSON.stringify(tuningOptions(tuning))}`,
  );
  console.log(
    '| workload | SWOOSH | raw Temporal | throughput ratio | p95 ratio |\n| --- | --- | --- | --- | --- |',
  );
  for (const pair of pairs) {
    const fmt = (side: Side) => {
      const r = pair.rounds[side];
      return `${median(r.map((x) => x.rate)).toFixed(1)}/s, p50 ${median(r.map((x) => x.p50)).toFixed(0)} ms, p95 ${median(r.map((x) => x.p95)).toFixed(0)} ms`;
    };
    const ratio = (f: (x: ReturnType<typeof summary>) => number) =>
      median(pair.rounds.swoosh.map((s, i) => f(s) / f(pair.rounds.raw[i]!))).toFixed(2);
    console.log(
      `| ${pair.label} | ${pair.swoosh}: ${fmt('swoosh')} | ${pair.raw}: ${fmt('raw')} | ×${ratio((x) => x.rate)} | ×${ratio((x) => x.p95)} |`,
    );
  }

  // Schedule-to-start timeouts are tasks the worker was too busy to pick up from its sticky
  // queue in time (they move to the shared queue); start-to-close ones ran too long.
  const timedOut = new Map<string, number>();
  let failed = 0;
  for (const m of held) {
    for (const e of (await m.handle.fetchHistory()).events ?? []) {
      const t = e.workflowTaskTimedOutEventAttributes;
      if (t) {
        const kind =
          t.timeoutType === TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
            ? 'start-to-close'
            : t.timeoutType === TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
              ? 'schedule-to-start'
              : 'other';
        timedOut.set(kind, (timedOut.get(kind) ?? 0) + 1);
      }
      if (e.workflowTaskFailedEventAttributes) failed++;
    }
  }
  const retries = held.reduce((sum, m) => sum + m.retries, 0);
  console.log(
    `\nworkflow tasks over ${held.length} missions: ${[...timedOut.values()].reduce((a, b) => a + b, 0)} timed out ${JSON.stringify(Object.fromEntries(timedOut))}, ${failed} failed; ` +
      `"duration exceeded"/"timed out" warnings from the worker: ${exceededWarnings}; proposals retried after a refusal: ${retries}`,
  );
} finally {
  await gatewayProcess.stop();
  await Promise.all(missions.map((m) => m.handle.terminate('bench done').catch(() => undefined)));
  await Promise.all(entities.map((e) => e.signal(stopSignal).catch(() => undefined)));
  rawWorker.shutdown();
  await rawRun;
  await rawConnection.close();
  await fx.stop();
  rmSync(rawDir, { recursive: true, force: true });
}
