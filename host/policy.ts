/**
 * Loading the SHHH policy file (schemas/policy.ts): shared by the worker's activities, which
 * evaluate it, and the gateway, which scans proposals with it before they reach a workflow.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { PolicyDocument, type PolicySnapshot } from '../schemas/policy';
import { hashCanonical } from './digest';
import { deepFreeze } from '../schemas/canonical-json';

/** Parses and validates a policy document; the hash covers its meaning, not its formatting. */
export function parsePolicy(yamlText: string, origin: string): PolicySnapshot {
  let raw: unknown;
  try {
    raw = parseYaml(yamlText) as unknown;
  } catch (error) {
    throw new Error(`policy ${origin} is not valid YAML: ${(error as Error).message}`);
  }
  const parsed = PolicyDocument.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new Error(`policy ${origin} is invalid: ${problems}`);
  }
  return { version: parsed.data.version, hash: hashCanonical(parsed.data), document: parsed.data };
}

/** The last text read from each policy file and its snapshot, the newest last. */
const lastRead = new Map<string, { text: string; snapshot: PolicySnapshot }>();
const LAST_READ_MAX = 16;

/**
 * The policy file's snapshot as it is now. The file is read on every call, so an edit applies to
 * the next request; parsing it (YAML, validation, hash) is what costs, and it is done again only
 * when the text changed. The gateway loads the policy for every proposal, and parsing it was the
 * largest part of a `POST /transition`'s time in the gateway (docs/workers.md). The snapshot is
 * shared by every caller, so it is frozen.
 */
export async function loadPolicyFile(path: string): Promise<PolicySnapshot> {
  const text = await readFile(path, 'utf8');
  const last = lastRead.get(path);
  if (last !== undefined && last.text === text) return last.snapshot;
  const snapshot = deepFreeze(parsePolicy(text, path));
  lastRead.delete(path);
  lastRead.set(path, { text, snapshot });
  if (lastRead.size > LAST_READ_MAX) lastRead.delete(lastRead.keys().next().value!);
  return snapshot;
}
