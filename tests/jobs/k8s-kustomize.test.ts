/**
 * k8s/ renders with `kubectl kustomize`, every built-in object in it validates against the
 * Kubernetes schema, and the rendered manifests keep the promises of docs/design.md#agents: a Role limited
 * to the agent namespace and workload identity on the orchestrator. Kyverno checks its own policy
 * on these pods in tests/jobs/kyverno-policy.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  V1ConfigMap,
  V1Deployment,
  V1Job,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildAgentJobManifest } from '../../activities/jobs/kubernetes/manifest';
import { ensureKeyFile, loadSigner } from '../../host/keys';
import { AgentJobSpec, agentJobName } from '../../schemas/agent-job';
import { echoSpec } from './support/jobs';
import { asSentByClient, isBuiltInKind, validateAgainstSchema } from './support/kubernetes-schema';

const repo = fileURLToPath(new URL('../..', import.meta.url));

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

function render(dir: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { cwd: repo, encoding: 'utf8' });
  if (result.error) throw new Error(`could not run kubectl (needed to render k8s/): ${result.error.message}`);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS() as K8sObject);
}

function one<T extends K8sObject>(objects: K8sObject[], kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.startsWith(name));
  expect(found, `${kind} ${name}`).toHaveLength(1);
  return found[0] as T;
}

describe('kubectl kustomize k8s/overlays/dev', () => {
  let objects: K8sObject[];

  beforeAll(() => {
    const which = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
    if (which.status !== 0)
      throw new Error('kubectl is not on PATH: these tests render k8s/ with `kubectl kustomize`');
    objects = render('k8s/overlays/dev');
  });

  test('renders, and every built-in object validates against the Kubernetes schema with no unknown field', () => {
    // Generated ConfigMaps carry a content hash suffix; the name before it is what is fixed.
    const kinds = objects
      .map(
        (o) =>
          `${o.kind}/${o.kind === 'ConfigMap' ? o.metadata.name.replace(/-[a-z0-9]{10}$/, '') : o.metadata.name}`,
      )
      .sort();
    expect(kinds).toEqual(
      [
        'ClusterPolicy/swoosh-require-workload-identity',
        'ConfigMap/swoosh-agent-job-template',
        'Deployment/swoosh-gateway',
        'Deployment/swoosh-worker',
        'Deployment/temporal-dev',
        'Namespace/swoosh-agents',
        'Namespace/swoosh-system',
        'PersistentVolumeClaim/swoosh-data',
        'Role/swoosh-orchestrator',
        'RoleBinding/swoosh-orchestrator',
        'Service/swoosh-gateway',
        'Service/temporal-dev',
        'ServiceAccount/swoosh-agent',
        'ServiceAccount/swoosh-orchestrator',
      ].sort(),
    );
    for (const object of objects.filter(isBuiltInKind)) {
      expect(() => validateAgainstSchema(object), `${object.kind}/${object.metadata.name}`).not.toThrow();
      expect(asSentByClient(object), `${object.kind}/${object.metadata.name}`).toEqual(object);
    }
  });

  test("the orchestrator's RBAC is one namespaced Role over jobs, pods and pods/log in the agent namespace", () => {
    expect(objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
    const role = one<K8sObject & V1Role>(objects, 'Role', 'swoosh-orchestrator');
    expect(role.metadata.namespace).toBe('swoosh-agents');
    const grants = (role.rules ?? []).flatMap((r) =>
      (r.resources ?? []).map((resource) => `${r.apiGroups?.join('')}/${resource}: ${r.verbs.join(',')}`),
    );
    expect(grants.sort()).toEqual([
      '/pods/log: get',
      '/pods: get,list',
      'batch/jobs: create,get,list,watch,patch,delete',
    ]);

    const binding = one<K8sObject & V1RoleBinding>(objects, 'RoleBinding', 'swoosh-orchestrator');
    expect(binding.metadata.namespace).toBe('swoosh-agents');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'swoosh-orchestrator',
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'swoosh-orchestrator', namespace: 'swoosh-system' },
    ]);
  });

  test('the orchestrator runs as a ServiceAccount with a workload identity, and so do its pods', () => {
    const account = one<K8sObject & V1ServiceAccount>(objects, 'ServiceAccount', 'swoosh-orchestrator');
    expect(account.metadata.annotations?.['swoosh.io/workload-identity']).toMatch(/^spiffe:\/\//);
    for (const name of ['swoosh-worker', 'swoosh-gateway']) {
      const pod = one<K8sObject & V1Deployment>(objects, 'Deployment', name).spec!.template;
      expect(pod.spec?.serviceAccountName).toBe('swoosh-orchestrator');
      expect(pod.metadata?.annotations?.['swoosh.io/workload-identity']).toBe(
        account.metadata.annotations?.['swoosh.io/workload-identity'],
      );
    }
  });

  test('agent Jobs built from the rendered template validate against the schema', () => {
    const configMap = one<K8sObject & V1ConfigMap>(objects, 'ConfigMap', 'swoosh-agent-job-template');
    const template = parseYaml(configMap.data?.['agent-job-template.yaml'] ?? '') as V1Job;
    const role = one<K8sObject & V1Role>(objects, 'Role', 'swoosh-orchestrator');
    const owner = { workflowId: 'agent-job-k8s', seq: 0 };
    const manifest = buildAgentJobManifest({
      name: agentJobName(owner),
      namespace: role.metadata.namespace!,
      spec: AgentJobSpec.parse(echoSpec({})),
      owner,
      template,
    });
    // Whether Kyverno admits their pods: tests/jobs/kyverno-policy.test.ts.
    expect(() => validateAgainstSchema(manifest)).not.toThrow();
    expect(manifest.spec?.template.spec?.serviceAccountName).toBe('swoosh-agent');
  });

  test('the worker is wired to the kubernetes backend, the agent namespace and the mounted template', () => {
    const worker = one<K8sObject & V1Deployment>(objects, 'Deployment', 'swoosh-worker').spec!.template.spec!;
    const env = Object.fromEntries((worker.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      SWOOSH_JOB_RUNNER: 'kubernetes',
      SWOOSH_AGENT_NAMESPACE: 'swoosh-agents',
      SWOOSH_TEMPORAL_ADDRESS: 'temporal-dev.swoosh-system.svc:7233',
      // Without it the worker, given no licence settings, would refuse to start.
      SWOOSH_DEV_LICENCE: 'true',
    });
    const mount = worker.containers[0]?.volumeMounts?.find((m) => m.name === 'agent-job-template');
    expect(env.SWOOSH_AGENT_JOB_TEMPLATE).toBe(`${mount?.mountPath}/agent-job-template.yaml`);
    const volume = worker.volumes?.find((v) => v.name === 'agent-job-template');
    const configMap = one<K8sObject & V1ConfigMap>(objects, 'ConfigMap', 'swoosh-agent-job-template');
    expect(volume?.configMap?.name).toBe(configMap.metadata.name);
    expect(configMap.metadata.namespace).toBe('swoosh-system');
  });

  test('the orchestrator key reaches the worker only: a Secret its init container copies to memory at 0400', async () => {
    const worker = one<K8sObject & V1Deployment>(objects, 'Deployment', 'swoosh-worker').spec!.template.spec!;
    const gateway = one<K8sObject & V1Deployment>(objects, 'Deployment', 'swoosh-gateway').spec!.template
      .spec!;
    const secret = worker.volumes?.find((v) => v.secret?.secretName === 'swoosh-orchestrator-key');
    const copy = worker.volumes?.find((v) => v.emptyDir?.medium === 'Memory');
    expect(secret && copy).toBeTruthy();
    // The manifests never contain the key itself.
    expect(objects.some((o) => o.kind === 'Secret' && o.metadata.name === 'swoosh-orchestrator-key')).toBe(
      false,
    );

    const env = Object.fromEntries((worker.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    const keyFile = env.SWOOSH_ORCHESTRATOR_KEY_FILE!;
    const keyMount = worker.containers[0]?.volumeMounts?.find((m) => m.name === copy!.name);
    expect(keyFile.startsWith(`${keyMount?.mountPath}/`)).toBe(true);
    expect(keyMount?.readOnly).toBe(true);
    expect(keyFile.startsWith(env.SWOOSH_DATA_DIR!)).toBe(false);

    // The gateway shares the data volume but has neither the Secret nor the copy.
    const gatewayEnv = (gateway.containers[0]?.env ?? []).map((e) => e.name);
    expect(gatewayEnv).not.toContain('SWOOSH_ORCHESTRATOR_KEY_FILE');
    expect(gateway.volumes?.some((v) => v.secret?.secretName === 'swoosh-orchestrator-key')).toBe(false);
    expect(gateway.volumes?.some((v) => v.name === copy!.name)).toBe(false);

    // The init container's script, run against folders of our own: a group-readable key file (as
    // a Secret volume serves it) becomes a 0400 copy that loadSigner accepts.
    const init = worker.initContainers?.find((c) => c.volumeMounts?.some((m) => m.name === secret!.name));
    const from = init!.volumeMounts!.find((m) => m.name === secret!.name)!.mountPath;
    const to = init!.volumeMounts!.find((m) => m.name === copy!.name)!.mountPath;
    const dir = mkdtempSync(join(tmpdir(), 'swoosh-key-copy-'));
    const [secretDir, copyDir] = [join(dir, 'secret'), join(dir, 'copy')];
    mkdirSync(copyDir);
    const made = await ensureKeyFile(join(secretDir, 'orchestrator.key.json'), 'orchestrator');
    chmodSync(join(secretDir, 'orchestrator.key.json'), 0o440);
    await expect(loadSigner(join(secretDir, 'orchestrator.key.json'), 'orchestrator')).rejects.toThrow(
      /accessible by others/,
    );
    const script = init!.command!.at(-1)!.replaceAll(from, secretDir).replaceAll(to, copyDir);
    expect(init!.command!.slice(0, 2)).toEqual(['node', '-e']);
    execFileSync(process.execPath, ['-e', script]);
    const copied = join(copyDir, keyFile.slice(keyMount!.mountPath.length + 1));
    expect(statSync(copied).mode & 0o777).toBe(0o400);
    expect((await loadSigner(copied, 'orchestrator')).keyId).toBe(made.keyId);
  });
});

describe('kubectl kustomize k8s/overlays/prod', () => {
  let objects: K8sObject[];

  beforeAll(() => {
    objects = render('k8s/overlays/prod');
  });

  test('renders without a Temporal of its own, and every built-in object validates against the schema', () => {
    expect(objects.filter((o) => o.metadata.name.startsWith('temporal'))).toEqual([]);
    for (const object of objects.filter(isBuiltInKind)) {
      expect(() => validateAgainstSchema(object), `${object.kind}/${object.metadata.name}`).not.toThrow();
      expect(asSentByClient(object), `${object.kind}/${object.metadata.name}`).toEqual(object);
    }
  });

  test.each([
    ['swoosh-worker', 'worker'],
    ['swoosh-gateway', 'gateway'],
  ])(
    '%s runs several replicas on PostgreSQL, its URL from a Secret, and the existing Temporal frontend',
    (name, container) => {
      const deployment = one<K8sObject & V1Deployment>(objects, 'Deployment', name);
      expect(deployment.spec!.replicas).toBeGreaterThan(1);
      const env = deployment.spec!.template.spec!.containers.find((c) => c.name === container)!.env!;
      const byName = (n: string) => env.filter((e) => e.name === n);
      // Production never issues itself a development licence.
      expect(byName('SWOOSH_DEV_LICENCE')).toEqual([]);
      expect(byName('SWOOSH_STORE')).toEqual([{ name: 'SWOOSH_STORE', value: 'postgres' }]);
      // Never a literal value: the URL holds the database password.
      expect(byName('SWOOSH_DATABASE_URL')).toEqual([
        {
          name: 'SWOOSH_DATABASE_URL',
          valueFrom: { secretKeyRef: { name: 'swoosh-database', key: 'url' } },
        },
      ]);
      expect(byName('SWOOSH_TEMPORAL_ADDRESS')).toEqual([
        { name: 'SWOOSH_TEMPORAL_ADDRESS', value: 'temporal-frontend.temporal.svc:7233' },
      ]);
    },
  );
});

test('the base renders on its own too', () => {
  const text = execFileSync('kubectl', ['kustomize', 'k8s/base'], { cwd: repo, encoding: 'utf8' });
  expect(parseAllDocuments(text).length).toBeGreaterThan(5);
});
