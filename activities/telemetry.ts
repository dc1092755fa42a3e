/**
 * Metrics recorded from activities (docs/design.md#observability) through the activity context's `metricMeter`, which
 * Temporal tags with the activity and workflow type and exports on the worker's `/metrics`.
 * Activities never replay, so nothing here can double-count.
 */
import { Context } from '@temporalio/activity';
import type { AgentOutcome } from '../schemas/decision-record';
import { METRICS } from '../schemas/metrics';

/** Records one finished agent Job: its outcome and its run time. Call from the activity that followed it. */
export function recordAgentJob(outcome: AgentOutcome, durationMs: number): void {
  const meter = Context.current().metricMeter;
  meter.createCounter(METRICS.agentJobTotal.name, undefined, METRICS.agentJobTotal.help).add(1, { outcome });
  meter
    .createHistogram(METRICS.agentJobDuration.name, 'float', undefined, METRICS.agentJobDuration.help)
    .record(Math.max(0, durationMs) / 1000, { outcome });
}
