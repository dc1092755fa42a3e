/**
 * The live-timers mode of `npm run bench:timers` (`--live=N --horizon=S`): N timers held at once,
 * due uniformly over the next S seconds, created as fast as the shards take them. Creation stops
 * at the first wall it meets (a shard at capacity, an update that times out, the server refusing),
 * and the report names that wall and the largest N reached. Deliveries are then watched for
 * `--observe` seconds of the horizon (all of it by default): the timers due in that stretch, and
 * given a minute to arrive, are the ones the delivered share counts.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { tsToMs } from '@temporalio/common/lib/time';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mapConcurrently } from '../host/concurrency';
import type { CreateTimerRequest } from '../schemas/timer';
import {
  createTimersUpdate,
  MAX_CREATE_BATCH,
  type ShardStatus,
  shardStatusQuery,
} from '../schemas/timer-messages';
import { shardOf, shardWorkflowId } from '../schemas/timer-shard-key';
import { ensureTimerShards } from '../workers/timers';
import { machineCpu, procStats, TICK_MS } from './proc-stat';
import { log, type Receiver, summary, waitFor } from './timer-support';

export interface LiveOptions {
  live: number;
  horizonMs: number;
  observeMs: number;
  /** From the start of creation to the first due time. */
  leadMs: number;
  shards: number;
  /** The shards' park-after setting (docs/timers.md#parked-timers); 0 parks nothing. */
  parkAfterMs: number;
}

export interface LiveFigures {
  reached: number;
  /** What stopped creation before `live`, if anything did. */
  wall?: string;
  creationMs: number;
  /** Timers due within the observed stretch, and how many of them arrived. */
  dueObserved: number;
  delivered: number;
  lateness: number[];
  endToEnd: number[];
  /** Fired − due by minute of the stretch (by due time) and by shard: where the late ones were. */
  latenessByMinute: number[][];
  latenessByShard: number[][];
  /** By minute of the stretch: CPU in % of one core (whether the machine, not the code, ran out), and the shards. */
  byMinute: MinuteSample[];
  /**
   * In the latest run of the first shards, per durable timer and per alarm: how late it reached the
   * shard's history, and how long after that the worker started the task it woke.
   */
  wakes: Record<'timers' | 'alarms', { lateMs: number[]; pickupMs: number[] }>;
  /**
   * The workflow tasks of those runs: how long each waited to be started, how long the worker took
   * to complete it, and the share of the run's time a task was scheduled or under way (a shard
   * near 100 % has its wake-ups wait for the task before).
   */
  tasks: { queuedMs: number[]; workMs: number[]; perSecond: number; busyPct: number };
  /** In the first shards: each stretch of timers fired over a second late, and the runs that began or ended in it. */
  stalls: string[];
  peakRssMiB: { bench?: number; server?: number };
}

export interface MinuteSample {
  bench: number;
  server: number;
  /** Every process on the machine (others' too: it is shared), out of 100 % per core. */
  machine: number;
  iowait: number;
  /** Over all shards at the minute's end: runs so far (continue-as-new), held bytes, digests held. */
  shards?: { runs: number; snapshotKiB: number; digests: number };
}

/** Timers generated and sent per round: bounds what is held in memory besides the shards. */
const ROUND = 20_000;
/** A minute for a timer due at the end of the observed stretch to arrive. */
const GRACE_MS = 60_000;

