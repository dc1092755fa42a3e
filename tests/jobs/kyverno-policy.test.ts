/**
 * k8s/'s Kyverno ClusterPolicy, checked by Kyverno itself: the CLI the toolchain builds from Go
 * modules (temporal-dev/kyverno.ts) runs `kyverno test` and `kyverno apply` on the pods SWOOSH
 * deploys and on the pods of the agent Jobs it creates. Those pass; the same pods without what
 * the policy requires are refused, each by the rule that says why.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1ConfigMap, V1Deployment, V1Job, V1PodTemplateSpec } from '@kubernetes/client-node';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildAgentJobManifest } from '../../activities/jobs/kubernetes/manifest';
import { AgentJobSpec, agentJobName } from '../../schemas/agent-job';
import { ensureKyverno } from '../../temporal-dev/kyverno';
import { echoSpec } from './support/jobs';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const POLICY = 'swoosh-require-workload-identity';
const ORCHESTRATOR_RULE = 'orchestrator-pods-have-workload-identity';
const AGENT_RULE = 'agent-pods-have-workload-identity';

interface Rendered {
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: V1PodTemplateSpec['spec'];
}

function render(dir: string): Rendered[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { cwd: repo, encoding: 'utf8' });
  if (result.error) throw new Error(`could not run kubectl (needed to render k8s/): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS() as Rendered);
}

function find<T>(objects: Rendered[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name.startsWith(name));
  if (!found) throw new Error(`k8s/overlays/dev renders no ${kind} ${name}`);
  return found as T;
}

/** The pod a controller makes from a template: its labels, annotations and spec, under a name of ours. */
function podOf(name: string, namespace: string, template: V1PodTemplateSpec): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      ...(template.metadata?.labels && { labels: template.metadata.labels }),
      ...(template.metadata?.annotations && { annotations: template.metadata.annotations }),
    },
    spec: template.spec,
  };
}

function renamed(pod: Pod, name: string): Pod {
  const copy = structuredClone(pod);
  copy.metadata.name = name;
  return copy;
}

function without(pod: Pod, name: string, annotation: string): Pod {
  const copy = renamed(pod, name);
  delete copy.metadata.annotations?.[annotation];
  return copy;
}

let kyverno: string;
let work: string;
let objects: Rendered[];
const pods = new Map<string, Pod>();

/** Runs the CLI in the work folder; its output without colours or other terminal escapes. */
function kyvernoRun(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(kyverno, args, { cwd: work, encoding: 'utf8' });
  if (result.error) throw new Error(`could not run ${kyverno}: ${result.error.message}`);
  // eslint-disable-next-line no-control-regex -- the escapes are what is removed
  const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');
  return { status: result.status, stdout: plain(result.stdout), stderr: plain(result.stderr) };
}

beforeAll(async () => {
  kyverno = await ensureKyverno();
  work = mkdtempSync(join(tmpdir(), 'swoosh-kyverno-'));
  objects = render('k8s/overlays/dev');

  const policy = find<Rendered>(objects, 'ClusterPolicy', POLICY);
  writeFileSync(join(work, 'policy.yaml'), stringify(policy));

  for (const name of ['swoosh-worker', 'swoosh-gateway', 'temporal-dev']) {
    const deployment = find<V1Deployment & Rendered>(objects, 'Deployment', name);
    pods.set(name, podOf(name, deployment.metadata.namespace!, deployment.spec!.template));
  }
  const configMap = find<V1ConfigMap>(objects, 'ConfigMap', 'swoosh-agent-job-template');
  const owner = { workflowId: 'agent-job-kyverno', seq: 0 };
  const job = buildAgentJobManifest({
    name: agentJobName(owner),
    namespace: 'swoosh-agents',
    spec: AgentJobSpec.parse(echoSpec({})),
    owner,
    template: parseYaml(configMap.data?.['agent-job-template.yaml'] ?? '') as V1Job,
  });
  pods.set('agent', podOf('agent', job.metadata!.namespace!, job.spec!.template));

  const worker = pods.get('swoosh-worker')!;
  const agent = pods.get('agent')!;
  pods.set(
    'worker-without-identity',
    without(worker, 'worker-without-identity', 'swoosh.io/workload-identity'),
  );
  const otherAccount = renamed(worker, 'worker-other-account');
  otherAccount.spec = { ...otherAccount.spec!, serviceAccountName: 'default' };
  pods.set('worker-other-account', otherAccount);
  pods.set('agent-without-identity', without(agent, 'agent-without-identity', 'swoosh.io/workload-identity'));
  pods.set('agent-without-refs', without(agent, 'agent-without-refs', 'swoosh.io/infrastructure-refs'));
  for (const [name, pod] of pods) writeFileSync(join(work, `${name}.yaml`), stringify(pod));
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe(`the Kyverno CLI on k8s/'s ${POLICY}`, () => {
  test('is the pinned build', () => {
    const version = kyvernoRun(['version']);
    expect(version.status).toBe(0);
    expect(version.stdout).toContain('Version: v1.19.1');
  });

  test('`kyverno test`: deployed pods pass, pods missing an identity, refs or the account fail', () => {
    const expected = [
      { rule: ORCHESTRATOR_RULE, resources: ['swoosh-worker', 'swoosh-gateway'], result: 'pass' },
      {
        rule: ORCHESTRATOR_RULE,
        resources: ['worker-without-identity', 'worker-other-account'],
        result: 'fail',
      },
      { rule: AGENT_RULE, resources: ['agent'], result: 'pass' },
      { rule: AGENT_RULE, resources: ['agent-without-identity', 'agent-without-refs'], result: 'fail' },
    ];
    writeFileSync(
      join(work, 'kyverno-test.yaml'),
      stringify({
        apiVersion: 'cli.kyverno.io/v1alpha1',
        kind: 'Test',
        metadata: { name: 'swoosh-workload-identity' },
        policies: ['policy.yaml'],
        resources: [...pods.keys()].filter((name) => name !== 'temporal-dev').map((name) => `${name}.yaml`),
        results: expected.map((e) => ({ policy: POLICY, kind: 'Pod', ...e })),
      }),
    );
    const result = kyvernoRun(['test', '.']);
    expect(result.stdout).toContain('Test Summary: 7 tests passed and 0 tests failed');
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  test('a refused agent pod: `kyverno apply` exits 1 naming the rule and its message', () => {
    const result = kyvernoRun(['apply', 'policy.yaml', '--resource', 'agent-without-refs.yaml']);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(
      `policy ${POLICY} -> resource swoosh-agents/Pod/agent-without-refs failed`,
    );
    expect(result.stdout).toContain(`${AGENT_RULE} validation error: SWOOSH agent pods need`);
    expect(result.stdout).toContain('pass: 0, fail: 1');
  });

  test('pods the policy does not select (the Temporal dev server) are neither passed nor failed', () => {
    const result = kyvernoRun(['apply', 'policy.yaml', '--resource', 'temporal-dev.yaml']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('pass: 0, fail: 0');
  });
});
