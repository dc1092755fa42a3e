/**
 * Timers act as their creator, never more (docs/timers.md, schemas/timer-targets.ts): every timer
 * action kind against every role through the real gateway on a dev server, the forged owner pause
 * of issue 13 (an agent's timer signalling `ownerControl` with a body-chosen actor), the shard's
 * check again at firing, and who may change someone else's timer.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Role } from '../../schemas/auth';
import { loadTimerConfig } from '../../schemas/config';
import type { CreateTimerRequest, TimerAction, TimerRecord } from '../../schemas/timer';
import type { TimerTargetRule } from '../../schemas/timer-targets';
import { configureTimerTargetsUpdate, createTimersUpdate, TimerFailure } from '../../schemas/timer-messages';
import { DEFAULT_SHARD_ID_PREFIX, shardOf, shardWorkflowId } from '../../schemas/timer-shard-key';
import { prompt } from '../lifecycle/support/missions';
import { eventually } from '../support/temporal';
import { type GatewayFixture, startGatewayFixture } from './support/gateway';

/** What this deployment declares timer-targetable: messages of its own `ext-` workflows. */
const TARGETS: TimerTargetRule[] = [
  { kind: 'signal', name: 'nudge', workflowIdPrefix: 'ext-', roles: ['operator', 'owner'] },
  { kind: 'update', name: 'expire', workflowIdPrefix: 'ext-', roles: ['agent', 'operator', 'owner'] },
];

/** The gateway and the worker read the shard count from the environment, as this does. */
const SHARDS = loadTimerConfig().shards;

let fx: GatewayFixture;
let missionId: string;
const previousTargets = process.env.SWOOSH_TIMER_TARGETS;

beforeAll(async () => {
  // As a deployment configures it: the gateway reads SWOOSH_TIMER_TARGETS when it is built.
  process.env.SWOOSH_TIMER_TARGETS = JSON.stringify(TARGETS);
  fx = await startGatewayFixture('gateway-timer-authority');
  missionId = randomUUID();
  const started = await fx.as.operator.startMission({ ...prompt(missionId), config: { autoApprove: true } });
  if (started.status !== 201) throw new Error(`mission not started: ${started.status}`);
  await eventually(
    () => fx.as.viewer.getMission(missionId),
    (r) => r.ok && ['PROJECT_LIFECYCLE', 'EXECUTION'].includes(r.body.phase),
    60_000,
  );
}, 180_000);

afterAll(async () => {
  if (previousTargets === undefined) delete process.env.SWOOSH_TIMER_TARGETS;
  else process.env.SWOOSH_TIMER_TARGETS = previousTargets;
  await fx?.stop();
});

const ROLES: Role[] = ['owner', 'operator', 'agent', 'viewer'];

