/**
 * Loading the SHHH policy file (schemas/policy.ts): shared by the worker's activities, which
 * evaluate it, and the gateway, which scans proposals with it before they reach a workflow.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { PolicyDocument, type PolicySnapshot } from '../schemas/policy';
import { hashCanonical } from './digest';

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

export async function loadPolicyFile(path: string): Promise<PolicySnapshot> {
  return parsePolicy(await readFile(path, 'utf8'), path);
}
