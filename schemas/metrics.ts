/**
 * The metrics contract (docs/design.md#observability): every `swoosh_*` metric's exported name, kind, labels, help text
 * and histogram buckets. Workflow helpers, activity helpers, the gateway, the worker's Prometheus
 * exporter (bucket overrides) and the Grafana dashboard all read this one table, so a name cannot
 * drift between the code that emits it and the panel that plots it.
 *
 * Names are the exact Prometheus names: the worker's exporter runs with no metric prefix and no
 * `_total`/unit suffixing (see workers/telemetry.ts), so counters carry `_total` here already and
 * histograms their unit. Temporal adds its context labels to workflow and activity metrics
 * (`namespace`, `taskQueue`, and `workflowType` or `activityType`); the labels listed here are the
 * ones SWOOSH sets. The gateway exports the `swoosh_http_*` metrics and `swoosh_wal_lag_records`
 * on its own `/metrics`; everything else comes from the worker.
 */

export type MetricKind = 'counter' | 'histogram' | 'gauge';

export interface MetricSpec {
  readonly name: string;
  readonly kind: MetricKind;
  readonly labels: readonly string[];
  readonly help: string;
  /** The process whose `/metrics` serves it. */
  readonly exportedBy: 'worker' | 'gateway';
  /** Upper bounds of histogram buckets, ascending; only for histograms. */
  readonly buckets?: readonly number[];
}

/** Sub-second to a minute: a transition's guards, reduce, hash and decision record. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;
/** Seconds to an hour: recoveries and agent Jobs are human-scale. */
const LONG_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600] as const;
/** Around the ±250 ms p95 timer jitter target (docs/design.md#timers), so the target sits on a bucket edge. */
const LATENESS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export const METRICS = {
  transitionTotal: {
    name: 'swoosh_transition_total',
    kind: 'counter',
    exportedBy: 'worker',
    labels: ['transition'],
    help: 'Accepted statechart transitions, by transition name.',
  },
  guardFailTotal: {
    name: 'swoosh_guard_fail_total',
    kind: 'counter',
    exportedBy: 'worker',
    labels: ['guard'],
    help: 'Rejected transition proposals, by the guard (or protocol stage) that failed first.',
  },
  stateAdvanceLatency: {
    name: 'swoosh_state_advance_latency_seconds',
    kind: 'histogram',
    exportedBy: 'worker',
    labels: ['region'],
    help: 'Workflow time from a transition request to its recorded decision, by region.',
    buckets: LATENCY_BUCKETS,
  },
  retryCount: {
    name: 'swoosh_retry_count',
    kind: 'counter',
    exportedBy: 'worker',
    labels: ['transition'],
    help: 'Retries spent before a transition was accepted (resubmissions and retried steps), by transition.',
  },
  quarantineTotal: {
    name: 'swoosh_quarantine_total',
    kind: 'counter',
    exportedBy: 'worker',
    labels: [],
    help: 'Transitions into QUARANTINED.',
  },
  invariantViolationTotal: {
    name: 'swoosh_invariant_violation_total',
    kind: 'counter',
    exportedBy: 'worker',
    labels: ['invariant'],
    // Never expected to move: the core promises its invariants, so any increase is a bug to page on.
    help: 'Accepted transitions after which the invariant checker found a violation, by invariant.',
  },
  recoveryTime: {
    name: 'swoosh_recovery_time_seconds',
    kind: 'histogram',
    exportedBy: 'worker',
    labels: [],
    help: 'Workflow time a mission spent in RECOVERY before it resumed.',
    buckets: LONG_BUCKETS,
  },
  walLag: {
    name: 'swoosh_wal_lag_records',
    kind: 'gauge',
    exportedBy: 'gateway',
    labels: [],
    // Set by the gateway from its /health sampling (api/health.ts), which compares each sampled
    // mission's HEAD with the ledger; a per-workflow gauge on the worker would let missions
    // overwrite each other's value.
    help: 'Accepted transitions of the sampled missions whose decision records are not yet in the ledger.',
  },
  timerLateness: {
    name: 'swoosh_timer_lateness_seconds',
    kind: 'histogram',
    exportedBy: 'worker',
    labels: ['action'],
    help: 'How late a durable timer fired after its due time, by action kind.',
    buckets: LATENESS_BUCKETS,
  },
  agentJobDuration: {
    name: 'swoosh_agent_job_duration_seconds',
    kind: 'histogram',
    exportedBy: 'worker',
    labels: ['outcome'],
    help: 'Run time of agent Jobs from start to finish, by outcome (schemas/decision-record.ts AgentOutcome).',
    buckets: LONG_BUCKETS,
  },
  agentJobTotal: {
    name: 'swoosh_agent_job_total',
    kind: 'counter',
    exportedBy: 'worker',
    labels: ['outcome'],
    help: 'Finished agent Jobs, by outcome.',
  },
  httpRequestTotal: {
    name: 'swoosh_http_requests_total',
    kind: 'counter',
    exportedBy: 'gateway',
    labels: ['method', 'route', 'status'],
    help: 'Gateway HTTP requests, by method, route pattern and status code.',
  },
  httpRequestDuration: {
    name: 'swoosh_http_request_duration_seconds',
    kind: 'histogram',
    exportedBy: 'gateway',
    labels: ['method', 'route'],
    help: 'Gateway HTTP request duration, by method and route pattern.',
    buckets: HTTP_BUCKETS,
  },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;
export type MetricName = (typeof METRICS)[MetricKey]['name'];

/** Every exported `swoosh_*` name; the dashboard test holds PromQL to these. */
export const METRIC_NAMES: readonly MetricName[] = Object.values(METRICS).map((m) => m.name);

/**
 * Bucket bounds per histogram name, in the shape Temporal's Prometheus exporter takes
 * (`histogramBucketOverrides`); without it Core would use its millisecond defaults.
 */
export function histogramBucketOverrides(): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const m of Object.values(METRICS) as readonly MetricSpec[]) {
    if (m.buckets) out[m.name] = [...m.buckets];
  }
  return out;
}
