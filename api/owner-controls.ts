/**
 * Owner controls over every running mission of this deployment (AGI-Jobs style): pause all,
 * resume all, reroute future agent work, change latency budgets. Each is one command id sent as
 * the `ownerControl` signal to every mission a visibility query finds; the mission applies a
 * command id once and records it in its decision ledger with the owner's name as actor
 * (schemas/owner-controls.ts). The gateway signs each command with its own key, which every mission
 * it started accepts (api/owner-signing.ts). A retried request may pass the same `commandId` to stay
 * idempotent.
 */
import { randomUUID } from 'node:crypto';
import { type Client, ServiceError, WorkflowNotFoundError } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { z } from 'zod';
import {
  OwnerBatchIncomplete,
  OwnerBatchResult,
  OwnerLatencyRequest,
  OwnerPauseRequest,
  OwnerRerouteRequest,
} from '../schemas/api';
import { OwnerCommandId, type OwnerControlCommand } from '../schemas/owner-controls';
import { ownerControlSignal } from '../schemas/mission-messages';
import { missionListQuery } from './missions';
import type { OwnerCommandSigning } from './owner-signing';
import { firstLineOf, sendProblem } from './problem';
import type { ApiRegistry } from './routes';

export interface OwnerControlDeps {
  client: Client;
  taskQueue: string;
  logError: (context: string, error: unknown) => void;
  signing: OwnerCommandSigning;
}

/** Signals in flight at once: enough to be quick, few enough not to flood the frontend. */
const FAN_OUT = 16;

const WithCommandId = { commandId: OwnerCommandId.optional() };

type Command = OwnerControlCommand extends infer C
  ? C extends unknown
    ? Omit<C, 'id' | 'actor'>
    : never
  : never;

export function mountOwnerControls(
  api: ApiRegistry,
  { client, taskQueue, logError, signing }: OwnerControlDeps,
): void {
  const runningQuery = `${missionListQuery(taskQueue, {})} AND ExecutionStatus = 'Running'`;

  async function broadcast(
    command: Command,
    actor: string,
    commandId: string | undefined,
  ): Promise<OwnerBatchResult> {
    const id = commandId ?? `owner-${randomUUID()}`;
    // One signature for the whole batch (mission_id null): the command is the same for every mission.
    const signed = await signing.sign({ ...command, id, actor }, null);
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query: runningQuery })) ids.push(wf.workflowId);
    const signalled: string[] = [];
    const skipped: string[] = [];
    const failed: OwnerBatchResult['failed'] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const workflowId = ids[next++]!;
        try {
          await client.workflow.getHandle(workflowId).signal(ownerControlSignal, signed);
          signalled.push(workflowId);
        } catch (error) {
          // Ended between the listing and the signal: nothing left to control.
          if (error instanceof WorkflowNotFoundError) skipped.push(workflowId);
          // Temporal refused or did not answer this one: name it, and go on with the others.
          else if (error instanceof ServiceError) {
            const reason = firstLineOf(error.cause ?? error);
            failed.push({ workflowId, reason });
            logError(`owner command ${id} not delivered to ${workflowId}`, reason);
          } else throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FAN_OUT, ids.length) }, worker));
    return {
      commandId: id,
      action: command.action,
      actor,
      query: runningQuery,
      signalled: signalled.sort(),
      skipped: skipped.sort(),
      failed: failed.sort((a, b) => a.workflowId.localeCompare(b.workflowId)),
    };
  }

  function ownerRoute<S extends z.ZodType<{ reason: string; commandId?: string | undefined }>>(spec: {
    path: string;
    operationId: string;
    summary: string;
    body: S;
    example: z.input<S>;
    command: (body: z.output<S>) => Command;
  }): void {
    api.route({
      method: 'post',
      path: spec.path,
      operationId: spec.operationId,
      tag: 'Owner controls',
      summary: spec.summary,
      description:
        'Sent to every running mission of this deployment found by Temporal visibility (which trails new ' +
        'missions by moments). Applies to future work only; each mission records it in its ledger with you as actor.',
      access: ['owner'],
      body: spec.body,
      example: spec.example,
      responses: {
        202: { description: 'Delivered to every mission found', schema: OwnerBatchResult },
        502: {
          description: 'Not delivered to the missions in `failed`; send the same commandId again',
          schema: OwnerBatchIncomplete,
        },
      },
      handler: async ({ body, principal }, res) => {
        const command = spec.command(body);
        const warnings = command.action === 'reroute' ? await rerouteWarnings(command.taskQueue) : [];
        const result = {
          ...(await broadcast(command, principal!.name, body.commandId)),
          ...(warnings.length > 0 && { warnings }),
        };
        if (result.failed.length === 0) return void res.status(202).json(result);
        sendProblem(res, {
          status: 502,
          title: 'Not delivered to every mission',
          detail:
            `${result.failed.length} of ${result.failed.length + result.signalled.length} missions did not ` +
            `receive the command; send it again with commandId ${result.commandId}`,
          ...result,
        });
      },
    });
  }

  /**
   * A reroute to a queue no worker polls would leave every mission's future agent work waiting:
   * still sent (the worker may be on its way), but said. Asked of Temporal, which knows the pollers.
   */
  async function rerouteWarnings(queue: string | null): Promise<string[]> {
    if (queue === null) return [];
    const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = proto.temporal.api.enums.v1.TaskQueueType;
    try {
      const counts = await Promise.all(
        [TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY].map(async (taskQueueType) => {
          const described = await client.withDeadline(Date.now() + 5_000, () =>
            client.workflowService.describeTaskQueue({
              namespace: client.options.namespace,
              taskQueue: { name: queue },
              taskQueueType,
            }),
          );
          return described.pollers.length;
        }),
      );
      const [workflows, activities] = counts as [number, number];
      if (workflows > 0 && activities > 0) return [];
      return [
        `no worker polls task queue ${queue} (${workflows} workflow, ${activities} activity pollers): ` +
          'rerouted agent work waits until one does',
      ];
    } catch (error) {
      return [`could not ask Temporal who polls task queue ${queue}: ${firstLineOf(error)}`];
    }
  }

  ownerRoute({
    path: '/controls/pause-all',
    operationId: 'pauseAll',
    summary: 'Pause every running mission',
    body: OwnerPauseRequest.extend(WithCommandId),
    example: { reason: 'incident 311: stop new agent work', commandId: 'incident-311-pause' },
    command: (b) => ({ action: 'pause', reason: b.reason }),
  });
  ownerRoute({
    path: '/controls/resume-all',
    operationId: 'resumeAll',
    summary: 'Resume every running mission',
    body: OwnerPauseRequest.extend(WithCommandId),
    example: { reason: 'incident 311 resolved' },
    command: (b) => ({ action: 'resume', reason: b.reason }),
  });
  ownerRoute({
    path: '/controls/reroute',
    operationId: 'rerouteAgents',
    summary: 'Send future agent work of every running mission to another task queue',
    body: OwnerRerouteRequest.extend(WithCommandId),
    example: { reason: 'drain the gpu-a pool', taskQueue: 'agents-gpu-b' },
    command: (b) => ({ action: 'reroute', reason: b.reason, taskQueue: b.taskQueue }),
  });
  ownerRoute({
    path: '/controls/latency-budgets',
    operationId: 'setLatencyBudgets',
    summary: 'Change activity latency budgets (start-to-close timeouts) of every running mission',
    body: OwnerLatencyRequest.extend(WithCommandId),
    example: { reason: 'slow index backend this week', budgets: { io: 600 } },
    command: (b) => ({ action: 'latency', reason: b.reason, budgets: b.budgets }),
  });
}