export async function benchLive(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  receiver: Receiver,
  { live, horizonMs, observeMs, leadMs, shards, parkAfterMs }: LiveOptions,
): Promise<LiveFigures> {
  const idPrefix = 'live-shard';
  await ensureTimerShards(env.client, taskQueue, shards, { idPrefix, settings: { parkAfterMs } });
  const start = Date.now() + leadMs;
  const dues = new Float64Array(live);
  const observedUntil = start + Math.min(observeMs, horizonMs);
  let deliveredInStretch = 0;
  receiver.onDelivery = (delivery) => {
    if (delivery.dueAt < observedUntil) deliveredInStretch++;
  };
  let reached = 0;
  let wall: string | undefined;
  const createdAt = Date.now();
  let reported = createdAt;

  for (let from = 0; from < live && wall === undefined; from += ROUND) {
    const byShard = new Map<number, CreateTimerRequest[]>();
    for (let i = from; i < Math.min(live, from + ROUND); i++) {
      const id = `live-${i}`;
      dues[i] = start + Math.floor(Math.random() * horizonMs);
      const shard = shardOf(id, shards);
      const list = byShard.get(shard) ?? [];
      list.push({
        id,
        dueAt: new Date(dues[i]!).toISOString(),
        action: { type: 'webhook', url: receiver.url },
      });
      byShard.set(shard, list);
    }
    const batches = [...byShard].flatMap(([shard, list]) =>
      Array.from({ length: Math.ceil(list.length / MAX_CREATE_BATCH) }, (_, k) => ({
        shard,
        specs: list.slice(k * MAX_CREATE_BATCH, (k + 1) * MAX_CREATE_BATCH),
      })),
    );
    // A timer not created has no due time: the delivered share leaves it out.
    const forget = (specs: CreateTimerRequest[]) => {
      for (const spec of specs) dues[Number(spec.id.slice('live-'.length))] = 0;
    };
    await mapConcurrently(batches, 8, async ({ shard, specs }) => {
      if (wall !== undefined) return forget(specs);
      try {
        await env.client.workflow
          .getHandle(shardWorkflowId(idPrefix, shard))
          .executeUpdate(createTimersUpdate, { args: [{ specs }] });
        reached += specs.length;
      } catch (error) {
        forget(specs);
        wall ??= `shard ${shard}: ${describe(error)}`;
      }
    });
    if (Date.now() - reported >= 5_000) {
      reported = Date.now();
      log(`live: created ${reached}/${live} (${rate(reached, Date.now() - createdAt)}/s), ${rssLine()}`);
    }
  }
  const creationMs = Date.now() - createdAt;
  log(`live: created ${reached} timers in ${creationMs} ms (${rate(reached, creationMs)}/s)`);
  if (wall !== undefined) log(`live: creation stopped at ${reached}: ${wall}`);
  if (Date.now() > start) log('WARNING: creation ran past the first due time; early lateness includes it');

  const cpu = sampleByMinute(start, observedUntil, () =>
    Promise.all(
      Array.from({ length: shards }, (_, shard) =>
        env.client.workflow.getHandle(shardWorkflowId(idPrefix, shard)).query(shardStatusQuery),
      ),
    ),
  );
  let dueObserved = 0;
  for (let i = 0; i < live; i++) if (dues[i]! > 0 && dues[i]! < observedUntil) dueObserved++;
  await waitFor(
    () => deliveredInStretch,
    dueObserved,
    observedUntil + GRACE_MS - Date.now(),
    `live: delivered (of ${dueObserved} due by the end of the observed ${Math.round(Math.min(observeMs, horizonMs) / 1000)} s)`,
  );
  cpu.stop();
  const { wakes, tasks } = await wakeGaps(env, idPrefix, Math.min(shards, 4));
  const stalls = await lateStretches(env, idPrefix, receiver, start, observedUntil, shards);
  const inStretch = [...receiver.received.entries()].filter(([, d]) => d.dueAt < observedUntil);
  const deliveries = inStretch.map(([, d]) => d);
  const latenessByMinute: number[][] = [];
  const latenessByShard: number[][] = Array.from({ length: shards }, () => []);
  for (const [id, d] of inStretch) {
    (latenessByMinute[Math.max(0, Math.floor((d.dueAt - start) / 60_000))] ??= []).push(d.firedAt - d.dueAt);
    latenessByShard[shardOf(id, shards)]!.push(d.firedAt - d.dueAt);
  }
  return {
    reached,
    ...(wall !== undefined && { wall }),
    creationMs,
    dueObserved,
    delivered: deliveries.length,
    lateness: deliveries.map((d) => d.firedAt - d.dueAt),
    endToEnd: deliveries.map((d) => d.receivedAt - d.dueAt),
    latenessByMinute,
    latenessByShard,
    byMinute: cpu.minutes,
    wakes,
    tasks,
    stalls,
    peakRssMiB: peakRss(),
  };
}

