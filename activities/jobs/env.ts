/**
 * Resolves a run's environment references (docs/agents.md#environment) where the run is spawned,
 * on the activity side: the workflow, its history and the ledger only ever see the reference. A
 * value read here goes into the agent's environment and nowhere else; errors name the variable
 * and the reference, never a value.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentEnvReference } from '../../schemas/agent-job';

/** A reference that could not be read; the run is not started. */
export class EnvReferenceError extends Error {
  constructor(
    readonly variable: string,
    readonly reference: AgentEnvReference,
    why: string,
  ) {
    super(`environment variable ${variable}: cannot read ${describe(reference)} (${why})`);
    this.name = 'EnvReferenceError';
  }
}

function describe(reference: AgentEnvReference): string {
  return 'secret' in reference
    ? `key ${reference.secret.key} of Secret ${reference.secret.name}`
    : `file ${reference.file}`;
}

/**
 * Where a reference is read on this host: a Secret key at `<secretsDir>/<name>/<key>` (the layout
 * of a Secret mounted as a volume), a file at `<secretsDir>/<file>`. The schema keeps both below
 * `secretsDir` (no absolute paths, no `..`).
 */
export function referencePath(secretsDir: string, reference: AgentEnvReference): string {
  return 'secret' in reference
    ? join(secretsDir, reference.secret.name, reference.secret.key)
    : join(secretsDir, reference.file);
}

/** Reads the references `which` selects, exactly as stored (no trimming, as Kubernetes does). */
export async function readEnvReferences(
  envFrom: Record<string, AgentEnvReference>,
  secretsDir: string,
  which: (reference: AgentEnvReference) => boolean = () => true,
): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const [variable, reference] of Object.entries(envFrom)) {
    if (!which(reference)) continue;
    try {
      values[variable] = await readFile(referencePath(secretsDir, reference), 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new EnvReferenceError(variable, reference, code);
    }
  }
  return values;
}
