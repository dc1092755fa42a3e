import { runCli } from '../../../cli/swoosh';

/** Runs the `swoosh` CLI in-process with `env`, capturing its exit code and output lines. */
export async function captureCli(
  argv: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