export function reportLive(opts: LiveOptions, f: LiveFigures, baselineLateness: number[]): void {
  const pct = f.dueObserved === 0 ? '—' : `${((100 * f.delivered) / f.dueObserved).toFixed(2)}%`;
  const mib = (v: number | undefined) => (v === undefined ? 'n/a' : `${v} MiB`);
  console.log('');
  console.log(
    `live timers: ${f.reached} of ${opts.live} held at once, due over ${opts.horizonMs / 1000} s, ` +
      `${opts.shards} shards, ${opts.parkAfterMs > 0 ? `parked when due after ${opts.parkAfterMs / 1000} s` : 'none parked'}, dev server (SQLite)`,
  );
  console.log(`  wall             ${f.wall ?? 'none: every timer was created'}`);
  console.log(
    `  creation         ${rate(f.reached, f.creationMs)}/s (${(f.creationMs / 1000).toFixed(1)} s)`,
  );
  console.log(
    `  peak RSS         bench process ${mib(f.peakRssMiB.bench)}, dev server ${mib(f.peakRssMiB.server)}`,
  );
  console.log(`  delivered        ${f.delivered}/${f.dueObserved} due in the observed stretch (${pct})`);
  console.log(`  fired − due      p50/p95/p99 ${summary(f.lateness).slice(0, 3).join(' / ')}`);
  console.log(`  received − due   p50/p95/p99 ${summary(f.endToEnd).slice(0, 3).join(' / ')}`);
  console.log(`  baseline sleeps  p50/p95/p99 ${summary(baselineLateness).slice(0, 3).join(' / ')}`);
  const p95 = (values: number[] | undefined) => summary(values)[1]!.replace(' ms', '');
  console.log(
    `  fired − due p95 by minute of the stretch (ms): ${Array.from(f.latenessByMinute, p95).join(', ')}`,
  );
  const cpu = (pick: (m: MinuteSample) => number) => f.byMinute.map((m) => `${pick(m)}%`).join(', ');
  console.log(`  CPU by minute of the stretch, % of one core (the machine has ${availableParallelism()}):`);
  console.log(`    bench process  ${cpu((m) => m.bench)}`);
  console.log(`    dev server     ${cpu((m) => m.server)}`);
  console.log(`    whole machine  ${cpu((m) => m.machine)} busy, ${cpu((m) => m.iowait)} waiting on I/O`);
  const held = (pick: (s: NonNullable<MinuteSample['shards']>) => number) =>
    f.byMinute.map((m) => (m.shards ? String(pick(m.shards)) : '?')).join(', ');
  console.log(`  shards at the end of each minute (all ${opts.shards} together):`);
  console.log(`    runs so far    ${held((s) => s.runs)}`);
  console.log(`    held KiB       ${held((s) => s.snapshotKiB)}`);
  console.log(`    digests held   ${held((s) => s.digests)}`);
  const wakeLine = (what: string, { lateMs, pickupMs }: { lateMs: number[]; pickupMs: number[] }) =>
    lateMs.length === 0
      ? `  ${what}: none`
      : `  ${what} (${lateMs.length}): in history after due p50/p95/p99 ${summary(lateMs).slice(0, 3).join(' / ')}; ` +
        `task started after that p50/p95/p99 ${summary(pickupMs).slice(0, 3).join(' / ')}`;
  const first = `the latest run of ${Math.min(opts.shards, 4)} shards`;
  console.log(wakeLine(`durable timers in ${first}`, f.wakes.timers));
  console.log(wakeLine(`alarms in ${first}`, f.wakes.alarms));
  const { tasks } = f;
  console.log(
    `  workflow tasks in ${first}: ${tasks.perSecond.toFixed(1)}/s per shard, scheduled or under way ${tasks.busyPct}% of the time; ` +
      `scheduled → started p50/p95/p99 ${summary(tasks.queuedMs).slice(0, 3).join(' / ')}; ` +
      `started → completed ${summary(tasks.workMs).slice(0, 3).join(' / ')}`,
  );
  console.log(
    `  stretches fired over ${STALL_MS} ms late, first ${Math.min(opts.shards, 4)} shards (due s from the first due time):`,
  );
  for (const line of f.stalls) console.log(`    ${line}`);
  const shards = f.latenessByShard.map((values, shard) => ({ shard, p95: Number(p95(values)) }));
  const worst = shards.sort((a, b) => b.p95 - a.p95).slice(0, 4);
  console.log(
    `  fired − due p95, latest shards (ms): ${worst.map((w) => `${w.shard}: ${w.p95}`).join(', ')}`,
  );
}

