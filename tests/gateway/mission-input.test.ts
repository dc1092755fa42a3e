/**
 * What the gateway accepts, the workflow runs (issue 13, finding 3), and the smaller findings of
 * issue 13: a config the workflow would refuse is a 400 naming the field; another config under an
 * existing mission id is a 409; a mission given input it cannot run fails at once with the
 * reason, and reads of it answer at once; a mission whose workflow task keeps failing is reported
 * by /health and answered 503 quickly; a retried proposal says `duplicate: true`; a proposal sent
 * to another mission than its idem_key names is a 400; a reroute to an unpolled queue warns.
 */
import { randomUUID } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGateway } from '../../api/app';
import { Authenticator } from '../../api/auth';
import { SwooshClient } from '../../api/client';
import { coSign, draftOwnerCommand, sendOwnerCommand } from '../../api/owner-commands';
import { generateSigner } from '../../host/keys';
import { type RunningGateway, startGateway } from '../../api/server';
import { missionWorkflowId } from '../../schemas/mission';
import { INVALID_MISSION_INPUT } from '../../workflows/mission/workflow';
import { newSigner, prompt, proposalSigner } from '../lifecycle/support/missions';
import { eventually, taskQueueFor } from '../support/temporal';
import {
  FAST,
  type GatewayFixture,
  ledgerGrowth,
  type OwnedMission,
  readyAndPaused,
  startGatewayFixture,
  startOwnedMission,
} from './support/gateway';

let fx: GatewayFixture;
let held: OwnedMission;

beforeAll(async () => {
  fx = await startGatewayFixture('gateway-mission-input', undefined, { ownerKeys: [ownerKey.keyId] });
  held = await startOwnedMission(fx.as.operator);
  await readyAndPaused(fx.as.operator, held);
}, 180_000);

afterAll(async () => {
  await fx?.stop();
});

/** The owner key broadcast owner commands are signed with. */
const ownerKey = generateSigner().signer;
const fieldsOf = (body: { errors?: { field: string }[] }) => body.errors?.map((e) => e.field) ?? [];

/** A valid config, changed by `change`. */
const config = (change: Record<string, unknown> = {}) => ({ schedule: FAST, autoApprove: true, ...change });

describe('a config the workflow would refuse is refused at the door', () => {
  const refused: [string, Record<string, unknown>, string][] = [
    [
      'schedule fractions summing to 4',
      config({ schedule: { ...FAST, phases: { PLAN: 1, WORK: 1, REVIEW: 1, REVERB: 1 } } }),
      'body.config.schedule.phases',
    ],
    [
      'a bar longer than a day',
      config({ schedule: { ...FAST, tempoBpm: 0.001 } }),
      'body.config.schedule.barBeats',
    ],
    [
      'a backoff ceiling below its base',
      config({ schedule: { ...FAST, backoffMaxMs: 1 } }),
      'body.config.schedule.backoffMaxMs',
    ],
    ['a quorum larger than the council', config({ quorumSize: 3 }), 'body.config.quorumSize'],
    ['more approvals than approvers', config({ approvalsRequired: 2 }), 'body.config.approvalsRequired'],
    [
      'an unknown signer class',
      config({
        signers: [{ key: `ed25519:${Buffer.alloc(32, 1).toString('base64')}`, classes: ['everything'] }],
      }),
      'body.config.signers.0.classes.0',
    ],
    [
      'a signer listed twice',
      config({
        signers: [
          { key: `ed25519:${Buffer.alloc(32, 2).toString('base64')}`, classes: ['approval'] },
          { key: `ed25519:${Buffer.alloc(32, 2).toString('base64')}`, classes: ['control'] },
        ],
      }),
      'body.config.signers.1.key',
    ],
    [
      'an agent declared without a command',
      config({
        agents: {
          catalogue: {
            agents: {
              greeter: { image: 'x', command: [], capabilityProfile: { role: 'greeter', capabilities: [] } },
            },
          },
          beat: 'greeter',
        },
      }),
      'body.config.agents.catalogue.agents.greeter.command',
    ],
    [
      'an agent environment reference outside the secrets folder',
      config({
        agents: {
          catalogue: {
            agents: {
              greeter: {
                image: 'x',
                command: ['node'],
                env: { KEY: { file: '../keys/orchestrator.key' } },
                capabilityProfile: { role: 'greeter', capabilities: [] },
              },
            },
          },
        },
      }),
      'body.config.agents.catalogue.agents.greeter.env.KEY.file',
    ],
    [
      'a beat agent no catalogue declares',
      config({ agents: { beat: 'summariser' } }),
      'body.config.agents.beat',
    ],
    [
      'a plan task whose agent no catalogue declares',
      config({ plan: { tasks: [{ id: 'sum', agent: 'summariser' }] } }),
      'body.config.plan.tasks.0.agent',
    ],
    [
      'a plan task listed twice',
      config({
        plan: {
          tasks: [
            { id: 'index', agent: 'indexer' },
            { id: 'index', agent: 'reviewer' },
          ],
        },
      }),
      'body.config.plan.tasks.1.id',
    ],
    [
      'a plan task after a task the plan does not have',
      config({ plan: { tasks: [{ id: 'review', agent: 'reviewer', after: ['index'] }] } }),
      'body.config.plan.tasks.0.after.0',
    ],
    [
      'plan tasks that run after each other in a cycle',
      config({
        plan: {
          tasks: [
            { id: 'index', agent: 'indexer', after: ['review'] },
            { id: 'review', agent: 'reviewer', after: ['index'] },
          ],
        },
      }),
      'body.config.plan.tasks',
    ],
    [
      'a plan and a beat agent both',
      config({ agents: { beat: 'indexer' }, plan: { tasks: [{ id: 'index', agent: 'indexer' }] } }),
      'body.config.agents.beat',
    ],
  ];
  for (const [name, bad, field] of refused) {
    test(`${name}: 400 naming ${field}, and no mission`, async () => {
      const id = randomUUID();
      const res = await fx.as.operator.startMission({ ...prompt(id), config: bad });
      expect(res.status).toBe(400);
      if (!res.ok) expect(fieldsOf(res.body)).toContain(field);
      expect((await fx.as.viewer.getMission(id)).status).toBe(404);
    });
  }
});