/** One row per action kind: the action and the status each role gets creating a timer with it. */
const MATRIX: { kind: string; action: () => TimerAction; expected: Record<Role, number>; field?: string }[] =
  [
    {
      kind: 'webhook',
      action: () => ({ type: 'webhook', url: 'http://127.0.0.1:9/hook' }),
      expected: { owner: 201, operator: 201, agent: 201, viewer: 403 },
    },
    {
      kind: 'signal on the allow-list for operators and owners',
      action: () => ({ type: 'signal', workflowId: 'ext-approvals', signalName: 'nudge', args: ['late'] }),
      expected: { owner: 201, operator: 201, agent: 403, viewer: 403 },
      field: 'body.action.signalName',
    },
    {
      kind: 'update on the allow-list for every scheduling role',
      action: () => ({ type: 'update', workflowId: 'ext-approvals', updateName: 'expire', args: [] }),
      expected: { owner: 201, operator: 201, agent: 201, viewer: 403 },
    },
    {
      kind: 'allow-listed signal aimed at a mission',
      action: () => ({ type: 'signal', workflowId: `mission-${missionId}`, signalName: 'nudge' }),
      expected: { owner: 403, operator: 403, agent: 403, viewer: 403 },
      field: 'body.action.workflowId',
    },
    {
      kind: 'signal not on the allow-list',
      action: () => ({ type: 'signal', workflowId: 'ext-approvals', signalName: 'somethingElse' }),
      expected: { owner: 403, operator: 403, agent: 403, viewer: 403 },
      field: 'body.action.signalName',
    },
    {
      kind: 'ownerControl signal',
      action: () => ({
        type: 'signal',
        workflowId: `mission-${missionId}`,
        signalName: 'ownerControl',
        args: [{ action: 'resume', id: `forged-${randomUUID()}`, actor: 'dev-owner', reason: 'forged' }],
      }),
      expected: { owner: 403, operator: 403, agent: 403, viewer: 403 },
      field: 'body.action.signalName',
    },
    {
      kind: 'control signal',
      action: () => ({
        type: 'signal',
        workflowId: `mission-${missionId}`,
        signalName: 'control',
        args: [{ action: 'resume', reason: 'forged', actor: 'dev-owner' }],
      }),
      expected: { owner: 403, operator: 403, agent: 403, viewer: 403 },
      field: 'body.action.signalName',
    },
    {
      kind: 'transition update',
      action: () => ({
        type: 'update',
        workflowId: `mission-${missionId}`,
        updateName: 'transition',
        args: [{}],
      }),
      expected: { owner: 403, operator: 403, agent: 403, viewer: 403 },
      field: 'body.action.updateName',
    },
    {
      kind: 'vote update',
      action: () => ({ type: 'update', workflowId: `mission-${missionId}`, updateName: 'vote', args: [{}] }),
      expected: { owner: 403, operator: 403, agent: 403, viewer: 403 },
      field: 'body.action.updateName',
    },
    {
      kind: "a timer shard's own create update",
      action: () => ({
        type: 'update',
        workflowId: 'timer-shard-0',
        updateName: 'timers.create',
        args: [{ specs: [] }],
      }),
      expected: { owner: 403, operator: 403, agent: 403, viewer: 403 },
      field: 'body.action.updateName',
    },
  ];

describe('timer actions × roles', () => {
  for (const row of MATRIX) {
    for (const role of ROLES) {
      const status = row.expected[role];
      test(`${row.kind}, created by ${role}: ${status}`, async () => {
        const id = `authz-${randomUUID()}`;
        const res = await fx.as[role].createTimer({ id, delayMs: 3_600_000, action: row.action() });
        expect(res.status).toBe(status);
        if (res.ok) {
          // The timer records who it acts as: the token, never anything in the body.
          expect(res.body.timer.createdBy).toEqual({ name: `test-${role}`, role });
        } else if (role !== 'viewer' && row.field) {
          expect(res.body.errors?.map((e) => e.field)).toContain(row.field);
        }
        // A refused timer was never created.
        if (status !== 201) expect((await fx.as.viewer.getTimer(id)).status).toBe(404);
      });
    }
  }

  test('a forbidden action anywhere in a chain or an escalation ladder refuses the whole timer', async () => {
    const webhook: TimerAction = { type: 'webhook', url: 'http://127.0.0.1:9/hook' };
    const forged: TimerAction = {
      type: 'signal',
      workflowId: `mission-${missionId}`,
      signalName: 'ownerControl',
      args: [{ action: 'pause', id: 'forged-chain', actor: 'dev-owner', reason: 'forged' }],
    };
    const chained: CreateTimerRequest = {
      id: `authz-${randomUUID()}`,
      delayMs: 1_000,
      action: webhook,
      chain: { id: `authz-${randomUUID()}`, delayMs: 1_000, action: forged },
    };
    const laddered: CreateTimerRequest = {
      id: `authz-${randomUUID()}`,
      delayMs: 1_000,
      action: webhook,
      escalation: { afterMs: 1_000, action: webhook, escalation: { afterMs: 1_000, action: forged } },
    };
    for (const [spec, field] of [
      [chained, 'body.chain.action.signalName'],
      [laddered, 'body.escalation.escalation.action.signalName'],
    ] as const) {
      const res = await fx.as.owner.createTimer(spec);
      expect(res.status).toBe(403);
      if (!res.ok) expect(res.body.errors?.map((e) => e.field)).toEqual([field]);
      expect((await fx.as.viewer.getTimer(spec.id)).status).toBe(404);
    }
  });
});

