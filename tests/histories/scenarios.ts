/** Scenarios whose histories are recorded as replay fixtures; each returns the history it made. */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { startMission } from '../../api/missions';
import { missionWorkflowId } from '../../schemas/mission';
import { stateQuery } from '../../workflows/definitions';
import { eventually } from '../support/temporal';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

export interface Scenario {
  name: string;
  run(client: Client, taskQueue: string, missionId: string): Promise<History>;
}

export const scenarios: Scenario[] = [
  {
    name: 'mission-boot-to-license-check',
    async run(client, taskQueue, missionId) {
      const { workflowId } = await startMission(client, taskQueue, {
        id: missionId,
        objective: 'Recorded fixture: boot to licence check',
        priority: 'P2',
        originatingSpec: 'https://specs.example.org/fixture',
        createdAt: '2026-11-23T09:00:00.000Z',
      });
      const handle = client.workflow.getHandle(workflowId);
      await eventually(
        () => handle.query(stateQuery),
        (v) => v.phase === 'LICENSE_CHECK',
      );
      return handle.fetchHistory();
    },
  },
  {
    // The statechart mission end to end on its own: orchestrator-only council, auto-approval, a
    // 4-second BACKBEAT bar, continue-as-new after every beat. The fixture is the first run:
    // BOOT, the three regions, beat 1 and the continue-as-new.
    name: 'mission-statechart-first-run',
    async run(client, taskQueue, missionId) {
      const workflowId = missionWorkflowId(missionId);
      const handle = await client.workflow.start('missionWorkflow', {
        workflowId,
        taskQueue,
        args: [
          {
            id: missionId,
            objective: 'Recorded fixture: statechart lifecycle',
            priority: 'P1',
            originatingSpec: 'https://specs.example.org/fixture',
            createdAt: '2026-11-23T09:00:00.000Z',
          },
          {
            config: {
              autoApprove: true,
              maxBeats: 2,
              continueAsNewEveryBeats: 1,
              schedule: {
                name: 'backbeat',
                tempoBpm: 600,
                barBeats: 40,
                phases: { PLAN: 0.2, WORK: 0.5, REVIEW: 0.2, REVERB: 0.1 },
                amplitude: 0.25,
                backoffBaseMs: 200,
                backoffMaxMs: 2_000,
              },
            },
          },
        ],
      });
      await handle.result();
      return client.workflow.getHandle(workflowId, handle.firstExecutionRunId).fetchHistory();
    },
  },
];
