import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { describe, expect, test } from 'vitest';
import { bundlerOptions, workflowsPath } from '../workers/worker';

const historiesDir = new URL('./histories/', import.meta.url);
const changedWorkflowsPath = fileURLToPath(new URL('./workflows/mission-changed.ts', import.meta.url));
const changedV2WorkflowsPath = fileURLToPath(new URL('./workflows/mission-v2-changed.ts', import.meta.url));
const fixtures = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
const statechartFixtures = fixtures.filter((f) => f.startsWith('mission-statechart'));

describe('recorded histories replay against the current workflow code', () => {
  test('there are recorded histories to replay', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  test.each(fixtures)('%s replays without a non-determinism error', async (file) => {
    await expect(
      Worker.runReplayHistory({ workflowsPath, bundlerOptions }, load(file), file),
    ).resolves.toBeUndefined();
  });

  test('an unversioned change to missionWorkflow fails replay with a determinism error', async () => {
    const file = 'mission-boot-to-license-check.json';
    await expect(
      Worker.runReplayHistory({ workflowsPath: changedWorkflowsPath }, load(file), file),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });

  test('there is a recorded statechart mission to replay', () => {
    expect(statechartFixtures.length).toBeGreaterThan(0);
  });

  test.each(statechartFixtures)(
    '%s fails replay against an unversioned change to the statechart mission',
    async (file) => {
      await expect(
        Worker.runReplayHistory({ workflowsPath: changedV2WorkflowsPath, bundlerOptions }, load(file), file),
      ).rejects.toBeInstanceOf(DeterminismViolationError);
    },
  );
});

function load(file: string): ReturnType<typeof historyFromJSON> {
  return historyFromJSON(JSON.parse(readFileSync(new URL(file, historiesDir), 'utf8')));
}