/** An update's refusal names its cause (the shard's ApplicationFailure); say that, not the wrapper. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}

function rate(count: number, ms: number): number {
  return ms > 0 ? Math.round((count / ms) * 1000) : 0;
}

/** From `from` to `until`, the CPU each minute took and where the shards were; `stop` ends it early. */
function sampleByMinute(
  from: number,
  until: number,
  statuses: () => Promise<ShardStatus[]>,
): { minutes: MinuteSample[]; stop: () => void } {
  const minutes: MinuteSample[] = [];
  const read = () => ({
    at: Date.now(),
    processes: procStats(),
    machine: machineCpu(),
  });
  const ticksOf = (sample: ReturnType<typeof read>, pid: number | undefined) =>
    sample.processes.find((p) => p.pid === pid)?.cpuTicks ?? 0;
  let last: ReturnType<typeof read> | undefined;
  const tick = () => {
    const now = read();
    if (last && now.machine && last.machine) {
      // Ticks are 10 ms: per 100 ticks a second, one core's worth.
      const share = (ticks: number) => Math.round((ticks * TICK_MS * 100) / (now.at - last!.at));
      const server = serverPid();
      const minute: MinuteSample = {
        bench: share(ticksOf(now, process.pid) - ticksOf(last, process.pid)),
        server: share(ticksOf(now, server) - ticksOf(last, server)),
        machine: share(now.machine.busy - last.machine.busy),
        iowait: share(now.machine.iowait - last.machine.iowait),
      };
      minutes.push(minute);
      // Read after the CPU, so its own cost counts in the next minute; a shard that does not answer is left out.
      statuses().then(
        (all) => {
          const sum = (pick: (s: ShardStatus) => number) => all.reduce((total, s) => total + pick(s), 0);
          minute.shards = {
            runs: sum((s) => s.runs),
            snapshotKiB: Math.round(sum((s) => s.snapshotBytes) / 1024),
            digests: sum((s) => s.digests),
          };
        },
        () => undefined,
      );
    }
    last = now;
    if (now.at + 60_000 > until + 1_000) clearInterval(interval);
  };
  let interval: NodeJS.Timeout | undefined;
  const begin = setTimeout(
    () => {
      tick();
      interval = setInterval(tick, 60_000);
    },
    Math.max(0, from - Date.now()),
  );
  return {
    minutes,
    stop: () => {
      clearTimeout(begin);
      clearInterval(interval);
    },
  };
}

/**
 * From the latest run of shards 0..count-1, read once: how late each wake-up reached the shard's
 * history against what it was set for (a durable timer: its start event's time plus its duration,
 * a few ms after the task that set it began; an alarm: the tick in its input), the next task's
 * start against that, and the runs' workflow tasks (`LiveFigures['tasks']`).
 */
async function wakeGaps(
  env: TestWorkflowEnvironment,
  idPrefix: string,
  count: number,
): Promise<Pick<LiveFigures, 'wakes' | 'tasks'>> {
  const wakes: LiveFigures['wakes'] = {
    timers: { lateMs: [], pickupMs: [] },
    alarms: { lateMs: [], pickupMs: [] },
  };
  const queuedMs: number[] = [];
  const workMs: number[] = [];
  let busy = 0;
  let span = 0;
  for (let shard = 0; shard < count; shard++) {
    const history = await env.client.workflow.getHandle(shardWorkflowId(idPrefix, shard)).fetchHistory();
    const events = history.events ?? [];
    if (events.length > 1) span += tsToMs(events.at(-1)!.eventTime) - tsToMs(events[0]!.eventTime);
    let scheduledAt: number | undefined;
    let startedAt: number | undefined;
    const timerDue = new Map<string, number>();
    const alarmTick = new Map<string, number>();
    events.forEach((event, i) => {
      const at = tsToMs(event.eventTime);
      if (event.workflowTaskScheduledEventAttributes) scheduledAt = at;
      if (event.workflowTaskStartedEventAttributes && scheduledAt !== undefined) {
        startedAt = at;
        queuedMs.push(at - scheduledAt);
      }
      const taskEnded =
        event.workflowTaskCompletedEventAttributes ??
        event.workflowTaskFailedEventAttributes ??
        event.workflowTaskTimedOutEventAttributes;
      if (taskEnded && scheduledAt !== undefined && startedAt !== undefined) {
        workMs.push(at - startedAt);
        busy += at - scheduledAt;
        scheduledAt = startedAt = undefined;
      }
      const started = event.timerStartedEventAttributes;
      if (started?.timerId) timerDue.set(started.timerId, at + tsToMs(started.startToFireTimeout));
      const scheduled = event.activityTaskScheduledEventAttributes;
      const data = scheduled?.input?.payloads?.[0]?.data;
      if (scheduled?.activityType?.name === 'ringShardAlarm' && data)
        alarmTick.set(
          String(event.eventId),
          (JSON.parse(Buffer.from(data).toString('utf8')) as { at: number }).at,
        );
      const firedTimer = event.timerFiredEventAttributes?.timerId;
      const ended = event.activityTaskCompletedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
      const [due, kind] = firedTimer
        ? [timerDue.get(firedTimer), wakes.timers]
        : [alarmTick.get(String(ended?.scheduledEventId)), wakes.alarms];
      if (due === undefined) return;
      kind.lateMs.push(at - due);
      const task = events.slice(i + 1).find((e) => e.workflowTaskStartedEventAttributes);
      if (task) kind.pickupMs.push(tsToMs(task.eventTime) - at);
    });
  }
  const perSecond = span > 0 ? workMs.length / (span / 1000) : 0;
  const busyPct = span > 0 ? Math.round((busy / span) * 100) : 0;
  return { wakes, tasks: { queuedMs, workMs, perSecond, busyPct } };
}

