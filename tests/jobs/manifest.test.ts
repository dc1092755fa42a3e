/**
 * The agent Job manifest against the real Kubernetes schema for batch/v1 Job (validators
 * generated from the Kubernetes OpenAPI spec, shipped by the `kubernetes-models` package), and
 * the guarantees of docs/design.md#agents.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { agentEnvironment } from '../../activities/jobs/contract';
import { loadAgentJobTemplate } from '../../activities/jobs/config';
import {
  agentSelectorLabels,
  buildAgentJobManifest,
  labelValue,
} from '../../activities/jobs/kubernetes/manifest';
import { AgentJobSpec, agentJobName } from '../../schemas/agent-job';
import { asSentByClient, validateAgainstSchema } from './support/kubernetes-schema';

const templatePath = fileURLToPath(new URL('../../k8s/base/agent-job-template.yaml', import.meta.url));
const owner = { workflowId: 'agent-job-mission-7-reviewer-1', seq: 0 };
const name = agentJobName(owner);

function spec(overrides: Partial<AgentJobSpec> = {}): AgentJobSpec {
  return AgentJobSpec.parse({
    mission: '6f1c2a4e-8d3b-4b8e-9a51-3c2f7d9e0a11',
    region: 'execution',
    windowId: 'backbeat:W-2026-11-23-09',
    agentId: 'reviewer-1',
    capabilityProfile: { role: 'reviewer', capabilities: ['read', 'comment'], model: 'small' },
    energyBudget: { tokens: 100_000, wallClockSeconds: 600 },
    image: 'registry.example.org/swoosh/reviewer:1.4.2',
    command: ['/app/agent'],
    args: ['--review'],
    env: { LOG_LEVEL: 'info' },
    inputs: { pr: 42, paths: ['src/'] },
    timeouts: { activeDeadlineSeconds: 900, terminationGraceSeconds: 20 },
    resources: { limits: { cpu: '500m', memory: '512Mi' }, requests: { cpu: '250m', memory: '256Mi' } },
    backoffLimit: 1,
    ttlSecondsAfterFinished: 7200,
    workloadIdentity: 'spiffe://cluster.local/ns/swoosh-agents/sa/reviewer',
    infrastructureRefs: ['ucxl://swoosh:mission-7@environment/Provision/3'],
    labels: { team: 'docs' },
    annotations: { 'example.org/ticket': 'DOC-12' },
    ...overrides,
  });
}

describe('the agent Job manifest', () => {
  test('validates against the Kubernetes batch/v1 Job schema and has no field the API does not define', async () => {
    const template = await loadAgentJobTemplate(templatePath);
    for (const manifest of [
      buildAgentJobManifest({ name, namespace: 'swoosh-agents', spec: spec(), owner }),
      buildAgentJobManifest({ name, namespace: 'swoosh-agents', spec: spec(), owner, template }),
    ]) {
      expect(() => validateAgainstSchema(manifest)).not.toThrow();
      expect(asSentByClient(manifest)).toEqual(JSON.parse(JSON.stringify(manifest)));
    }
  });

  test('the schema checks can fail: a wrong type, a missing field and an unknown field are each caught', () => {
    const manifest = buildAgentJobManifest({ name, namespace: 'swoosh-agents', spec: spec(), owner });
    const wrongType = structuredClone(manifest) as unknown as { spec: { backoffLimit: unknown } };
    wrongType.spec.backoffLimit = 'twice';
    expect(() => validateAgainstSchema(wrongType as never)).toThrow(/backoffLimit must be integer/);

    const noName = structuredClone(manifest);
    delete (noName.spec!.template.spec!.containers[0] as { name?: string }).name;
    expect(() => validateAgainstSchema(noName)).toThrow(/containers\/0 must have required property name/);

    const unknown = structuredClone(manifest) as unknown as { spec: Record<string, unknown> };
    unknown.spec.activeDeadline = 60;
    expect(asSentByClient(unknown as never)).not.toEqual(JSON.parse(JSON.stringify(unknown)));
  });

  test('carries the run: deadline, retries, TTL, resources, image, command and the agent contract', () => {
    const s = spec();
    const manifest = buildAgentJobManifest({ name, namespace: 'swoosh-agents', spec: s, owner });
    expect(manifest.metadata).toMatchObject({ name, namespace: 'swoosh-agents' });
    expect(manifest.spec).toMatchObject({
      activeDeadlineSeconds: 900,
      backoffLimit: 1,
      ttlSecondsAfterFinished: 7200,
      completions: 1,
      parallelism: 1,
    });
    const pod = manifest.spec!.template.spec!;
    expect(pod.terminationGracePeriodSeconds).toBe(20);
    expect(pod.containers).toHaveLength(1);
    const [agent] = pod.containers;
    expect(agent).toMatchObject({
      name: 'agent',
      image: 'registry.example.org/swoosh/reviewer:1.4.2',
      command: ['/app/agent'],
      args: ['--review'],
      resources: { limits: { cpu: '500m', memory: '512Mi' }, requests: { cpu: '250m', memory: '256Mi' } },
    });
    // The same contract the process backend gives, with the container's folders.
    const env = Object.fromEntries((agent?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toEqual(agentEnvironment(s, name, { workdir: '/work', tmpdir: '/tmp' }));
    expect(env.SWOOSH_INPUTS).toBe('{"pr":42,"paths":["src/"]}');
  });

  test('labels tie the Job to mission, region and window; annotations carry identity, infrastructure and owner', () => {
    const manifest = buildAgentJobManifest({ name, namespace: 'swoosh-agents', spec: spec(), owner });
    expect(manifest.metadata?.labels).toMatchObject({
      ...agentSelectorLabels,
      'swoosh.io/mission': '6f1c2a4e-8d3b-4b8e-9a51-3c2f7d9e0a11',
      'swoosh.io/region': 'execution',
      'swoosh.io/window': 'backbeat-W-2026-11-23-09',
      'swoosh.io/agent': 'reviewer-1',
      team: 'docs',
    });
    expect(manifest.metadata?.annotations).toMatchObject({
      'swoosh.io/window-id': 'backbeat:W-2026-11-23-09',
      'swoosh.io/workflow-id': owner.workflowId,
      'swoosh.io/owner-seq': '0',
      'swoosh.io/workload-identity': 'spiffe://cluster.local/ns/swoosh-agents/sa/reviewer',
      'swoosh.io/infrastructure-refs': '["ucxl://swoosh:mission-7@environment/Provision/3"]',
      'swoosh.io/capability-profile': '{"role":"reviewer","capabilities":["read","comment"],"model":"small"}',
      'example.org/ticket': 'DOC-12',
    });
    // Pods carry what the Kyverno policy checks on them.
    expect(manifest.spec?.template.metadata?.annotations).toMatchObject({
      'swoosh.io/workload-identity': 'spiffe://cluster.local/ns/swoosh-agents/sa/reviewer',
      'swoosh.io/infrastructure-refs': '["ucxl://swoosh:mission-7@environment/Provision/3"]',
    });
    expect(manifest.spec?.template.metadata?.labels).toEqual(manifest.metadata?.labels);
  });

  test('runs as non-root, unprivileged, read-only, without an API token, and never restarts in place', () => {
    const pod = buildAgentJobManifest({ name, namespace: 'swoosh-agents', spec: spec(), owner }).spec!
      .template.spec!;
    expect(pod).toMatchObject({ restartPolicy: 'Never', automountServiceAccountToken: false });
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers[0]?.securityContext).toEqual({
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.containers[0]?.volumeMounts?.map((m) => m.mountPath)).toEqual(['/work', '/tmp']);
  });

  test("the template's cluster settings pass through; it cannot make the agent root or restart it in place", async () => {
    const template = await loadAgentJobTemplate(templatePath);
    const loosened = structuredClone(template);
    const basePod = loosened.spec!.template.spec!;
    basePod.restartPolicy = 'OnFailure';
    basePod.nodeSelector = { pool: 'agents' };
    basePod.securityContext = { ...basePod.securityContext, runAsUser: 0, runAsNonRoot: false };
    basePod.containers[0]!.securityContext = { privileged: true, allowPrivilegeEscalation: true };

    const manifest = buildAgentJobManifest({
      name,
      namespace: 'swoosh-agents',
      spec: spec(),
      owner,
      template: loosened,
    });
    const pod = manifest.spec!.template.spec!;

    expect(pod).toMatchObject({ serviceAccountName: 'swoosh-agent', nodeSelector: { pool: 'agents' } });
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBeUndefined();
    expect(pod.containers[0]?.securityContext).toMatchObject({
      privileged: false,
      allowPrivilegeEscalation: false,
    });
    expect(() => validateAgainstSchema(manifest)).not.toThrow();
  });

  test("without its own identity a run takes the template's, and the template itself is left as it was", async () => {
    const template = await loadAgentJobTemplate(templatePath);
    const before = structuredClone(template);
    const manifest = buildAgentJobManifest({
      name,
      namespace: 'swoosh-agents',
      spec: spec({ workloadIdentity: undefined }),
      owner,
      template,
    });
    expect(manifest.spec?.template.metadata?.annotations?.['swoosh.io/workload-identity']).toBe(
      'spiffe://cluster.local/ns/swoosh-agents/sa/swoosh-agent',
    );
    expect(template).toEqual(before);
  });

  test('is a pure function of its input', () => {
    const input = { name, namespace: 'swoosh-agents', spec: spec(), owner };
    expect(buildAgentJobManifest(input)).toEqual(buildAgentJobManifest(structuredClone(input)));
  });

  test('any ids a spec accepts give a valid manifest with valid label values (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,80}$/),
        (windowId, agentId, mission) => {
          const manifest = buildAgentJobManifest({
            name,
            namespace: 'swoosh-agents',
            spec: spec({ windowId, agentId, mission }),
            owner,
          });
          validateAgainstSchema(manifest);
          for (const value of Object.values(manifest.metadata?.labels ?? {})) {
            expect(value).toMatch(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/);
            expect(value.length).toBeLessThanOrEqual(63);
          }
          expect(manifest.metadata?.annotations?.['swoosh.io/window-id']).toBe(windowId);
        },
      ),
      { numRuns: 200 },
    );
    expect(labelValue('::')).toBe('');
  });
});