describe("declaring agents is the owner's call (docs/agents.md)", () => {
  const catalogue = {
    agents: {
      greeter: {
        image: 'registry.example.org/swoosh/greeter:1',
        command: ['node', '-e', 'console.log("hello")'],
        capabilityProfile: { role: 'greeter', capabilities: ['greet'] },
      },
    },
  };

  test('an operator declaring an agent is a 403 naming body.config.agents.catalogue, and no mission', async () => {
    const id = randomUUID();
    const res = await fx.as.operator.startMission({
      ...prompt(id),
      config: config({ maxBeats: 1, agents: { catalogue, beat: 'greeter' } }),
    });
    expect(res.status).toBe(403);
    if (!res.ok) expect(fieldsOf(res.body)).toEqual(['body.config.agents.catalogue']);
    expect((await fx.as.viewer.getMission(id)).status).toBe(404);
  });

  test('an owner may declare one; an operator may name an agent of the default catalogue', async () => {
    const owned = await fx.as.owner.startMission({
      ...prompt(randomUUID()),
      config: config({ maxBeats: 1, agents: { catalogue, beat: 'greeter' } }),
    });
    expect(owned.status).toBe(201);
    const steered = await fx.as.operator.startMission({
      ...prompt(randomUUID()),
      config: config({ maxBeats: 1, agents: { beat: 'indexer' } }),
    });
    expect(steered.status).toBe(201);
  });
});

describe('one mission id, one prompt and one config', () => {
  test('the same config again is the same mission; another config is a 409 and changes nothing', async () => {
    const id = randomUUID();
    const first = await fx.as.operator.startMission({ ...prompt(id), config: config() });
    expect(first.status).toBe(201);
    const again = await fx.as.operator.startMission({ ...prompt(id), config: config() });
    expect(again.status).toBe(200);
    const other = await fx.as.operator.startMission({ ...prompt(id), config: config({ maxBeats: 3 }) });
    expect(other.status).toBe(409);
    if (!other.ok) expect(other.body.detail).toContain('different config');
    const none = await fx.as.operator.startMission(prompt(id));
    expect(none.status).toBe(409);
    // An absent config and `{}` mean the same defaults.
    const plain = randomUUID();
    expect((await fx.as.operator.startMission(prompt(plain))).status).toBe(201);
    expect((await fx.as.operator.startMission({ ...prompt(plain), config: {} })).status).toBe(200);
  });
});

