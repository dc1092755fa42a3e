/**
 * Activity proxies for the mission, with timeouts and retry policies that fit each call, and a
 * one-line summary per call so the Web UI's event history reads as the mission's progress.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { SwooshActivities } from '../../activities';

const SHORT: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
};
const IO: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8 },
};

/** Activities of one kind of call, labelled for the Web UI. */
export function short(summary: string): SwooshActivities {
  return proxyActivities<SwooshActivities>({ ...SHORT, summary });
}

export function io(summary: string): SwooshActivities {
  return proxyActivities<SwooshActivities>({ ...IO, summary });
}

/** The ledger append: retried until it lands (it is idempotent), never given up on. */
export function ledger(summary: string): SwooshActivities {
  return proxyActivities<SwooshActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: ['InvalidLedgerEntry'] },
    summary,
  });
}
