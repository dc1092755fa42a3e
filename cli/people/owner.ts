/**
 * `swoosh owner …`: owner controls over every running mission of the deployment. A bearer token
 * alone does not give them: each command is signed with the owner's own key (registered in the
 * deployment's SWOOSH_OWNER_KEYS) and names its sender (`--actor`, the token's name). With an owner
 * quorum of M, one owner signs a draft into a file (`--out`), M-1 others `cosign` it, and any of
 * them `send`s it. Sending the same signed command again is a safe retry.
 */
import { open, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import {
  coSign,
  draftOwnerCommand,
  getControls,
  type OwnerCommandDraft,
  sendOwnerCommand,
} from '../../api/owner-commands';
import type { OwnerBatchResult } from '../../schemas/api';
import {
  type ControlsView,
  LatencyBudgetsChange,
  OwnerCommandId,
  OwnerCommandRequest,
  OwnerReason,
  TaskQueueName,
} from '../../schemas/owner-controls';
import { isErrno } from '../../host/durable-fs';
import { EXIT, UsageError } from '../usage';
import { type CliIo, context, flag, parse } from './context';
import { jsonFile } from './missions';
import { answer } from './output';

const Seconds = z.coerce.number().int();

export async function owner(command: string | undefined, args: string[], io: CliIo): Promise<number> {
  switch (command) {
    case 'pause-all':
    case 'resume-all':
    case 'reroute':
    case 'latency-budgets':
      return issue(command, args, io);
    case 'cosign':
      return cosign(args, io);
    case 'send':
      return send(args, io);
    case 'status':
      return status(args, io);
    default:
      throw new UsageError(`unknown command "owner ${command ?? ''}"`);
  }
}

async function issue(
  command: 'pause-all' | 'resume-all' | 'reroute' | 'latency-budgets',
  args: string[],
  io: CliIo,
): Promise<number> {
  const { values, positionals } = parse(args, {
    reason: { type: 'string' },
    'command-id': { type: 'string' },
    out: { type: 'string' },
    'task-queue': { type: 'string' },
    'own-queue': { type: 'boolean' },
    short: { type: 'string' },
    io: { type: 'string' },
    agent: { type: 'string' },
  });
  noPositionals(positionals);
  const reason = flag('--reason', OwnerReason, values.reason);
  const id =
    values['command-id'] === undefined
      ? undefined
      : flag('--command-id', OwnerCommandId, values['command-id']);
  let draft: OwnerCommandDraft;
  if (command === 'pause-all') draft = { action: 'pause' };
  else if (command === 'resume-all') draft = { action: 'resume' };
  else if (command === 'reroute') {
    if ((values['task-queue'] === undefined) === (values['own-queue'] === undefined))
      throw new UsageError('owner reroute takes either --task-queue QUEUE or --own-queue');
    draft = {
      action: 'reroute',
      taskQueue: values['own-queue'] ? null : flag('--task-queue', TaskQueueName, values['task-queue']),
    };
  } else {
    draft = {
      action: 'latency',
      budgets: flag('budgets (--short, --io, --agent seconds)', LatencyBudgetsChange, {
        ...(values.short !== undefined && { short: flag('--short', Seconds, values.short) }),
        ...(values.io !== undefined && { io: flag('--io', Seconds, values.io) }),
        ...(values.agent !== undefined && { agent: flag('--agent', Seconds, values.agent) }),
      }),
    };
  }
  const ctx = await context(values, io, 'owner');
  const request = coSign(
    draftOwnerCommand(draft, { actor: await ctx.actor(), reason, ...(id !== undefined && { id }) }),
    await ctx.signer(),
  );
  if (values.out === undefined) return answer(ctx, await sendOwnerCommand(ctx.client, request), report);
  await writeNew(values.out, request);
  if (ctx.json) io.out(JSON.stringify(request, null, 2));
  else {
    io.out(`signed ${request.command.action} ${request.command.id} into ${values.out}`);
    io.out(
      `other owners: swoosh owner cosign ${values.out}; then any of you: swoosh owner send ${values.out}`,
    );
  }
  return EXIT.ok;
}

async function cosign(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {});
  const file = oneFile(positionals, 'owner cosign FILE');
  const request = await jsonFile('owner command', file, OwnerCommandRequest);
  const ctx = await context(values, io, 'owner');
  const signed = coSign(request, await ctx.signer());
  await writeFile(file, `${JSON.stringify(signed, null, 2)}\n`);
  if (ctx.json) io.out(JSON.stringify(signed, null, 2));
  else
    io.out(
      `signed ${signed.command.action} ${signed.command.id}: ${signed.signatures.length} signature(s) in ${file}`,
    );
  return EXIT.ok;
}

async function send(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {});
  const file = oneFile(positionals, 'owner send FILE');
  const request = await jsonFile('owner command', file, OwnerCommandRequest);
  const ctx = await context(values, io, 'owner');
  return answer(ctx, await sendOwnerCommand(ctx.client, request), report);
}

async function status(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {});
  noPositionals(positionals);
  const ctx = await context(values, io, 'viewer');
  return answer(ctx, await getControls(ctx.client), describe);
}

function describe(view: ControlsView): string[] {
  const who = (c: NonNullable<ControlsView['halt']>) =>
    `${c.commandId} by ${c.actor} at ${c.issuedAt} (${c.reason}); signed by ${c.signers.join(', ') || 'no registered owner'}`;
  return [
    view.halted && view.halt ? `HALTED: ${who(view.halt)}` : 'not halted',
    ...(view.lastLift ? [`last lifted: ${who(view.lastLift)}`] : []),
    `owner keys: ${view.owners.keys.join(', ') || 'none'}; quorum ${view.owners.quorum}`,
  ];
}

function report(result: OwnerBatchResult): string[] {
  return [
    `${result.action} ${result.commandId} sent by ${result.actor} to ${result.signalled.length} mission(s)`,
    `signed by: ${result.signers.join(', ')}`,
    ...result.skipped.map((w) => `skipped (ended meanwhile): ${w}`),
    ...(result.warnings ?? []).map((w) => `warning: ${w}`),
  ];
}

function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
}

function oneFile(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new UsageError(`usage: swoosh ${usage}`);
  return positionals[0]!;
}

/** Writes a draft that is not there yet: a second `--out` to the same file is a mistake, not an update. */
async function writeNew(path: string, request: OwnerCommandRequest): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) throw new UsageError(`${path} exists; choose another --out`);
    throw error;
  }
  try {
    await handle.writeFile(`${JSON.stringify(request, null, 2)}\n`);
  } finally {
    await handle.close();
  }
}