describe('input that reaches the workflow past the gateway', () => {
  test('fails the mission at once with the reason; reads answer at once with it', async () => {
    const id = randomUUID();
    // Straight to Temporal, as any client with access could: the gateway never saw this config.
    const handle = await fx.env.client.workflow.start('missionWorkflow', {
      workflowId: missionWorkflowId(id),
      taskQueue: fx.taskQueue,
      args: [
        prompt(id),
        { config: { schedule: { ...FAST, phases: { PLAN: 1, WORK: 1, REVIEW: 1, REVERB: 1 } } } },
      ],
    });
    const failure = await handle.result().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe(INVALID_MISSION_INPUT);
    expect(cause?.message).toContain('config.schedule.phases: phase fractions sum to 4, not 1');

    const read = await fx.as.viewer.getMission(id);
    expect(read.status).toBe(409);
    if (!read.ok) expect(read.body.detail).toContain('phase fractions sum to 4');
    const vote = await fx.as.agent.vote(id, {
      member: 'm',
      council_set_hash: `sha256-${'0'.repeat(64)}`,
      signature: Buffer.alloc(64).toString('base64'),
    });
    expect(vote.status).toBe(409);
    // A proposal is sent without asking first; the update's "not found" is explained the same way.
    const propose = await fx.as.agent.propose(
      proposalSigner(id, newSigner(), FAST)(`sha256-${'0'.repeat(64)}`, 'Control_Pause', { reason: 'late' }),
    );
    expect(propose.status).toBe(409);
    if (!propose.ok) expect(propose.body.detail).toContain('phase fractions sum to 4');
    const health = await eventually(
      () => fx.as.viewer.health(),
      (r) => r.ok && r.body.checks.missions.failedRecently.includes(id),
      15_000,
    );
    expect(health.ok && health.body.checks.missions.failedRecently).toContain(id);
  });
});

describe('a mission whose workflow task keeps failing', () => {
  test('is reported by /health and answered 503 at once, never 504 or 500', async () => {
    const taskQueue = taskQueueFor('gateway-broken-missions');
    const worker = await Worker.create({
      connection: fx.env.nativeConnection,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('./support/broken-mission-workflow.ts', import.meta.url)),
    });
    const auth = new Authenticator({
      tokens: [
        { name: 'test-viewer', role: 'viewer', token: fx.tokens.viewer },
        { name: 'test-agent', role: 'agent', token: fx.tokens.agent },
      ],
    });
    let running: RunningGateway | undefined;
    await worker.runUntil(async () => {
      const gateway = createGateway({
        client: fx.env.client,
        taskQueue,
        auth,
        dataDir: fx.dataDir,
        accessLog: () => undefined,
      });
      running = await startGateway(gateway, { host: '127.0.0.1', port: 0, graceMs: 1_000 });
      const viewer = new SwooshClient(running.url).as(fx.tokens.viewer);
      const id = randomUUID();
      await fx.env.client.workflow.start('missionWorkflow', {
        workflowId: missionWorkflowId(id),
        taskQueue,
        args: [prompt(id)],
      });
      const health = await eventually(
        () => viewer.health(),
        (r) => r.ok && r.body.checks.missions.failingTasks.includes(id),
        30_000,
      );
      expect(health.ok && health.body).toMatchObject({
        status: 'degraded',
        checks: { missions: { ok: false, failingTasks: [id] } },
      });
      const read = await viewer.getMission(id);
      expect(read.status).toBe(503);
      if (!read.ok)
        expect(read.body.detail).toMatch(/workflow task has failed .*boom: this build cannot run missions/);
      // A proposal is sent before the mission is asked about; still unanswered a second later, it
      // is checked, and told 503, not left to the 30-second deadline. Its retry finds the first
      // update admitted and waiting, and is told the same.
      const agent = new SwooshClient(running.url).as(fx.tokens.agent);
      const proposal = proposalSigner(id, newSigner(), FAST)(`sha256-${'0'.repeat(64)}`, 'Control_Pause', {
        reason: 'broken',
      });
      for (const attempt of [await agent.propose(proposal), await agent.propose(proposal)]) {
        expect(attempt.status).toBe(503);
        if (!attempt.ok) expect(attempt.body.detail).toMatch(/workflow task has failed/);
      }
      await fx.env.client.workflow.getHandle(missionWorkflowId(id)).terminate('test finished');
    });
    await running?.close();
  });
});

