/** The process backend's own guarantees, driven through the JobRunner contract without Temporal. */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ProcessJobRunner } from '../../activities/jobs/process/runner';
import { JobNameConflictError } from '../../activities/jobs/runner';
import { AgentJobSpec, agentJobName } from '../../schemas/agent-job';
import { echoSpec } from './support/jobs';

let dataDir: string;
let runner: ProcessJobRunner;
const owner = { workflowId: 'wf-runner', seq: 0 };
const name = agentJobName(owner);
const never = new AbortController().signal;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'swoosh-process-runner-'));
  runner = new ProcessJobRunner({ dataDir, pollIntervalMs: 100, logLimitBytes: 64 * 1024 });
});

afterEach(async () => {
  for (const run of await runner.list()) await runner.delete(run.name);
  await rm(dataDir, { recursive: true, force: true });
});

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => ({ size: 0 }))).size;
}

test('output past the cap is dropped from the front: disk use stays under the cap and the end survives', async () => {
  await runner.spawn(name, AgentJobSpec.parse(echoSpec({ floodBytes: 1024 * 1024 })), owner);
  const finished = await runner.follow(name, { signal: never, onProgress: () => undefined });

  expect(finished.finish).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
  const dir = join(dataDir, 'agent-jobs', name);
  expect((await sizeOf(join(dir, 'log'))) + (await sizeOf(join(dir, 'log.0')))).toBeLessThanOrEqual(
    64 * 1024,
  );
  const logs = await runner.logs(name, 4096);
  expect(logs.truncated).toBe(true);
  expect(logs.tail).toMatch(/flood done\n.*finished exit=0\n\[swoosh\] run succeeded with exit code 0\n$/);
});

test('spawning again for the same owner finds the run; for another owner it is a conflict', async () => {
  const spec = AgentJobSpec.parse(echoSpec({ sleepMs: 30_000 }));
  expect(await runner.spawn(name, spec, owner)).toEqual({ created: true });
  expect(await runner.spawn(name, spec, owner)).toEqual({ created: false });
  await expect(runner.spawn(name, spec, { workflowId: 'wf-other', seq: 0 })).rejects.toBeInstanceOf(
    JobNameConflictError,
  );
  expect((await runner.list()).map((r) => r.name)).toEqual([name]);
});

test('a command that cannot be started fails the run with exit code 127 and says why in its log', async () => {
  await runner.spawn(name, AgentJobSpec.parse(echoSpec({}, { command: ['/nonexistent/agent'] })), owner);
  const finished = await runner.follow(name, { signal: never, onProgress: () => undefined });

  expect(finished.finish).toMatchObject({ outcome: 'failed', exitCode: 127, reason: 'StartError' });
  expect((await runner.logs(name, 4096)).tail).toContain(
    'could not start /nonexistent/agent: spawn /nonexistent/agent ENOENT',
  );
});

test("a run's state folder is private to the orchestrator: the launch plan holds the agent's environment", async () => {
  await runner.spawn(name, AgentJobSpec.parse(echoSpec({}, { env: { API_TOKEN: 'secret' } })), owner);
  const dir = join(dataDir, 'agent-jobs', name);
  expect((await stat(dir)).mode & 0o777).toBe(0o700);
  expect((await stat(join(dir, 'job.json'))).mode & 0o777).toBe(0o600);
});

test('following stops when its signal aborts, and the run goes on', async () => {
  await runner.spawn(name, AgentJobSpec.parse(echoSpec({ sleepMs: 30_000 })), owner);
  const abort = new AbortController();
  const following = runner.follow(name, {
    signal: abort.signal,
    onProgress: () => abort.abort(new Error('enough')),
  });

  await expect(following).rejects.toThrow('enough');
  expect((await runner.status(name))?.finish).toBeUndefined();
});

test('deleting a run that does not exist is not an error', async () => {
  await expect(runner.delete(agentJobName({ workflowId: 'nobody', seq: 0 }))).resolves.toBeUndefined();
});
