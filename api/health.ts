/**
 * GET /health with real values (schemas/health.ts, docs/api.md): Temporal answers, a worker polls
 * the task queue, the ledger's store would take an append (the folder takes a write, the database
 * answers), and for a sample of running missions the
 * workflow's HEAD and the ledger's last decision agree. Results are shared for a moment so a
 * burst of probes costs one check.
 */
import type { Client } from '@temporalio/client';
import proto, { type temporal } from '@temporalio/proto';
import type { LedgerFollower, LedgerReader } from '../ledger';
import type { Health } from '../schemas/health';
import { type MissionView, missionWorkflowId } from '../schemas/mission';
import { OWNER_CONTROL_TRANSITIONS } from '../schemas/owner-controls';
import { stateQuery } from '../schemas/mission-messages';
import { missionListQuery } from './missions';
import { firstLineOf } from './problem';
import { queryWorkflow } from './workflow-queries';

export interface HealthDeps {
  client: Client;
  taskQueue: string;
  /** The ledger the workers write (SWOOSH_STORE), read only. */
  ledger: LedgerReader;
}

/** A poller Temporal last heard from longer ago than this has stopped (polls last ≤ 70 s). */
const POLLER_FRESH_MS = 90_000;
const CHECK_DEADLINE_MS = 3_000;
/** Running missions compared per check. */
const SAMPLE = 20;
const CACHE_MS = 1_000;
const OWNER_TRANSITIONS = new Set<string>(Object.values(OWNER_CONTROL_TRANSITIONS));

type Check = { ok: boolean; detail: string };

/** What the check needs of one ledger: its statechart decisions and its newest decision's HLC. */
interface LedgerSummary {
  statechart: number;
  lastStatechartHash: string | undefined;
  lastHlc: string | null;
}

/**
 * Summaries of the ledgers the checks sample, brought up to date by reading only what was appended
 * since: a probe polling /health costs the new records, not every ledger again.
 */
class LedgerSummaries {
  readonly #entries = new Map<
    string,
    { tail: LedgerFollower; summary: LedgerSummary; reading: Promise<unknown> }
  >();

  constructor(private readonly ledger: LedgerReader) {}

  /**
   * The mission's ledger as of now, noted in `touched`. A copy: checks run concurrently, and one
   * must not see the ledger move under it after it read the workflow's HEAD.
   */
  async of(mission: string, touched: Set<string>): Promise<LedgerSummary> {
    touched.add(mission);
    let entry = this.#entries.get(mission);
    if (!entry) {
      const summary = { statechart: 0, lastStatechartHash: undefined, lastHlc: null };
      entry = { tail: this.ledger.tail(mission), summary, reading: Promise.resolve() };
      this.#entries.set(mission, entry);
    }
    const { tail, summary } = entry;
    // One read at a time per ledger; a failed read leaves the tail where it was, to be read again.
    const read = entry.reading
      .catch(() => undefined)
      .then(async () => {
        for (const record of await tail.next()) {
          if (record.kind !== 'decision') continue;
          summary.lastHlc = record.hlc;
          // Owner commands are ledger decisions outside the statechart: HEAD does not count them.
          if (OWNER_TRANSITIONS.has(record.transition)) continue;
          summary.statechart += 1;
          summary.lastStatechartHash = record.post_state_hash;
        }
        return { ...summary };
      });
    entry.reading = read;
    return read;
  }

