/**
 * What the `bench:transitions` modes share: the missions they drive (held where only the bench moves
 * HEAD), the sequential lanes that time each call, the alternating rounds, the medians and the
 * table cells, and the machine note every table carries.
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import type { Client, WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import { rejectionOf } from '../api/missions';
import { missionWorkflowId, type MissionView } from '../schemas/mission';
import type { TransitionProposal } from '../schemas/proposal';
import { stateQuery, transitionUpdate } from '../schemas/mission-messages';
import { windowIdAt } from '../workflows/statechart';
import { proposalSigningBytes } from '../schemas/signed-bytes';
import { formatHlc, hlcSend, parseHlc, type Hlc } from '../schemas/hlc';
import { hashCanonical } from '../schemas/hash';
import { type StateDocument } from '../schemas/state-document';
import { type TransitionName } from '../schemas/statechart';
import { generateSigner, type Signer } from '../host/keys';
import { newSigner, prompt, TEST_SCHEDULE } from '../tests/lifecycle/support/missions';
import { historiesOfEveryRun } from '../tests/support/temporal';
import { procStats, TICK_MS } from './proc-stat';

const { TimeoutType, WorkflowTaskFailedCause } = proto.temporal.api.enums.v1;

/** `--name=value` from the command line, or `fallback`. */
export const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

export interface Sample {
  latencies: number[];
  ms: number;
  /** CPU time spent meanwhile (ms): by this process's child processes, and by this process. */
  cpu: { children: number; own: number };
}

export interface Summary {
  rate: number;
  p50: number;
  p95: number;
  /** CPU ms per call: child processes (the dev server, a gateway process), and this process. */
  childrenCpu: number;
  ownCpu: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

export function summary(s: Sample): Summary {
  const sorted = [...s.latencies].sort((a, b) => a - b);
  return {
    rate: (s.latencies.length / s.ms) * 1000,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    childrenCpu: s.cpu.children / s.latencies.length,
    ownCpu: s.cpu.own / s.latencies.length,
  };
}

/**
 * CPU ms used so far by every live descendant of this process. CPU time, unlike wall time, is
 * charged to the side that spent it, so a round's figure moves less with what else runs on a
 * shared machine.
 */
function childrenCpuMs(): number {
  const stats = procStats();
  const parentOf = new Map(stats.map((p) => [p.pid, p.ppid]));
  const descends = (pid: number): boolean => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p))
      if (p === process.pid) return true;
    return false;
  };
  return stats.filter((p) => descends(p.pid)).reduce((sum, p) => sum + p.cpuTicks, 0) * TICK_MS;
}

const ownCpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** `count` calls from each of `lanes` sequential loops; every latency is kept. */
export async function lanes(
  count: number,
  laneCount: number,
  call: (lane: number) => Promise<void>,
): Promise<Sample> {
  const latencies: number[] = [];
  const children0 = childrenCpuMs();
  const own0 = ownCpuMs();
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
  const ms = performance.now() - t0;
  return { latencies, ms, cpu: { children: childrenCpuMs() - children0, own: ownCpuMs() - own0 } };
}

/**
 * One mission driven by the bench: alternating pause and resume, each proposal on the HEAD the
 * previous one produced, with an HLC after every earlier one. A refusal (the mission's own clock
 * moved past ours, or HEAD moved) re-reads the state and tries again, and is counted.
 */
export class HeldMission {
  head = '';
  paused = false;
  /** Proposals sent again after a refusal or a failed send, by why (`refusalOf`). */
  readonly retries = new Map<string, number>();
  /** Of those, the ones at this mission's first proposal (HEAD moved between the hold and it). */
  retriesAtFirst = 0;
  #accepted = 0;
  #hlc: Hlc = { wall: 0, counter: 0 };
  readonly handle: WorkflowHandle;

  constructor(
    readonly client: Client,
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
    let stale = false;
    for (let attempt = 0; ; attempt++) {
      try {
        // A failed read leaves HEAD unknown: read again before sending on it.
        if (stale) await this.read();
        stale = false;
        this.head = await send(this.next());
        this.paused = !this.paused;
        this.#accepted++;
        return;
      } catch (error) {
        // Refused while HEAD moves, e.g. for the append round trip of a continue-as-new's seal
        // (docs/lifecycle.md), or a state query that timed out on a busy worker: send again on the
        // HEAD the refusal names, or read it, after a short backoff once it repeats. A refusal's
        // HEAD spares the query, which a mission continuing as new answers only seconds later.
        if (attempt >= 20) throw error;
        const why = stale ? `state read: ${refusalOf(error)}` : refusalOf(error);
        this.retries.set(why, (this.retries.get(why) ?? 0) + 1);
        if (this.#accepted === 0) this.retriesAtFirst++;
        const refusal = stale ? undefined : refusedOf(error);
        if (refusal?.failing_guard === 'concurrency' && refusal.head) this.head = refusal.head;
        else stale = true;
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(25 * attempt, 250)));
      }
    }
  }
}

