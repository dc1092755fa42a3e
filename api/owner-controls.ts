/**
 * Owner controls over every running mission of this deployment (AGI-Jobs style): pause all,
 * resume all, reroute future agent work, change latency budgets. Each is an owner command signed
 * by registered owner keys (as many as the owner quorum asks; api/owner-signing.ts), countersigned
 * by the gateway and sent as the `ownerControl` signal to every mission a visibility query finds;
 * the mission verifies it, applies a command id once and records it in its decision ledger with
 * its signers and the caller as actor (schemas/owner-controls.ts). Pause-all also sets the
 * deployment's halt in the control workflow (workflows/control.ts), which holds for missions
 * started later, and resume-all lifts it; `GET /controls` shows it. Sending the same signed
 * command again (a retry) reaches missions it missed and applies nowhere twice.
 */
import {
  type Client,
  ServiceError,
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import proto from '@temporalio/proto';
import type { z } from 'zod';
import { OwnerBatchIncomplete, OwnerBatchResult, Problem } from '../schemas/api';
import {
  CONTROL_WORKFLOW_TYPE,
  controlWorkflowId,
  HALT_MEMO,
  liftHaltUpdate,
  setHaltUpdate,
} from '../schemas/control-messages';
import {
  ControlsView,
  HaltState,
  LatencyCommand,
  ownerCommandRequest,
  type OwnerCommandView,
  type OwnerControlCommand,
  PauseCommand,
  RerouteCommand,
  ResumeCommand,
  type SignedOwnerCommand,
} from '../schemas/owner-controls';
import { ownerControlSignal } from '../schemas/mission-messages';
import { haltTimersUpdate, liftTimersUpdate, TIMER_SHARD_WORKFLOW_TYPE } from '../schemas/timer-messages';
import { mapConcurrently } from '../host/concurrency';
import { type TimerShardLayout, timerShardStartOptions } from '../host/timer-shards';
import { ALL_ROLES } from './auth';
import { missionListQuery } from './missions';
import type { OwnerCommandSigning } from './owner-signing';
import { firstLineOf, sendProblem } from './problem';
import type { ApiRegistry } from './routes';

export interface OwnerControlDeps {
  client: Client;
  taskQueue: string;
  /** The deployment's timer shards, which pause-all halts and resume-all lifts too. */
  timerShards: TimerShardLayout;
  logError: (context: string, error: unknown) => void;
  signing: OwnerCommandSigning;
  halts: HaltKeeper;
}

/** The deployment's halt, kept by its control workflow (workflows/control.ts). */
export interface HaltKeeper {
  /** The halt and the last lift; none when the control workflow was never started. */
  current(): Promise<HaltState>;
  set(pause: SignedOwnerCommand): Promise<HaltState>;
  lift(resume: SignedOwnerCommand): Promise<HaltState>;
  /**
   * After a mission started with no halt: if one was set meanwhile (pause-all may list missions
   * before visibility shows this one), send it the halt's pause as pause-all would have.
   */
  catchUp(workflowId: string): Promise<void>;
}

export function haltKeeper(client: Client, taskQueue: string): HaltKeeper {
  const workflowId = controlWorkflowId(taskQueue);
  const change = (update: typeof setHaltUpdate | typeof liftHaltUpdate, command: SignedOwnerCommand) =>
    // Started on first use; afterwards the running one takes the update.
    client.workflow.executeUpdateWithStart(update, {
      args: [command],
      startWorkflowOperation: new WithStartWorkflowOperation(CONTROL_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ halt: null, lifted: null }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        staticSummary: 'SWOOSH deployment control: the halt pause-all sets',
      }),
    });
  const current = async (): Promise<HaltState> => {
    try {
      const { memo } = await client.workflow.getHandle(workflowId).describe();
      // Parsed: anyone with Temporal access could write this memo; a mission verifies the halt again.
      const parsed = HaltState.safeParse(memo?.[HALT_MEMO]);
      return parsed.success ? parsed.data : { halt: null, lifted: null };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { halt: null, lifted: null };
      throw error;
    }
  };
  return {
    current,
    set: (pause) => change(setHaltUpdate, pause),
    lift: (resume) => change(liftHaltUpdate, resume),
    async catchUp(missionWorkflowId) {
      const { halt } = await current();
      if (halt !== null) await client.workflow.getHandle(missionWorkflowId).signal(ownerControlSignal, halt);
    },
  };
}

/** Tries per timer shard for a halt or a lift before it is named as failed. */
const SHARD_ATTEMPTS = 3;

/** Signals in flight at once: enough to be quick, few enough not to flood the frontend. */
const FAN_OUT = 16;

