/**
 * What every example agent does around its work (docs/agents.md#the-example-agents): parse its
 * inputs from SWOOSH_INPUTS, write its result to SWOOSH_WORKDIR and as one JSON line on stdout
 * (the line the orchestrator stores as the task's evidence), and exit 2 on bad inputs.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';

type Env = Record<string, string | undefined>;

/** Inputs the agent cannot work from: its exit code is 2, not 1, so a caller tells them from a crash. */
export class AgentInputError extends Error {}

export function readInputs<T extends z.ZodType>(schema: T, env: Env = process.env): z.output<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(env.SWOOSH_INPUTS ?? '{}');
  } catch (error) {
    throw new AgentInputError(`SWOOSH_INPUTS is not JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new AgentInputError(`SWOOSH_INPUTS: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The agent's result: `<SWOOSH_WORKDIR>/<file>` when the run has a work folder, and stdout always. */
export async function writeResult(file: string, value: unknown, env: Env = process.env): Promise<void> {
  const line = `${JSON.stringify(value)}\n`;
  const workdir = env.SWOOSH_WORKDIR;
  if (workdir) await writeFile(join(workdir, file), line);
  process.stdout.write(line);
}

/** Runs an agent's main, turning its failure into a message on stderr and an exit code. */
export function runAgent(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof AgentInputError ? 2 : 1;
  });
}