describe('proposals (issue 13, smaller findings)', () => {
  test('a retried proposal is answered duplicate: true with the first outcome, and applied once', async () => {
    const ledger = await ledgerGrowth(fx, held.id);
    const proposal = held.proposal(await held.head(), 'Policy_Update', {
      policy_version: 'retry',
      rationale: 'retried',
    });
    const first = await fx.as.agent.propose(proposal);
    expect(first.status).toBe(202);
    const retry = await fx.as.agent.propose(proposal);
    expect(retry.status).toBe(202);
    if (!first.ok || !retry.ok) throw new Error('unreachable');
    expect(first.body.duplicate).toBe(false);
    expect(retry.body).toEqual({ ...first.body, duplicate: true });
    expect(await ledger.added()).toEqual([proposal.idem_key]);
  });

  test('a proposal sent to another mission than its idem_key names is a 400 naming the mismatch', async () => {
    const other = randomUUID();
    const proposal = held.proposal(await held.head(), 'Policy_Update', {
      policy_version: 'x',
      rationale: 'misaddressed',
    });
    const res = await fx.as.agent.propose(proposal, other);
    expect(res.status).toBe(400);
    if (!res.ok) {
      expect(fieldsOf(res.body)).toEqual(['body.idem_key', 'query.mission']);
      expect(res.body.detail).toContain(`names mission ${held.id}, not ${other}`);
    }
    const approval = await fx.as.agent.approve(
      other,
      held.proposal(await held.head(), 'Execution_Approve', { decision: 'approve' }),
    );
    expect(approval.status).toBe(400);
    if (!approval.ok) expect(fieldsOf(approval.body)).toContain('body.idem_key');
  });

  test('a reroute to a task queue no worker polls is sent with a warning; to a polled one, without', async () => {
    const reroute = (taskQueue: string | null, reason: string) =>
      sendOwnerCommand(
        fx.as.owner,
        coSign(
          draftOwnerCommand({ action: 'reroute', taskQueue }, { actor: 'test-owner', reason }),
          ownerKey,
        ),
      );
    const nowhere = await reroute('nobody-polls-this-queue', 'try a new pool');
    expect(nowhere.status).toBe(202);
    expect(nowhere.ok && nowhere.body.warnings).toEqual([
      expect.stringContaining('no worker polls task queue nobody-polls-this-queue'),
    ]);
    const polled = await reroute(fx.taskQueue, 'back to a polled pool');
    expect(polled.status).toBe(202);
    expect(polled.ok && polled.body.warnings).toBeUndefined();
    expect((await reroute(null, 'back home')).status).toBe(202);
  });
});

describe('the data folder', () => {
  test('everything the worker and the gateway wrote there is owner-only, whatever the umask', async () => {
    // The test process keeps the usual 022 umask; the worker and gateway binaries set 077, this
    // fixture does not, so only explicit modes keep the files private here. Inside an agent run's
    // work and tmp folders (owner-only themselves) the agent's own files take the umask: a tool's
    // cache is the agent's business, and no one else can enter those folders.
    const entries: { path: string; mode: number }[] = [];
    const agentOwn = /^agent-jobs\/[^/]+\/(work|tmp)\/./;
    // An agent run's folder is removed once its run is cleaned up, which may happen mid-walk:
    // what is gone by the time it is looked at is not checked, everything else is.
    const gone = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';
    const walk = async (dir: string): Promise<void> => {
      const listed = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
        if (gone(error)) return [];
        throw error;
      });
      for (const entry of listed) {
        const path = join(dir, entry.name);
        const stat = await lstat(path).catch((error: unknown) => {
          if (gone(error)) return undefined;
          throw error;
        });
        if (stat === undefined) continue;
        entries.push({ path: relative(fx.dataDir, path), mode: stat.mode & 0o777 });
        if (entry.isDirectory()) await walk(path);
      }
    };
    await walk(fx.dataDir);
    const names = entries.map((e) => e.path);
    for (const part of ['ledger', 'evidence', 'workspaces', 'keys'])
      expect(
        names.some((n) => n === part || n.startsWith(`${part}/`)),
        part,
      ).toBe(true);
    expect(entries.filter((e) => (e.mode & 0o077) !== 0 && !agentOwn.test(e.path))).toEqual([]);
  });
});
