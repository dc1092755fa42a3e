/**
 * Recorded-fixture scenarios for the workflow types beside the mission: a timer shard, an agent
 * run, a reaper pass and an agent report. Each is small and ends on its own or is terminated at a
 * fixed point, so it records the same events on a dev server every time.
 */
import type { AgentReport } from '../../schemas/a2a';
import { createTimersUpdate, TIMER_SHARD_WORKFLOW_TYPE, timerQuery } from '../../schemas/timer-messages';
import { shardWorkflowId } from '../../schemas/timer-shard-key';
import { echoSpec } from '../jobs/support/jobs';
import { eventually } from '../support/temporal';
import type { Scenario } from './scenarios';

/** Where the shard's signal goes: no workflow by this id ever runs, so the signal fails. */
const ABSENT_TARGET = 'fixture-target-absent';

export const otherWorkflowScenarios: Scenario[] = [
  {
    // One shard, one signal timer created by an operator: armed, fired, the signal to a workflow
    // that does not exist fails, and with one attempt allowed the timer is dead-lettered by an
    // activity. The shard lives forever, so it is terminated once the dead letter is written.
    name: 'timer-shard-signal-dead-letter',
    async run(client, taskQueue, id) {
      const idPrefix = `fixture-shard-${id}`;
      const workflowId = shardWorkflowId(idPrefix, 0);
      const handle = await client.workflow.start(TIMER_SHARD_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [
          {
            shard: 0,
            shardCount: 1,
            idPrefix,
            settings: {
              timerTargets: [
                { kind: 'signal', name: 'wake', workflowIdPrefix: 'fixture-target-', roles: ['operator'] },
              ],
            },
          },
        ],
      });
      await handle.executeUpdate(createTimersUpdate, {
        args: [
          {
            specs: [
              {
                id: 'fixture-wake',
                delayMs: 200,
                action: { type: 'signal', workflowId: ABSENT_TARGET, signalName: 'wake' },
                retry: { maxAttempts: 1 },
              },
            ],
            createdBy: { name: 'fixture-operator', role: 'operator' },
          },
        ],
      });
      const settled = await eventually(
        () => handle.query(timerQuery, 'fixture-wake'),
        (t) => t?.state === 'DeadLettered',
        30_000,
      );
      if (settled?.state !== 'DeadLettered')
        throw new Error(`recording stalled: timer is ${JSON.stringify(settled)}`);
      // The dead-letter activity may still be completing: wait for the shard to be idle again.
      await eventually(
        async () => (await handle.describe()).raw.pendingActivities?.length ?? 0,
        (n) => n === 0,
        30_000,
      );
      await handle.terminate('fixture recorded');
      return handle.fetchHistory();
    },
  },
  {
    // The echo agent as a local process: run, succeed, delete.
    name: 'agent-job-echo-succeeds',
    async run(client, taskQueue, id) {
      const handle = await client.workflow.start('agentJobWorkflow', {
        workflowId: `fixture-agent-job-${id}`,
        taskQueue,
        args: [echoSpec({ sleepMs: 50 })],
      });
      await handle.result();
      return handle.fetchHistory();
    },
  },
  {
    // One pass over a runner with nothing to reap.
    name: 'job-reaper-pass',
    async run(client, taskQueue, id) {
      const handle = await client.workflow.start('jobReaperWorkflow', {
        workflowId: `fixture-job-reaper-${id}`,
        taskQueue,
        args: [{ olderThanSeconds: 0 }],
      });
      await handle.result();
      return handle.fetchHistory();
    },
  },
  {
    // A spawned-agent lifecycle event, recorded in the mission's ledger.
    name: 'agent-report-lifecycle',
    async run(client, taskQueue, id) {
      const report: AgentReport = {
        kind: 'lifecycle',
        event: {
          agentId: 'reviewer-1',
          missionId: id,
          lifecycle: 'spawned',
          capabilityProfile: { role: 'reviewer', capabilities: ['read'] },
          energyBudget: { tokens: 1000 },
          timestamp: '2026-11-23T10:00:00.000Z',
          jobId: 'fixture-job-1',
        },
      };
      const handle = await client.workflow.start('agentReportWorkflow', {
        workflowId: `fixture-agent-report-${id}`,
        taskQueue,
        args: [report],
      });
      await handle.result();
      return handle.fetchHistory();
    },
  },
];
