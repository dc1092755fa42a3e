/**
 * Job runner configuration from the environment, parsed once at worker start so a typo fails
 * there and not at the first agent run.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig, type V1Job } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { resolveDataDir } from '../../host/data-dir';
import { KubernetesJobRunner } from './kubernetes/runner';
import { ProcessJobRunner } from './process/runner';
import type { JobRunner } from './runner';

export const JobRunnerConfig = z.object({
  /** `process` (default: agents run as local child processes) or `kubernetes`. */
  SWOOSH_JOB_RUNNER: z.enum(['process', 'kubernetes']).default('process'),
  /** Namespace the agent Jobs run in (kubernetes backend). */
  SWOOSH_AGENT_NAMESPACE: z.string().min(1).default('swoosh-agents'),
  /** Path of the agent Job template YAML (kubernetes backend); the k8s/ base mounts it. */
  SWOOSH_AGENT_JOB_TEMPLATE: z.string().min(1).optional(),
  /** Where agents' `envFrom` references are read (docs/agents.md#environment); default `<data dir>/agent-secrets`. */
  SWOOSH_AGENT_SECRETS_DIR: z.string().min(1).optional(),
  /** Bytes of agent output kept on disk per local run (process backend). */
  SWOOSH_JOB_LOG_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(8 * 1024 * 1024),
  /** How often the reaper Schedule runs, as a Temporal duration. */
  SWOOSH_JOB_REAPER_EVERY: z.string().min(1).default('10m'),
  /** Age after which the reaper deletes a finished run. */
  SWOOSH_JOB_REAPER_AGE_SECONDS: z.coerce.number().int().nonnegative().default(3600),
});
export type JobRunnerConfig = z.infer<typeof JobRunnerConfig>;

export function loadJobRunnerConfig(env: Record<string, string | undefined> = process.env): JobRunnerConfig {
  const parsed = JobRunnerConfig.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid job runner configuration: ${problems}`);
  }
  return parsed.data;
}

/**
 * The runner the configuration asks for. The kubernetes backend reads credentials the standard
 * way: KUBECONFIG or ~/.kube/config, else the pod's service account when running in a cluster.
 */
export async function createJobRunner(
  config: JobRunnerConfig,
  env: Record<string, string | undefined> = process.env,
): Promise<JobRunner> {
  const dataDir = resolveDataDir(env);
  const secretsDir = config.SWOOSH_AGENT_SECRETS_DIR ?? join(dataDir, 'agent-secrets');
  if (config.SWOOSH_JOB_RUNNER === 'process') {
    return new ProcessJobRunner({ dataDir, logLimitBytes: config.SWOOSH_JOB_LOG_LIMIT_BYTES, secretsDir });
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return new KubernetesJobRunner({
    kubeConfig,
    namespace: config.SWOOSH_AGENT_NAMESPACE,
    secretsDir,
    ...(config.SWOOSH_AGENT_JOB_TEMPLATE
      ? { template: await loadAgentJobTemplate(config.SWOOSH_AGENT_JOB_TEMPLATE) }
      : {}),
  });
}

/** Reads the agent Job template; anything but a batch/v1 Job is a configuration error. */
export async function loadAgentJobTemplate(path: string): Promise<V1Job> {
  const template = parseYaml(await readFile(path, 'utf8')) as V1Job | null;
  if (template?.apiVersion !== 'batch/v1' || template.kind !== 'Job' || !template.spec?.template.spec) {
    throw new Error(`${path} is not a batch/v1 Job with a pod template`);
  }
  return template;
}