/** A timer fired this late belongs to a stall. */
const STALL_MS = 1_000;

/**
 * Stretches of consecutive due times (per shard) fired more than `STALL_MS` late, with the shard's
 * run boundaries (continue-as-new) that fall within a stretch or 5 s before it: whether the late
 * timers waited on a new run or on something else.
 */
async function lateStretches(
  env: TestWorkflowEnvironment,
  idPrefix: string,
  receiver: Receiver,
  start: number,
  until: number,
  shards: number,
): Promise<string[]> {
  const lines: string[] = [];
  for (let shard = 0; shard < Math.min(shards, 4); shard++) {
    const fired = [...receiver.received.entries()]
      .filter(([id, d]) => d.dueAt < until && shardOf(id, shards) === shard)
      .map(([, d]) => d)
      .sort((a, b) => a.dueAt - b.dueAt);
    const boundaries: number[] = [];
    const workflowId = shardWorkflowId(idPrefix, shard);
    for await (const run of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      boundaries.push(run.startTime.getTime());
    }
    let stretch: { from: number; to: number; worst: number; count: number } | undefined;
    let shown = 0;
    let unshown = 0;
    const flush = () => {
      if (!stretch) return;
      if (shown++ >= 12) {
        unshown++;
        stretch = undefined;
        return;
      }
      const near = boundaries
        .filter((at) => at >= stretch!.from - 5_000 && at <= stretch!.to + stretch!.worst)
        .map((at) => ((at - start) / 1000).toFixed(1));
      lines.push(
        `shard ${shard}: due ${((stretch.from - start) / 1000).toFixed(1)}–${((stretch.to - start) / 1000).toFixed(1)} s, ` +
          `${stretch.count} timers, worst ${stretch.worst} ms; ` +
          (near.length ? `new run started at ${near.join(', ')} s` : 'no new run near it'),
      );
      stretch = undefined;
    };
    for (const d of fired) {
      const late = d.firedAt - d.dueAt;
      if (late <= STALL_MS) {
        flush();
        continue;
      }
      stretch ??= { from: d.dueAt, to: d.dueAt, worst: 0, count: 0 };
      stretch.to = d.dueAt;
      stretch.worst = Math.max(stretch.worst, late);
      stretch.count++;
    }
    flush();
    if (unshown > 0) lines.push(`shard ${shard}: ${unshown} more stretches`);
  }
  return lines;
}

function rssLine(): string {
  return `bench RSS ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`;
}

/** Peak resident memory (VmHWM) of this process and of the dev server it started; Linux only. */
function peakRss(): LiveFigures['peakRssMiB'] {
  const hwm = (pid: number | 'self'): number | undefined => {
    try {
      const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return kib === undefined ? undefined : Math.round(Number(kib) / 1024);
    } catch {
      return undefined;
    }
  };
  return { bench: hwm('self'), server: serverPid() === undefined ? undefined : hwm(serverPid()!) };
}

/** The Temporal CLI this process started: a child whose command is the CLI. */
function serverPid(): number | undefined {
  return procStats().find((p) => p.ppid === process.pid && p.command === 'temporal')?.pid;
}