/** Sends a proposal through the `transition` Update; answers the post-state hash. */
export const viaUpdate = (m: HeldMission) => (p: TransitionProposal) =>
  m.handle.executeUpdate(transitionUpdate, { args: [p], updateId: p.idem_key }).then((o) => o.post_hash);

/**
 * Starts `count` missions on `taskQueue` and waits until each is held in council ELECT: ingestion
 * and environment READY, a council that never votes. Each started mission is added to `started`
 * at once, so a caller interrupted while they settle can still end them.
 */
export async function startHeldMissions(
  client: Client,
  taskQueue: string,
  count: number,
  started: HeldMission[],
  label = '',
): Promise<HeldMission[]> {
  const silent = newSigner();
  const missions = await Promise.all(
    Array.from({ length: count }, async () => {
      const { signer: owner } = generateSigner();
      const id = randomUUID();
      await client.workflow.start('missionWorkflow', {
        workflowId: missionWorkflowId(id),
        taskQueue,
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
      const mission = new HeldMission(client, id, owner);
      started.push(mission);
      return mission;
    }),
  );
  let waiting = missions;
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
    process.stdout.write(`\r[bench] ${label}${count - waiting.length}/${count} missions held   `);
    if (waiting.length > 0) await new Promise((r) => setTimeout(r, 500));
  }
  process.stdout.write('\n');
  return missions;
}

/** One workload, run on every side in turn each round; each side's per-round summaries. */
export interface Workload<S extends string> {
  label: string;
  run: Record<S, () => Promise<Sample>>;
  rounds: Record<S, Summary[]>;
}

/**
 * `rounds` rounds of every workload on every side, the order of the sides rotated each round
 * (with two sides: alternated), so a machine that slows down mid-run slows every side alike.
 */
export async function runRounds<S extends string>(
  rounds: number,
  sides: readonly S[],
  workloads: readonly Workload<S>[],
): Promise<void> {
  const width = Math.max(...workloads.map((w) => w.label.length));
  const sideWidth = Math.max(...sides.map((s) => s.length));
  for (let round = 0; round < rounds; round++) {
    for (const workload of workloads) {
      const order = sides.map((_, i) => sides[(i + round) % sides.length]!);
      for (const side of order) {
        const s = summary(await workload.run[side]());
        workload.rounds[side].push(s);
        console.log(
          `[round ${round + 1}/${rounds}] ${workload.label.padEnd(width)}  ${side.padEnd(sideWidth)} ${s.rate.toFixed(1).padStart(7)}/s  p50 ${s.p50.toFixed(1)} ms  p95 ${s.p95.toFixed(1)} ms`,
        );
      }
    }
  }
}

/** A table cell: the medians of one side's rounds. */
export function cell(rounds: readonly Summary[]): string {
  return `${median(rounds.map((x) => x.rate)).toFixed(1)}/s, p50 ${median(rounds.map((x) => x.p50)).toFixed(0)} ms, p95 ${median(rounds.map((x) => x.p95)).toFixed(0)} ms`;
}

/** A table cell: the medians of one side's CPU ms per call, child processes and this process. */
export function cpuCell(rounds: readonly Summary[]): string {
  return `${median(rounds.map((x) => x.childrenCpu)).toFixed(2)} / ${median(rounds.map((x) => x.ownCpu)).toFixed(2)}`;
}

/** `of`/`to` as the median of the per-round ratios (round i of one side against round i of the other). */
export function ratio(of: readonly Summary[], to: readonly Summary[], f: (x: Summary) => number): string {
  return `×${median(of.map((s, i) => f(s) / f(to[i]!))).toFixed(2)}`;
}

/**
 * The machine the figures come from: cores, and the load average at start and now, since the bench,
 * the Temporal server and the workers share those cores with whatever else runs there.
 */
export function machineNote(loadAtStart: number): string {
  return `machine: ${cpus().length} cores shared by the bench, the Temporal dev server and every worker (and anything else running); load average ${loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at the end`;
}

/** An event's type, and for a timer that fired, how long it was set for and what it waited for. */
function arrivedName(
  events: readonly proto.temporal.api.history.v1.IHistoryEvent[],
  e: proto.temporal.api.history.v1.IHistoryEvent,
): string {
  const name = proto.temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType);
  const fired = e.timerFiredEventAttributes;
  if (!fired) return name;
  // Event ids restart with each run: the nearest earlier one is in this run.
  const started = events
    .slice(0, events.indexOf(e))
    .reverse()
    .find((s) => String(s.eventId) === String(fired.startedEventId));
  const timeout = started?.timerStartedEventAttributes?.startToFireTimeout;
  const summary = started?.userMetadata?.summary?.data;
  const ms = Number(timeout?.seconds ?? 0) * 1000 + Math.round((timeout?.nanos ?? 0) / 1e6);
  return `${name} of a ${ms} ms timer${summary ? ` ${Buffer.from(summary).toString('utf8')}` : ''}`;
}