describe('issue 13, finding 1: an agent cannot issue owner commands through a timer', () => {
  test('the forged pause is refused, the mission keeps running and no Owner_Pause is recorded', async () => {
    const forgedPause = {
      id: `forged-pause-${randomUUID()}`,
      delayMs: 0,
      action: {
        type: 'signal' as const,
        workflowId: `mission-${missionId}`,
        signalName: 'ownerControl',
        args: [{ action: 'pause', id: 'forged-1', actor: 'dev-owner', reason: 'forged' }],
      },
    };
    // The direct route refuses an agent…
    expect((await fx.as.agent.control(missionId, 'pause', 'forged')).status).toBe(403);
    // …and so does the timer route, naming the field.
    const res = await fx.as.agent.createTimer(forgedPause);
    expect(res.status).toBe(403);
    if (!res.ok) {
      expect(res.body.errors?.map((e) => e.field)).toEqual(['body.action.signalName']);
      expect(res.body.detail).toContain('ownerControl may never be sent by a timer');
    }
    // Had it fired it would have by now (delay 0): nothing paused, nothing recorded.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const view = await fx.as.viewer.getMission(missionId);
    expect(view.ok && view.body.phase).not.toBe('PAUSED');
    expect(view.ok && view.body.controls?.applied.map((c) => c.id)).not.toContain('forged-1');
    const ledger = await fx.as.viewer.ledger(missionId, { pageSize: 500 });
    if (!ledger.ok) throw new Error(`no ledger: ${ledger.status}`);
    expect(
      ledger.body.records.filter((r) => r.kind === 'decision' && r.transition === 'Owner_Pause'),
    ).toEqual([]);
  });

  test('a shard refuses a create sent past the gateway with no creator, or with one who may not', async () => {
    const primer = `authz-direct-${randomUUID()}`;
    const shardIndex = shardOf(primer, SHARDS);
    // The forged timer must land on the primed shard, or the shard refuses it as another shard's
    // (TimerWrongShard) whether or not it checks the creator, and the test proves nothing.
    const forged = Array.from({ length: 1_000 }, (_, n) => `${primer}-forged-${n}`).find(
      (id) => shardOf(id, SHARDS) === shardIndex,
    );
    if (forged === undefined) throw new Error('no forged id on the primed shard');
    const shard = fx.env.client.workflow.getHandle(shardWorkflowId(DEFAULT_SHARD_ID_PREFIX, shardIndex));
    // Make sure the shard runs (the gateway starts shards lazily).
    await fx.as.owner.createTimer({
      id: primer,
      delayMs: 3_600_000,
      action: { type: 'webhook', url: 'http://127.0.0.1:9/' },
    });
    const action = {
      type: 'signal' as const,
      workflowId: `mission-${missionId}`,
      signalName: 'ownerControl',
      args: [{ action: 'pause', id: 'forged-2', actor: 'dev-owner', reason: 'forged' }],
    };
    const attempts = [
      { createdBy: undefined, refusal: 'action.type: the timer has no recorded creator' },
      {
        createdBy: { name: 'dev-owner', role: 'owner' as const },
        refusal: 'action.signalName: ownerControl may never be sent by a timer',
      },
    ];
    for (const { createdBy, refusal } of attempts) {
      const error: unknown = await shard
        .executeUpdate(createTimersUpdate, {
          args: [{ specs: [{ id: forged, delayMs: 0, action }], ...(createdBy && { createdBy }) }],
        })
        .catch((e: unknown) => e);
      expect(error, `created by ${createdBy?.name ?? 'nobody'}`).toBeInstanceOf(WorkflowUpdateFailedError);
      const cause = (error as WorkflowUpdateFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause).toMatchObject({ type: TimerFailure.forbidden });
      expect(cause?.message).toContain(refusal);
    }
    expect((await fx.as.viewer.getTimer(forged)).status).toBe(404);
  });
});

