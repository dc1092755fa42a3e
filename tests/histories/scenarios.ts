/** Scenarios whose histories are recorded as replay fixtures; each returns the history it made. */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { startMission } from '../../api/missions';
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
];
