/**
 * Environment references (docs/agents.md#environment): resolved where the run is spawned, never
 * in the spec. The process backend reads Secret keys and files below its agent secrets folder;
 * the Kubernetes backend turns a Secret reference into a secretKeyRef the kubelet resolves, and
 * reads only file references itself. A reference that cannot be read starts nothing and the
 * error names the variable, not a value.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { EnvReferenceError } from '../../activities/jobs/env';
import { buildAgentJobManifest } from '../../activities/jobs/kubernetes/manifest';
import { ProcessJobRunner } from '../../activities/jobs/process/runner';
import { AgentJobSpec, agentJobName } from '../../schemas/agent-job';
import { echoSpec } from './support/jobs';
import { validateAgainstSchema } from './support/kubernetes-schema';

const owner = { workflowId: 'wf-env-references', seq: 0 };
const name = agentJobName(owner);
const never = new AbortController().signal;
const printEnv = [process.execPath, '-e', 'console.log(`token=${process.env.TOKEN} ca=${process.env.CA}`)'];
const envFrom = {
  TOKEN: { secret: { name: 'indexer-credentials', key: 'token' } },
  CA: { file: 'indexer/ca.pem' },
};

let dataDir: string;
let secretsDir: string;
let runner: ProcessJobRunner;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'swoosh-env-refs-'));
  secretsDir = join(dataDir, 'agent-secrets');
  runner = new ProcessJobRunner({ dataDir, pollIntervalMs: 100 });
});

afterEach(async () => {
  for (const run of await runner.list()) await runner.delete(run.name);
  await rm(dataDir, { recursive: true, force: true });
});

describe('the process backend', () => {
  test('reads a Secret key and a file below <data dir>/agent-secrets into the agent environment', async () => {
    await mkdir(join(secretsDir, 'indexer-credentials'), { recursive: true });
    await mkdir(join(secretsDir, 'indexer'), { recursive: true });
    await writeFile(join(secretsDir, 'indexer-credentials', 'token'), 's3cr3t-token');
    await writeFile(join(secretsDir, 'indexer', 'ca.pem'), 'PEM-BYTES');
    await runner.spawn(name, AgentJobSpec.parse(echoSpec({}, { command: printEnv, envFrom })), owner);
    const finished = await runner.follow(name, { signal: never, onProgress: () => undefined });

    expect(finished.finish).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect((await runner.logs(name, 4096)).tail).toContain('token=s3cr3t-token ca=PEM-BYTES');
  });

  test('a reference that cannot be read starts nothing, and the error names the variable and reference', async () => {
    const spawning = runner.spawn(
      name,
      AgentJobSpec.parse(echoSpec({}, { command: printEnv, envFrom })),
      owner,
    );
    await expect(spawning).rejects.toBeInstanceOf(EnvReferenceError);
    await expect(spawning).rejects.toThrow(/TOKEN: cannot read key token of Secret indexer-credentials/);
    expect(await runner.list()).toEqual([]);
    expect(await readdir(join(dataDir, 'agent-jobs')).catch(() => [])).toEqual([]);
  });
});

describe('the Kubernetes manifest', () => {
  test('a Secret reference is a secretKeyRef; a file reference carries the value the worker read', () => {
    const spec = AgentJobSpec.parse(echoSpec({}, { envFrom }));
    const manifest = buildAgentJobManifest({
      name,
      namespace: 'swoosh-agents',
      spec,
      owner,
      resolvedEnv: { CA: 'PEM-BYTES' },
    });
    const env = manifest.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === 'TOKEN')).toEqual({
      name: 'TOKEN',
      valueFrom: { secretKeyRef: { name: 'indexer-credentials', key: 'token' } },
    });
    expect(env.find((e) => e.name === 'CA')).toEqual({ name: 'CA', value: 'PEM-BYTES' });
    expect(env.filter((e) => e.name === 'TOKEN')).toHaveLength(1);
    expect(() => validateAgainstSchema(manifest)).not.toThrow();
  });
});