describe('checked again at firing', () => {
  test('a timer whose target left the allow-list after it was created is dead-lettered, not delivered', async () => {
    const id = `authz-refire-${randomUUID()}`;
    const created = await fx.as.operator.createTimer({
      id,
      delayMs: 4_000,
      action: { type: 'signal', workflowId: 'ext-approvals', signalName: 'nudge' },
    });
    expect(created.status).toBe(201);
    // The deployment withdraws the rule (as a worker restarted without it would tell its shards).
    const shard = fx.env.client.workflow.getHandle(
      shardWorkflowId(DEFAULT_SHARD_ID_PREFIX, shardOf(id, SHARDS)),
    );
    await shard.executeUpdate(configureTimerTargetsUpdate, { args: [{ timerTargets: [] }] });
    const dead = await eventually(
      async () => {
        const r = await fx.as.viewer.getTimer(id);
        return r.ok ? r.body : undefined;
      },
      (t: TimerRecord | undefined) => t?.state === 'DeadLettered',
      20_000,
    );
    expect(dead).toMatchObject({ state: 'DeadLettered', attempts: 1 });
    expect(dead?.lastError).toMatch(/^refused: signal nudge is not timer-targetable/);
    await shard.executeUpdate(configureTimerTargetsUpdate, { args: [{ timerTargets: TARGETS }] });
  });
});

describe('changing a timer someone else created', () => {
  test("an agent may not cancel or acknowledge an operator's timer; the operator and an owner may", async () => {
    const spec = (id: string): CreateTimerRequest => ({
      id,
      delayMs: 3_600_000,
      action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' },
    });
    const mine = `authz-mine-${randomUUID()}`;
    expect((await fx.as.operator.createTimer(spec(mine))).status).toBe(201);
    const refused = await fx.as.agent.cancelTimer(mine);
    expect(refused.status).toBe(403);
    const still = await fx.as.viewer.getTimer(mine);
    expect(still.ok && still.body.state).toBe('Scheduled');
    const cancelled = await fx.as.owner.cancelTimer(mine);
    expect(cancelled.ok && cancelled.body.state).toBe('Cancelled');

    const theirs = `authz-theirs-${randomUUID()}`;
    expect((await fx.as.agent.createTimer(spec(theirs))).status).toBe(201);
    expect((await fx.as.operator.cancelTimer(theirs)).status).toBe(200);
  });

  test('an acknowledgement is recorded as the caller, and a body naming someone is refused', async () => {
    const id = `authz-ack-${randomUUID()}`;
    const created = await fx.as.operator.createTimer({
      id,
      delayMs: 0,
      action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' },
      escalation: { afterMs: 3_600_000, action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } },
    });
    expect(created.status).toBe(201);
    await eventually(
      () => fx.as.viewer.getTimer(id),
      (r) => r.ok && r.body.state !== 'Scheduled' && r.body.state !== 'Armed',
      10_000,
    );
    const forged = await fx.as.operator.request('POST', `/timers/${id}/ack`, { body: { by: 'dev-owner' } });
    expect(forged.status).toBe(400);
    expect((await fx.as.agent.ackTimer(id)).status).toBe(403);
    const acked = await fx.as.operator.ackTimer(id);
    expect(acked.ok && acked.body).toMatchObject({ state: 'Settled', ackedBy: 'test-operator' });
  });
});
