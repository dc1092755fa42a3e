/**
 * A worker in a process of its own, so a test can SIGKILL it mid-flight and start another: `script`
 * runs under tsx with `env` added to the test's environment and prints `ready` once it polls. The
 * process joins `started` at once, so a test stops it even if it never gets ready.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export async function startWorkerProcess(
  script: string,
  env: NodeJS.ProcessEnv,
  started: ChildProcess[],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
  });
  return child;
}

/** Sends `signal` and waits for the exit; a process already gone is left alone. */
export async function stopWorkerProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}
