/**
 * `swoosh owner pause-all|resume-all|reroute|latency-budgets`: owner controls over every running
 * mission of the deployment, with an owner token. A retry with the same `--command-id` is applied
 * once by each mission.
 */
import { z } from 'zod';
import type { ApiResponse } from '../../api/client';
import type { OwnerBatchResult } from '../../schemas/api';
import {
  LatencyBudgetsChange,
  OwnerCommandId,
  OwnerReason,
  TaskQueueName,
} from '../../schemas/owner-controls';
import { UsageError } from '../usage';
import { type CliIo, context, flag, parse } from './context';
import { answer } from './output';

const Seconds = z.coerce.number().int();

export async function owner(command: string | undefined, args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    reason: { type: 'string' },
    'command-id': { type: 'string' },
    'task-queue': { type: 'string' },
    'own-queue': { type: 'boolean' },
    short: { type: 'string' },
    io: { type: 'string' },
    agent: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
  const reason = flag('--reason', OwnerReason, values.reason);
  const commandId =
    values['command-id'] === undefined
      ? undefined
      : flag('--command-id', OwnerCommandId, values['command-id']);
  const ctx = await context(values, io, 'owner');
  const run = async (send: Promise<ApiResponse<OwnerBatchResult>>) => answer(ctx, await send, report);
  switch (command) {
    case 'pause-all':
      return run(ctx.client.pauseAll(reason, commandId));
    case 'resume-all':
      return run(ctx.client.resumeAll(reason, commandId));
    case 'reroute': {
      if ((values['task-queue'] === undefined) === (values['own-queue'] === undefined))
        throw new UsageError('owner reroute takes either --task-queue QUEUE or --own-queue');
      const queue = values['own-queue'] ? null : flag('--task-queue', TaskQueueName, values['task-queue']);
      return run(ctx.client.reroute(queue, reason, commandId));
    }
    case 'latency-budgets': {
      const budgets = flag('budgets (--short, --io, --agent seconds)', LatencyBudgetsChange, {
        ...(values.short !== undefined && { short: flag('--short', Seconds, values.short) }),
        ...(values.io !== undefined && { io: flag('--io', Seconds, values.io) }),
        ...(values.agent !== undefined && { agent: flag('--agent', Seconds, values.agent) }),
      });
      return run(ctx.client.setLatencyBudgets(budgets, reason, commandId));
    }
    default:
      throw new UsageError(`unknown command "owner ${command ?? ''}"`);
  }
}

function report(result: OwnerBatchResult): string[] {
  return [
    `${result.action} ${result.commandId} sent by ${result.actor} to ${result.signalled.length} mission(s)`,
    ...result.skipped.map((w) => `skipped (ended meanwhile): ${w}`),
    ...(result.warnings ?? []).map((w) => `warning: ${w}`),
  ];
}