/**
 * Workflow-task trouble in the missions' histories, every run of each: timeouts by kind and
 * failures. Schedule-to-start timeouts are tasks the worker was too busy to pick up from its sticky
 * queue in time (they move to the shared queue); start-to-close ones ran too long. A continue-as-new
 * refused because something reached the run during its task shows as an UNHANDLED_COMMAND failure
 * in the run that continued.
 */
export async function taskTrouble(missions: readonly HeldMission[]): Promise<string> {
  const timedOut = new Map<string, number>();
  const failures = new Map<string, number>();
  let failed = 0;
  let continued = 0;
  for (const m of missions) {
    const events = (await historiesOfEveryRun(m.client, m.handle.workflowId)).flat();
    continued += events.filter((e) => e.workflowExecutionContinuedAsNewEventAttributes).length;
    for (const [i, e] of events.entries()) {
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
      const f = e.workflowTaskFailedEventAttributes;
      if (f) {
        failed++;
        const cause = WorkflowTaskFailedCause[f.cause ?? 0] ?? String(f.cause);
        // What reached the run during the refused task is the next event other than a new task.
        const arrived = events
          .slice(i + 1)
          .find((n) => !n.workflowTaskScheduledEventAttributes && !n.workflowTaskStartedEventAttributes);
        const after = arrived ? ` (then ${arrivedName(events, arrived)})` : '';
        const why = `${cause.replace('WORKFLOW_TASK_FAILED_CAUSE_', '')}: ${f.failure?.message ?? ''}${after}`;
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
    }
  }
  const total = [...timedOut.values()].reduce((a, b) => a + b, 0);
  const why = [...failures].map(([w, n]) => `\n  ${n} × ${w.slice(0, 300)}`).join('');
  return `workflow tasks over ${missions.length} missions (continued as new ${continued} times): ${total} timed out ${JSON.stringify(Object.fromEntries(timedOut))}, ${failed} failed${why}`;
}

/**
 * Why a send or a read failed, in a word: a refused proposal's failing guard, an HTTP status, or
 * the error's message cut short.
 */
function refusalOf(error: unknown): string {
  const guard = refusedOf(error)?.failing_guard;
  if (guard) return guard;
  return error instanceof Error ? error.message.slice(0, 80) : String(error).slice(0, 80);
}

/** A proposal the gateway refused: its failing guard, and for a stale one the HEAD it named. */
export class RefusedProposal extends Error {
  constructor(
    readonly failing_guard: string,
    readonly head?: string,
  ) {
    super(`refused by ${failing_guard}`);
  }
}

/** The mission's refusal of a proposal (through the `transition` Update or the gateway), if that is what failed. */
function refusedOf(error: unknown): { failing_guard: string; head?: string } | undefined {
  return error instanceof RefusedProposal ? error : rejectionOf(error);
}

/** Proposals sent again over `missions`: the count, then by why, and how many were a mission's first. */
export function retriesOf(missions: readonly HeldMission[]): string {
  const byWhy = new Map<string, number>();
  for (const m of missions) for (const [why, n] of m.retries) byWhy.set(why, (byWhy.get(why) ?? 0) + n);
  const total = [...byWhy.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return '0';
  const first = missions.reduce((sum, m) => sum + m.retriesAtFirst, 0);
  const why = [...byWhy].map(([w, n]) => `${w} ${n}`).join(', ');
  return `${total} (${why}; ${first} at a mission's first proposal)`;
}
