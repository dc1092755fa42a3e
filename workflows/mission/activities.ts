/**
 * Activity proxies for the mission, with timeouts and retry policies that fit each call, and a
 * one-line summary per call so the Web UI's event history reads as the mission's progress.
 * Start-to-close timeouts come from the mission's latency budgets (owner controls), so an owner can
 * change them for future calls without a deploy.
 */
import {
  patched,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { SwooshActivities } from '../../activities';
import { DEFAULT_LATENCY_BUDGETS, type LatencyBudgets } from '../../schemas/owner-controls';

const SHORT_RETRY: ActivityOptions['retry'] = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 10,
};
const IO_RETRY: ActivityOptions['retry'] = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 8,
};

/** Quick bookkeeping calls (identity, signing, evidence, deprovision). */
export function short(summary: string, budgets: LatencyBudgets = DEFAULT_LATENCY_BUDGETS): SwooshActivities {
  return proxyActivities<SwooshActivities>({
    startToCloseTimeout: `${budgets.short}s`,
    retry: SHORT_RETRY,
    summary,
  });
}

/** Calls that touch files or services; they heartbeat, at most every 30 s. */
export function io(summary: string, budgets: LatencyBudgets = DEFAULT_LATENCY_BUDGETS): SwooshActivities {
  return proxyActivities<SwooshActivities>({
    startToCloseTimeout: `${budgets.io}s`,
    heartbeatTimeout: `${Math.min(30, budgets.io)}s`,
    retry: IO_RETRY,
    summary,
  });
}

const LEDGER: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: ['InvalidLedgerEntry'] },
};

/** The ledger append: retried until it lands (it is idempotent), never given up on. */
export function ledger(summary: string): SwooshActivities {
  return proxyActivities<SwooshActivities>({ ...LEDGER, summary });
}

/**
 * The patch that moved the calls on every transition's path — the ledger append and the policy
 * scan of an outside proposal — to local activities: they run in the worker inside the workflow
 * task that needs them, which saves two server round trips per call. Both are short and safe to
 * repeat (the append is idempotent by record id, the scan is read-only), so running one again
 * after a lost workflow task gives the same result; retries, timeouts and durability (the result
 * is a marker in history) stay as before.
 */
export const LOCAL_ACTIVITIES_PATCH = 'swoosh-local-activities-v1';

/** Local retries back off on a timer once an attempt would wait longer than this. */
const LOCAL_RETRY_THRESHOLD = '10s';

/**
 * The ledger append as a local activity (see LOCAL_ACTIVITIES_PATCH); owner commands are
 * recorded through it too.
 */
export function localLedger(summary: string): SwooshActivities {
  return proxyLocalActivities<SwooshActivities>({
    ...(LEDGER as LocalActivityOptions),
    localRetryThreshold: LOCAL_RETRY_THRESHOLD,
    summary,
  });
}

/**
 * The patch that moved the ledger append back to an ordinary activity (docs/lifecycle.md#the-ledger-append).
 * A local activity runs inside the workflow task, before that task is durable: a worker killed
 * after the append and before the task completed left a decision in the ledger that history never
 * held, and the retried task could give that seq to another proposal, whose append then failed
 * for good (the chaos harness found both). An ordinary activity is scheduled by a completed task,
 * so the ledger only ever records what history holds.
 */
export const DURABLE_APPEND_PATCH = 'swoosh-durable-ledger-append-v1';

/** Where a statechart decision is appended, by the patches the run was recorded under. */
export function decisionLedger(summary: string): SwooshActivities {
  if (patched(DURABLE_APPEND_PATCH)) return ledger(summary);
  return patched(LOCAL_ACTIVITIES_PATCH) ? localLedger(summary) : ledger(summary);
}

/** Where an owner record is appended: owner records were local activities until DURABLE_APPEND_PATCH. */
export function ownerLedger(summary: string): SwooshActivities {
  return patched(DURABLE_APPEND_PATCH) ? ledger(summary) : localLedger(summary);
}

/** A read-only I/O check as a local activity (see LOCAL_ACTIVITIES_PATCH). */
export function localIo(
  summary: string,
  budgets: LatencyBudgets = DEFAULT_LATENCY_BUDGETS,
): SwooshActivities {
  return proxyLocalActivities<SwooshActivities>({
    startToCloseTimeout: `${budgets.io}s`,
    retry: IO_RETRY,
    localRetryThreshold: LOCAL_RETRY_THRESHOLD,
    summary,
  });
}
