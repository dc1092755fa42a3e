/**
 * The Grafana dashboard under k8s/grafana loads in Grafana's dashboard schema and plots only the
 * metrics the code exports: every PromQL target names metrics from schemas/metrics.ts, in the
 * form their kind allows, and every contract metric is on some panel.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRICS, type MetricSpec } from '../../schemas/metrics';
import { DashboardSchema, type Dashboard, type RowPanel } from './support/grafana-schema';

type PanelLike = Dashboard['panels'][number];

const raw: unknown = JSON.parse(
  readFileSync(new URL('../../k8s/grafana/swoosh-dashboard.json', import.meta.url), 'utf8'),
);

const KEYWORDS = new Set([
  ...['sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'group'],
  ...['count_values', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset'],
  ...['and', 'or', 'unless', 'inf', 'nan'],
]);
const HISTOGRAM_SERIES = ['_bucket', '_sum', '_count'] as const;
const specs = Object.values(METRICS) as readonly MetricSpec[];

/**
 * The metric names a PromQL expression selects: identifiers left after removing template
 * variables, strings, label matchers, range/offset durations, grouping label lists, numbers,
 * keywords and function names (identifiers followed by `(`).
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const after = stripped.slice(match.index + name.length);
    if (KEYWORDS.has(name.toLowerCase()) || /^\s*\(/.test(after)) continue;
    names.push(name);
  }
  return names;
}

/** Why a series name is not something the worker or gateway exports, or null if it is. */
function problemWith(series: string): string | null {
  const direct = specs.find((m) => m.name === series);
  if (direct)
    return direct.kind === 'histogram' ? `${series} is a histogram: use _bucket, _sum or _count` : null;
  const suffix = HISTOGRAM_SERIES.find((s) => series.endsWith(s));
  const base = suffix ? specs.find((m) => m.name === series.slice(0, -suffix.length)) : undefined;
  if (base?.kind === 'histogram') return null;
  return `${series} is not a metric of schemas/metrics.ts`;
}

/** The contract metric a series belongs to (a histogram's `_bucket` series belongs to the histogram). */
function metricOf(series: string): string {
  if (specs.some((m) => m.name === series)) return series;
  const suffix = HISTOGRAM_SERIES.find((s) => series.endsWith(s));
  return suffix ? series.slice(0, -suffix.length) : series;
}

function targetsOf(dashboard: Dashboard): { panel: string; refId: string; expr: string }[] {
  const panels: PanelLike[] = dashboard.panels.flatMap((p) =>
    p.type === 'row' ? [p, ...(p as RowPanel).panels] : [p],
  );
  return panels.flatMap((p) =>
    'targets' in p && p.targets
      ? p.targets.map((t) => ({ panel: p.title ?? String(p.id), refId: t.refId, expr: String(t.expr) }))
      : [],
  );
}

describe('the Grafana dashboard', () => {
  const dashboard = DashboardSchema.parse(raw);

  it("matches Grafana's dashboard schema", () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
  });

  it('has unique panel ids, unique refIds per panel and no overlapping panels', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      if ('targets' in p && p.targets) {
        const refIds = p.targets.map((t) => t.refId);
        expect(new Set(refIds).size, p.title).toBe(refIds.length);
      }
    }
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  it('queries Prometheus through its datasource variable', () => {
    const variable = dashboard.templating?.list?.find((v) => v.type === 'datasource');
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const p of dashboard.panels) {
      if (p.type !== 'row')
        expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('uses only metric names from schemas/metrics.ts, in the form their kind allows', () => {
    const targets = targetsOf(dashboard);
    expect(targets.length).toBeGreaterThan(0);
    for (const t of targets) {
      const names = metricNamesIn(t.expr);
      expect(names.length, `${t.panel}/${t.refId} selects no metric`).toBeGreaterThan(0);
      for (const name of names) expect(problemWith(name), `${t.panel}/${t.refId}: ${t.expr}`).toBeNull();
    }
  });

  it('plots every metric of the contract', () => {
    const used = new Set(targetsOf(dashboard).flatMap((t) => metricNamesIn(t.expr).map(metricOf)));
    expect(specs.map((m) => m.name).filter((n) => !used.has(n))).toEqual([]);
  });
});

describe('the dashboard checks themselves', () => {
  it('find every metric name in a PromQL expression and nothing else', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, region) (rate(swoosh_state_advance_latency_seconds_bucket{region=~"$r"}[$__rate_interval]))) / on (x) group_left up',
      ),
    ).toEqual(['swoosh_state_advance_latency_seconds_bucket', 'up']);
  });

  it('reject unknown metrics and bare histograms', () => {
    expect(problemWith('swoosh_transitions_total')).toMatch(/not a metric/);
    expect(problemWith('swoosh_recovery_time_seconds')).toMatch(/is a histogram/);
    expect(problemWith('swoosh_transition_total_bucket')).toMatch(/not a metric/);
    expect(problemWith('swoosh_recovery_time_seconds_count')).toBeNull();
  });

  it('reject a dashboard Grafana would refuse', () => {
    const broken = structuredClone(raw) as { panels: { gridPos: { w: number }; type?: string }[] };
    broken.panels[1]!.gridPos.w = 25;
    expect(DashboardSchema.safeParse(broken).success).toBe(false);
    const untyped = structuredClone(raw) as { panels: { type?: string }[] };
    delete untyped.panels[1]!.type;
    expect(DashboardSchema.safeParse(untyped).success).toBe(false);
  });
});