  /** Forgets ledgers a finished check did not sample, so memory follows the sample size. */
  sweep(touched: Set<string>): void {
    for (const mission of this.#entries.keys()) if (!touched.has(mission)) this.#entries.delete(mission);
  }
}

export function healthChecker(deps: HealthDeps): () => Promise<Health> {
  let cached: { at: number; health: Promise<Health> } | undefined;
  const summaries = new LedgerSummaries(deps.ledger);
  return () => {
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.health;
    const health = checkHealth(deps, summaries);
    cached = { at: Date.now(), health };
    health.catch(() => (cached = undefined));
    return health;
  };
}

async function checkHealth(
  { client, taskQueue, ledger: store }: HealthDeps,
  summaries: LedgerSummaries,
): Promise<Health> {
  const within = <T>(call: () => Promise<T>) => client.withDeadline(Date.now() + CHECK_DEADLINE_MS, call);
  const touched = new Set<string>();
  const [temporalCheck, worker, ledger, lastSnapshotHLC, missions] = await Promise.all([
    checkTemporal(within, client),
    checkWorker(within, client, taskQueue),
    checkLedger(store),
    newestHlc(store, summaries, touched),
    checkMissions(within, client, taskQueue),
  ]);
  const agreement =
    temporalCheck.ok && worker.ok
      ? await compareMissions(within, client, taskQueue, summaries, touched)
      : undefined;
  summaries.sweep(touched);
  const status = !temporalCheck.ok
    ? 'unavailable'
    : worker.ok && ledger.ok && missions.ok
      ? 'ok'
      : 'degraded';
  return {
    status: agreement?.consensus === 'diverged' && status === 'ok' ? 'degraded' : status,
    consensus: agreement?.consensus ?? 'unknown',
    lastSnapshotHLC,
    walLag: agreement?.walLag ?? null,
    checks: { temporal: temporalCheck, worker, ledger, missions },
    sampledMissions: agreement?.sampled ?? 0,
    checkedAt: new Date().toISOString(),
  };
}

type Within = <T>(call: () => Promise<T>) => Promise<T>;

async function checkTemporal(within: Within, client: Client): Promise<Check> {
  try {
    const info = await within(() => client.workflowService.getSystemInfo({}));
    return { ok: true, detail: `server ${info.serverVersion || 'reachable'}` };
  } catch (error) {
    return { ok: false, detail: `unreachable: ${firstLineOf(error)}` };
  }
}

async function checkWorker(
  within: Within,
  client: Client,
  taskQueue: string,
): Promise<Check & { pollers: number }> {
  const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = proto.temporal.api.enums.v1.TaskQueueType;
  try {
    const fresh = async (type: temporal.api.enums.v1.TaskQueueType): Promise<number> => {
      const described = await within(() =>
        client.workflowService.describeTaskQueue({
          namespace: client.options.namespace,
          taskQueue: { name: taskQueue },
          taskQueueType: type,
        }),
      );
      const now = Date.now();
      return described.pollers.filter((p) => {
        const seconds = Number(p.lastAccessTime?.seconds ?? 0);
        return now - seconds * 1000 < POLLER_FRESH_MS;
      }).length;
    };
    const [workflowPollers, activityPollers] = await Promise.all([
      fresh(TASK_QUEUE_TYPE_WORKFLOW),
      fresh(TASK_QUEUE_TYPE_ACTIVITY),
    ]);
    const ok = workflowPollers > 0 && activityPollers > 0;
    return {
      ok,
      pollers: Math.min(workflowPollers, activityPollers),
      detail: `${workflowPollers} workflow and ${activityPollers} activity pollers on ${taskQueue}`,
    };
  } catch (error) {
    return { ok: false, pollers: 0, detail: `task queue not described: ${firstLineOf(error)}` };
  }
}

/** Missions listed per question; enough to act on, bounded so a probe stays cheap. */
const MISSION_PAGE = 20;

/**
 * Missions that cannot make progress: running ones whose workflow task keeps failing (Temporal
 * flags them in the `TemporalReportedProblems` search attribute; the newest running missions are
 * also described directly, for servers that do not set it), and missions that failed in the last
 * day. Failing tasks degrade health; failed missions are listed, since a mission refusing its
 * own input is the mission's outcome, not the system's.
 */
async function checkMissions(
  within: Within,
  client: Client,
  taskQueue: string,
): Promise<Health['checks']['missions']> {
  const base = missionListQuery(taskQueue, {});
  const list = async (query: string): Promise<string[]> => {
    const response = await within(() =>
      client.workflowService.listWorkflowExecutions({
        namespace: client.options.namespace,
        query,
        pageSize: MISSION_PAGE,
      }),
    );
    return response.executions.map((e) => (e.execution?.workflowId ?? '').replace(/^mission-/, ''));
  };
  const failing = new Set<string>();
  try {
    for (const id of await list(
      `${base} AND ExecutionStatus = 'Running' AND TemporalReportedProblems IS NOT NULL`,
    ))
      failing.add(id);
  } catch {
    // Servers before task-problem reporting refuse the attribute: the describes below still see.
  }
  let failedRecently: string[] = [];
  try {
    const running = await list(`${base} AND ExecutionStatus = 'Running'`);
    await Promise.all(
      running.map(async (id) => {
        const described = await within(() =>
          client.workflowService.describeWorkflowExecution({
            namespace: client.options.namespace,
            execution: { workflowId: missionWorkflowId(id) },
          }),
        ).catch(() => undefined);
        if ((described?.pendingWorkflowTask?.attempt ?? 0) >= 2) failing.add(id);
      }),
    );
    const since = new Date(Date.now() - 24 * 3600_000).toISOString();
    failedRecently = await list(`${base} AND ExecutionStatus = 'Failed' AND CloseTime > '${since}'`);
  } catch (error) {
    return {
      ok: false,
      detail: `missions not listed: ${firstLineOf(error)}`,
      failingTasks: [...failing].sort(),
      failedRecently,
    };
  }
  const failingTasks = [...failing].sort();
  const parts = [
    failingTasks.length === 0
      ? 'no running mission has a failing workflow task'
      : `${failingTasks.length} running mission(s) with a failing workflow task: GET /missions/<id> says why`,
    `${failedRecently.length} mission(s) failed in the last 24 h`,
  ];
  return { ok: failingTasks.length === 0, detail: parts.join('; '), failingTasks, failedRecently };
}

/** The store would take an append now: the folder takes a synced write, the database answers. */
async function checkLedger(ledger: LedgerReader): Promise<Check> {
  try {
    return { ok: true, detail: await ledger.probe() };
  } catch (error) {
    return { ok: false, detail: `not writable: ${firstLineOf(error)}` };
  }
}

/** The HLC of the newest decision in the most recently written ledger. */
async function newestHlc(
  ledger: LedgerReader,
  summaries: LedgerSummaries,
  touched: Set<string>,
): Promise<string | null> {
  try {
    const mission = await ledger.lastWritten();
    return mission === undefined ? null : (await summaries.of(mission, touched)).lastHlc;
  } catch {
    return null;
  }
}

/**
 * Compares HEAD with the ledger for the newest running missions. The ledger is read before the
 * workflow is asked, so a transition landing in between can only make the ledger look behind
 * (lagging), never ahead (diverged).
 */
async function compareMissions(
  within: Within,
  client: Client,
  taskQueue: string,
  summaries: LedgerSummaries,
  touched: Set<string>,
): Promise<{ consensus: Health['consensus']; walLag: number; sampled: number } | undefined> {
  let ids: string[];
  try {
    const response = await within(() =>
      client.workflowService.listWorkflowExecutions({
        namespace: client.options.namespace,
        query: `${missionListQuery(taskQueue, {})} AND ExecutionStatus = 'Running'`,
        pageSize: SAMPLE,
      }),
    );
    ids = response.executions.map((e) => (e.execution?.workflowId ?? '').replace(/^mission-/, ''));
  } catch {
    return undefined;
  }
  const results = await Promise.all(
    ids.map(async (id) => {
      try {
        const ledger = await summaries.of(id, touched);
        const view: MissionView = await within(() =>
          queryWorkflow(() => client.workflow.getHandle(missionWorkflowId(id)).query(stateQuery)),
        );
        const head = (view.state as { head?: { seq?: number } } | undefined)?.head?.seq;
        if (head === undefined || view.hash === undefined) return undefined;
        const diverged =
          ledger.statechart > head ||
          (ledger.statechart === head && head > 0 && ledger.lastStatechartHash !== view.hash);
        return { lag: Math.max(0, head - ledger.statechart), diverged };
      } catch {
        return undefined;
      }
    }),
  );
  const compared = results.filter((r) => r !== undefined);
  if (compared.length === 0)
    return { consensus: ids.length === 0 ? 'agreed' : 'unknown', walLag: 0, sampled: 0 };
  const walLag = compared.reduce((sum, r) => sum + r.lag, 0);
  const consensus = compared.some((r) => r.diverged) ? 'diverged' : walLag > 0 ? 'lagging' : 'agreed';
  return { consensus, walLag, sampled: compared.length };
}