export function mountOwnerControls(
  api: ApiRegistry,
  { client, taskQueue, timerShards, logError, signing, halts }: OwnerControlDeps,
): void {
  const runningQuery = `${missionListQuery(taskQueue, {})} AND ExecutionStatus = 'Running'`;

  /** Sends one countersigned command (mission_id null: the same for every mission) to each running mission. */
  async function broadcast(signed: SignedOwnerCommand, signers: string[]): Promise<OwnerBatchResult> {
    const { id, action, actor } = signed.command;
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
      action,
      actor,
      signers,
      query: runningQuery,
      signalled: signalled.sort(),
      skipped: skipped.sort(),
      failed: failed.sort((a, b) => a.workflowId.localeCompare(b.workflowId)),
    };
  }

  /**
   * Gives every timer shard the halt or its lift. Each shard checks the owners' signatures itself
   * (workflows/timers/halt.ts); a refusal or an unreachable shard is named, never hidden.
   */
  async function haltTimers(signed: SignedOwnerCommand, change: 'set' | 'lift') {
    const updated: number[] = [];
    const failed: { shard: number; reason: string }[] = [];
    await mapConcurrently(
      Array.from({ length: timerShards.count }, (_, shard) => shard),
      FAN_OUT,
      async (shard) => {
        // Update-with-Start: a shard nobody started yet is halted from its first moment. The update
        // id makes a resend (ours below, or the owner's) the same update, never a second one.
        const send = () => {
          const options = {
            args: [signed] as [SignedOwnerCommand],
            updateId: `${change}-${signed.command.id}`,
            startWorkflowOperation: new WithStartWorkflowOperation(
              TIMER_SHARD_WORKFLOW_TYPE,
              timerShardStartOptions(taskQueue, timerShards, shard),
            ),
          };
          return change === 'set'
            ? client.workflow.executeUpdateWithStart(haltTimersUpdate, options)
            : client.workflow.executeUpdateWithStart(liftTimersUpdate, options);
        };
        for (let attempt = 1; ; attempt++) {
          try {
            await send();
            updated.push(shard);
            return;
          } catch (error) {
            // A refusal is final; a shard busy or briefly unreachable gets two more tries.
            const refused = error instanceof WorkflowUpdateFailedError;
            if (!refused && attempt < SHARD_ATTEMPTS) {
              await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
              continue;
            }
            const reason = firstLineOf(refused ? (error.cause ?? error) : error);
            failed.push({ shard, reason });
            logError(`owner command ${signed.command.id} not taken by timer shard ${shard}`, reason);
            return;
          }
        }
      },
    );
    return { updated: updated.sort((a, b) => a - b), failed: failed.sort((a, b) => a.shard - b.shard) };
  }

  function ownerRoute<C extends z.ZodType<OwnerControlCommand>>(spec: {
    path: string;
    operationId: string;
    summary: string;
    command: C;
    example: z.input<C>;
    /** Pause-all sets the halt, resume-all lifts it: before the broadcast, so no new mission escapes it. */
    halt?: 'set' | 'lift';
  }): void {
    const body = ownerCommandRequest(spec.command);
    api.route({
      method: 'post',
      path: spec.path,
      operationId: spec.operationId,
      tag: 'Owner controls',
      summary: spec.summary,
      description:
        'Signed by registered owner keys (SWOOSH_OWNER_KEYS; as many distinct ones as SWOOSH_OWNER_QUORUM asks) ' +
        'over `ownerCommandSigningBytes({ command, mission_id: null, issued_at_ms })`; `command.actor` is your ' +
        'own name. Sent to every running mission of this deployment found by Temporal visibility (which trails ' +
        'new missions by moments). Applies to future work only; each mission records it in its ledger with its ' +
        'signers and you as actor.' +
        (spec.halt === 'set'
          ? ' Also sets the deployment halt: missions started until resume-all start PAUSED.'
          : spec.halt === 'lift'
            ? ' Also lifts the deployment halt.'
            : ''),
      access: ['owner'],
      body,
      example: {
        command: spec.example,
        issued_at_ms: 1_795_000_000_000,
        signatures: [
          {
            signer: 'ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=',
            // The shape of a detached ed25519 signature (64 bytes, base64); a real one covers the command.
            signature: `${'A'.repeat(85)}Q==`,
          },
        ],
      },
      responses: {
        202: {
          description:
            'Delivered to every mission found (and, for pause-all and resume-all, every timer shard)',
          schema: OwnerBatchResult,
        },
        400: {
          description: "Malformed, stale or not this route's action, naming the field",
          schema: Problem,
          refusals: [
            {
              field: '^body\\.issued_at_ms$',
              reason:
                'issued more than 15 minutes ago, or more than 2 minutes from now, by the gateway clock',
            },
          ],
        },
        403: {
          description:
            "Not an owner, not your own name as actor, no owner keys registered, a signature that is not a registered owner key's or does not verify, or fewer distinct owner signatures than the quorum",
          schema: Problem,
          refusals: [
            { field: '^body\\.command\\.actor$', reason: "not the caller's own name" },
            {
              field: '^body\\.signatures(\\.\\d+\\.(signer|signature))?$',
              reason:
                'no owner keys registered, a key that is not one, a signature that does not verify, or fewer owners than the quorum',
            },
          ],
        },
        502: {
          description:
            'Not delivered to the missions in `failed` (or not taken by the timer shards in `timerShards.failed`); send the same commandId again',
          schema: OwnerBatchIncomplete,
        },
      },
      handler: async ({ body: request, principal }, res) => {
        const { command } = request;
        if (command.actor !== principal!.name) {
          const reason = `must be your own name, ${principal!.name}: the ledger attributes the command to its sender`;
          return sendProblem(res, {
            status: 403,
            title: 'Not your command',
            detail: `body.command.actor: ${reason}`,
            errors: [{ field: 'body.command.actor', reason }],
          });
        }
        const checked = signing.check(request);
        if (!checked.ok) {
          return sendProblem(res, {
            status: checked.status,
            title: checked.title,
            detail: `${checked.field}: ${checked.reason}`,
            errors: [{ field: checked.field, reason: checked.reason }],
            signers: checked.signers,
            quorum: signing.quorum,
          });
        }
        const signed = await signing.countersign(request);
        if (spec.halt === 'set') await halts.set(signed);
        if (spec.halt === 'lift') await halts.lift(signed);
        const timers = spec.halt === undefined ? undefined : await haltTimers(signed, spec.halt);
        const warnings = command.action === 'reroute' ? await rerouteWarnings(command.taskQueue) : [];
        const result = {
          ...(await broadcast(signed, checked.signers)),
          ...(warnings.length > 0 && { warnings }),
          ...(timers !== undefined && { timerShards: timers }),
        };
        const shardsFailed = timers?.failed.length ?? 0;
        if (result.failed.length === 0 && shardsFailed === 0) return void res.status(202).json(result);
        sendProblem(res, {
          status: 502,
          title:
            result.failed.length > 0 ? 'Not delivered to every mission' : 'Not taken by every timer shard',
          detail:
            `${result.failed.length} of ${result.failed.length + result.signalled.length} missions and ` +
            `${shardsFailed} of ${timerShards.count} timer shards did not take the command; ` +
            `send the same signed command ${result.commandId} again`,
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
    summary: 'Halt the deployment: pause every running mission and every mission started until resume-all',
    command: PauseCommand,
    example: {
      action: 'pause',
      id: 'incident-311-pause',
      actor: 'alice',
      reason: 'incident 311: stop new agent work',
    },
    halt: 'set',
  });
  ownerRoute({
    path: '/controls/resume-all',
    operationId: 'resumeAll',
    summary: 'Lift the halt and resume every running mission',
    command: ResumeCommand,
    example: { action: 'resume', id: 'incident-311-resume', actor: 'alice', reason: 'incident 311 resolved' },
    halt: 'lift',
  });
  ownerRoute({
    path: '/controls/reroute',
    operationId: 'rerouteAgents',
    summary: 'Send future agent work of every running mission to another task queue',
    command: RerouteCommand,
    example: {
      action: 'reroute',
      id: 'drain-gpu-a',
      actor: 'alice',
      reason: 'drain the gpu-a pool',
      taskQueue: 'agents-gpu-b',
    },
  });
  ownerRoute({
    path: '/controls/latency-budgets',
    operationId: 'setLatencyBudgets',
    summary: 'Change activity latency budgets (start-to-close timeouts) of every running mission',
    command: LatencyCommand,
    example: {
      action: 'latency',
      id: 'slow-index-week',
      actor: 'alice',
      reason: 'slow index backend this week',
      budgets: { io: 600 },
    },
  });

  const view = (c: SignedOwnerCommand | null): OwnerCommandView | null =>
    c === null
      ? null
      : {
          commandId: c.command.id,
          action: c.command.action,
          actor: c.command.actor,
          reason: c.command.reason,
          issuedAt: new Date(c.issued_at_ms).toISOString(),
          signers: signing.verifiedOwners(c),
          countersignedBy: c.signer,
        };
  api.route({
    method: 'get',
    path: '/controls',
    operationId: 'getControls',
    tag: 'Owner controls',
    summary: 'Whether the deployment is halted, by whom and why, and the owner keys and quorum',
    description:
      'The halt is kept by the control workflow `swoosh-control-<task queue>`; `signers` are the registered ' +
      'owner keys whose signatures over the command verify now.',
    access: ALL_ROLES,
    responses: { 200: { description: 'The deployment controls', schema: ControlsView } },
    handler: async (_input, res) => {
      const { halt, lifted } = await halts.current();
      const body: ControlsView = {
        halted: halt !== null,
        halt: view(halt),
        lastLift: view(lifted),
        owners: { keys: [...signing.ownerKeys], quorum: signing.quorum },
      };
      res.json(body);
    },
  });
}
