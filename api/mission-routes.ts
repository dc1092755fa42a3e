/**
 * Missions, transitions, state projections, votes, approvals and single-mission control over
 * REST (docs/design.md#proposals, docs/design.md#interfaces). Handlers get parsed input only and throw MissionNotFoundError /
 * MissionTimeoutError, which the app turns into 404 / 504.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Response } from 'express';
import {
  Accepted,
  ApprovalRequest,
  ControlRequest,
  MissionListQuery,
  MissionPage,
  MissionStartRequest,
  Problem,
  StaleHashProblem,
  StateQuery,
  StateResponse,
  TransitionAccepted,
  TransitionQuery,
  TransitionBadRequest,
  VoteTally,
} from '../schemas/api';
import { MissionIdParam, MissionStarted, MissionView, missionWorkflowId } from '../schemas/mission';
import {
  parseIdemKey,
  type TransitionProposal,
  TransitionProposalSchema,
  VoteSchema,
} from '../schemas/proposal';
import { controlSignal, voteUpdate } from '../schemas/mission-messages';
import { loadPolicyFile } from '../host/policy';
import { ALL_ROLES } from './auth';
import {
  assertAnswering,
  listMissions,
  MissionConflictError,
  onMission,
  proposeTransition,
  readMission,
  startMission,
} from './missions';
import type { HaltKeeper } from './owner-controls';
import type { OwnerCommandSigning } from './owner-signing';
import { sendProblem } from './problem';
import type { ApiRegistry, Refusal } from './routes';

export interface MissionRouteDeps {
  client: Client;
  taskQueue: string;
  signing: OwnerCommandSigning;
  /** The deployment's halt, which missions started here start under. */
  halts: HaltKeeper;
  /** The SHHH policy proposals are scanned with before they reach a mission (the worker's). */
  policyFile: string;
}

const STEERS = ['operator', 'owner'] as const;
const PROPOSES = ['agent', 'operator', 'owner'] as const;

const notFound = { description: 'Unknown mission', schema: Problem };
const timeout = { description: 'The mission did not answer in time (is a worker running?)', schema: Problem };
/** Refusals of a schema-valid proposal: a guard, and an HLC outside 1970-01-01T00:00Z…9999. */
const proposalRefusals: Refusal[] = [
  { field: '^body$', title: 'Transition rejected', reason: 'refused by a guard: `failing_guard`, `reasons`' },
  { field: '^body\\.hlc$', reason: 'not a valid calendar instant (before 1970-01-01T00:00Z)' },
  {
    field: '^body\\.(?:inputs|evidence)\\b',
    title: 'Secret in proposal',
    reason:
      'a value the SHHH policy’s secret rules match (reason: rule id and pattern); `quarantined` says whether the mission was, which it is only when the signature verifies for one of its signers',
  },
];
const MISSION = '6f1c2a4e-8d3b-4b8e-9a51-3c2f7d9e0a11';
/** A proposal in the right format (the signature of an example is not a real one). */
const proposalExample = (transition: string, opClass: string, inputs: Record<string, unknown>) => ({
  current_state_hash: `sha256-${'3b'.repeat(32)}`,
  transition,
  inputs_hash: `sha256-${'a7'.repeat(32)}`,
  signer: 'ed25519:YW4gZXhhbXBsZSBlZDI1NTE5IHB1YmxpYyBrZXkhISE=',
  idem_key: `${MISSION}:3:${opClass}:0b7e4a52-3f0c-4c8e-9d61-2a5b7c9e1f30`,
  hlc: '2026-11-23T09:30:00.000+00:00#12',
  window_id: 'backbeat:W-2026-11-23-02',
  evidence: ['ucxl://swoosh:6f1c2a4e@execution/Execution_Submit/41'],
  inputs,
  signature: 'YW4gZXhhbXBsZSBlZDI1NTE5IHNpZ25hdHVyZSBvdmVyIHRoZSBjYW5vbmljYWwgcHJvcG9zYWwgYnl0ZXMhIQ==',
});

export function mountMissionRoutes(
  api: ApiRegistry,
  { client, taskQueue, signing, halts, policyFile }: MissionRouteDeps,
): void {
  api.route({
    method: 'post',
    path: '/missions',
    operationId: 'startMission',
    tag: 'Missions',
    summary: 'Start a mission (idempotent per mission id)',
    access: STEERS,
    body: MissionStartRequest,
    example: {
      id: MISSION,
      objective: 'Index the onboarding docs',
      priority: 'P1',
      originatingSpec: 'https://specs.example.org/onboarding',
      createdAt: '2026-11-23T09:00:00Z',
      config: { maxBeats: 3 },
    },
    responses: {
      201: { description: 'Started', schema: MissionStarted },
      200: { description: 'The same prompt again: the existing run', schema: MissionStarted },
      400: {
        description: 'Invalid prompt or a config the mission could not run, naming the field',
        schema: Problem,
        refusals: [
          {
            field:
              '^body\\.config\\.(schedule(\\..+)?|quorumSize|approvalsRequired|signers\\.\\d+\\.(key|classes\\.\\d+)|council\\.members\\.\\d+\\.(id|key)|agents\\.beat|plan\\.tasks(\\.\\d+\\.(id|agent|after\\.\\d+))?)$',
            reason:
              'a config the mission could not run: phase fractions summing to 1, a bar between 4 ms and a day, backoff bounds, a quorum and approvals the council and signers can reach, keys and member ids listed once, known transition classes, a beat agent and plan agents the catalogue declares, plan tasks listed once that follow tasks of the plan without a cycle',
          },
          {
            field: '^body\\.config\\.agents\\.catalogue\\.agents\\.[^.]+\\.env\\.[^.]+$',
            reason: 'SWOOSH_* variables are the agent contract, set by SWOOSH',
          },
        ],
      },
      403: {
        description: 'Not an owner, yet declaring agents (docs/agents.md)',
        schema: Problem,
        refusals: [
          {
            field: '^body\\.config\\.agents\\.catalogue$',
            reason: 'only an owner may declare agents: a declaration is a command the workers run',
          },
        ],
      },
      409: { description: 'The id is taken by a different prompt or config', schema: Problem },
    },
    handler: async ({ body, principal }, res) => {
      // A declaration is a command the workers run: naming a default-catalogue agent is steering,
      // declaring a new one is the owner's call (docs/agents.md#a-missions-agents).
      if (body.config?.agents?.catalogue !== undefined && principal?.role !== 'owner') {
        const reason = 'only an owner may declare agents: a declaration is a command the workers run';
        return sendProblem(res, {
          status: 403,
          title: 'Owner only',
          detail: `body.config.agents.catalogue: ${reason}`,
          errors: [{ field: 'body.config.agents.catalogue', reason }],
        });
      }
      try {
        const { config, ...prompt } = body;
        // A mission started while the deployment is halted starts PAUSED by the halt's own pause.
        const { halt } = await halts.current();
        const started = await startMission(
          client,
          taskQueue,
          prompt,
          config,
          await signing.controllers(),
          halt,
        );
        if (started.created && halt === null) await halts.catchUp(started.workflowId);
        res.status(started.created ? 201 : 200).json(started);
      } catch (err) {
        if (!(err instanceof MissionConflictError)) throw err;
        sendProblem(res, { status: 409, title: 'Mission conflict', detail: err.message });
      }
    },
  });

  api.route({
    method: 'get',
    path: '/missions',
    operationId: 'listMissions',
    tag: 'Missions',
    summary: 'List missions from Temporal visibility, newest first',
    description:
      'Filter by `phase` and `priority`; page with `pageToken` from the previous answer (a token only works with ' +
      'the filters it was issued for). Visibility trails the workflows by moments.',
    access: ALL_ROLES,
    query: MissionListQuery,
    responses: {
      200: { description: 'A page of missions', schema: MissionPage },
      400: {
        description: 'Invalid request: `errors` names each field',
        schema: Problem,
        refusals: [
          {
            field: '^query\\.pageToken$',
            reason: 'not issued by this gateway, altered, or for other filters',
          },
        ],
      },
    },
    handler: async ({ query }, res) => {
      res.json(await listMissions(client, taskQueue, query));
    },
  });

  api.route({
    method: 'get',
    path: '/missions/:id',
    operationId: 'getMission',
    tag: 'Missions',
    summary: "The mission's state, read from its workflow",
    access: ALL_ROLES,
    params: MissionIdParam,
    responses: { 200: { description: 'The mission', schema: MissionView }, 404: notFound, 504: timeout },
    handler: async ({ params }, res) => {
      res.json(await readMission(client, params.id));
    },
  });

  api.route({
    method: 'post',
    path: '/transition',
    operationId: 'proposeTransition',
    tag: 'Transitions',
    summary: 'Propose a signed transition (docs/design.md#proposals)',
    description:
      'Routed to the mission’s `transition` update with update id = `idem_key`: a repeat (even concurrent) gets ' +
      'the first outcome. The mission is `?mission=` or the idem_key’s goalId. A rejected proposal changes nothing.',
    access: PROPOSES,
    query: TransitionQuery,
    body: TransitionProposalSchema,
    example: proposalExample('Policy_Update', 'policy', {
      policy_version: 'v7',
      rationale: 'new scan rules',
    }),
    responses: {
      202: { description: 'Applied: post-state hash and decision record id', schema: TransitionAccepted },
      400: {
        description: 'Invalid, or refused by a guard (`failing_guard`, `reasons`)',
        schema: TransitionBadRequest,
        refusals: [
          ...proposalRefusals,
          { field: '^query\\.mission$', reason: 'no ?mission and the idem_key goalId is not a mission id' },
        ],
      },
      404: notFound,
      409: { description: '`current_state_hash` is not HEAD; `current_hash` is', schema: StaleHashProblem },
      504: timeout,
    },
    handler: async ({ query, body }, res) => {
      if (refuseMismatch(res, query.mission, body, 'query.mission')) return;
      const mission = query.mission ?? parseIdemKey(body.idem_key)?.goalId;
      if (!mission || !MissionIdParam.shape.id.safeParse(mission).success) {
        return sendProblem(res, {
          status: 400,
          title: 'Invalid request',
          detail: 'query.mission: name the mission with ?mission=<id> or use its id as the idem_key goalId',
          errors: [{ field: 'query.mission', reason: 'missing' }],
        });
      }
      await answerProposal(res, client, policyFile, mission, body);
    },
  });

  api.route({
    method: 'post',
    path: '/missions/:id/approvals',
    operationId: 'approve',
    tag: 'Transitions',
    summary: 'Approve the current beat’s evidence: a signed Execution_Approve proposal',
    access: PROPOSES,
    params: MissionIdParam,
    body: ApprovalRequest,
    example: proposalExample('Execution_Approve', 'approval', {}),
    responses: {
      202: { description: 'Approval recorded', schema: TransitionAccepted },
      400: {
        description: 'Invalid, or refused by a guard',
        schema: TransitionBadRequest,
        refusals: proposalRefusals,
      },
      404: notFound,
      409: { description: 'Stale `current_state_hash`', schema: StaleHashProblem },
      504: timeout,
    },
    handler: async ({ params, body }, res) => {
      if (refuseMismatch(res, params.id, body, 'params.id')) return;
      await answerProposal(res, client, policyFile, params.id, body);
    },
  });

  api.route({
    method: 'get',
    path: '/state',
    operationId: 'getState',
    tag: 'Transitions',
    summary: 'HEAD and a projection of the state document',
    description:
      '`projection` lists regions, comma-separated, any case (e.g. `Council,Ingestion`); default all.',
    access: ALL_ROLES,
    query: StateQuery,
    responses: {
      200: { description: 'HEAD and the projected regions', schema: StateResponse },
      404: notFound,
      409: { description: 'The mission predates the statechart', schema: Problem },
      504: timeout,
    },
    handler: async ({ query }, res) => {
      const view = await readMission(client, query.mission);
      if (view.state === undefined || view.hash === undefined) {
        return sendProblem(res, {
          status: 409,
          title: 'No state',
          detail: 'mission predates the statechart',
        });
      }
      const state = view.state;
      res.json({
        hash: view.hash,
        phase: view.phase,
        projection: Object.fromEntries(query.projection.map((n) => [n, state[n]])),
      });
    },
  });

  api.route({
    method: 'post',
    path: '/missions/:id/votes',
    operationId: 'vote',
    tag: 'Transitions',
    summary: 'A council member’s signed vote for the elected member set',
    description:
      'Refused before it reaches history when forged, from a non-member, or for another member set.',
    access: PROPOSES,
    params: MissionIdParam,
    body: VoteSchema,
    example: {
      member: 'reviewer-1',
      council_set_hash: `sha256-${'5c'.repeat(32)}`,
      signature: 'YW4gZXhhbXBsZSBlZDI1NTE5IHNpZ25hdHVyZSBvdmVyIHRoZSBjYW5vbmljYWwgcHJvcG9zYWwgYnl0ZXMhIQ==',
    },
    responses: {
      202: { description: 'Counted', schema: VoteTally },
      400: {
        description: 'Invalid or refused',
        schema: Problem,
        refusals: [
          {
            field: '^body$',
            title: 'Vote rejected',
            reason: 'forged, from a non-member, or another member set',
          },
        ],
      },
      404: notFound,
      504: timeout,
    },
    handler: async ({ params, body }, res) => {
      await assertAnswering(client, params.id);
      try {
        const tally = await onMission(client, params.id, () =>
          client.workflow.getHandle(missionWorkflowId(params.id)).executeUpdate(voteUpdate, { args: [body] }),
        );
        res.status(202).json(tally);
      } catch (error) {
        if (!(error instanceof WorkflowUpdateFailedError)) throw error;
        const reason = error.cause?.message ?? error.message;
        sendProblem(res, {
          status: 400,
          title: 'Vote rejected',
          detail: reason,
          errors: [{ field: 'body', reason }],
        });
      }
    },
  });

  api.route({
    method: 'post',
    path: '/missions/:id/control',
    operationId: 'controlMission',
    tag: 'Owner controls',
    summary: 'Pause or resume one mission',
    description:
      'Signed by the gateway for this mission, applied by the orchestrator with its own key and recorded in the ledger with the caller as actor.',
    access: STEERS,
    params: MissionIdParam,
    body: ControlRequest,
    example: { action: 'pause', reason: 'waiting for the licence renewal' },
    responses: { 202: { description: 'Delivered', schema: Accepted }, 404: notFound, 504: timeout },
    handler: async ({ params, body, principal }, res) => {
      await assertAnswering(client, params.id);
      const { action, reason } = body;
      const command = await signing.sign(
        { action, reason, actor: principal!.name, id: `control-${randomUUID()}` },
        params.id,
      );
      await onMission(client, params.id, () =>
        client.workflow.getHandle(missionWorkflowId(params.id)).signal(controlSignal, command),
      );
      res.status(202).json({ accepted: true });
    },
  });
}

/**
 * A proposal's idem_key names the mission it was signed for (its goalId); sent to another mission
 * it is a caller's mistake to name, not a stale hash. True when it refused the request.
 */
function refuseMismatch(
  res: Response,
  mission: string | undefined,
  proposal: TransitionProposal,
  field: string,
): boolean {
  const goal = parseIdemKey(proposal.idem_key)?.goalId;
  // Only a goalId that is a mission id can name the wrong mission.
  if (mission === undefined || goal === undefined || !MissionIdParam.shape.id.safeParse(goal).success)
    return false;
  if (goal.toLowerCase() === mission.toLowerCase()) return false;
  const reason = `the proposal's idem_key names mission ${goal}, not ${mission}`;
  sendProblem(res, {
    status: 400,
    title: 'Invalid request',
    detail: `body.idem_key: ${reason}`,
    errors: [
      { field: 'body.idem_key', reason },
      { field, reason: `names mission ${mission}` },
    ],
  });
  return true;
}

async function answerProposal(
  res: Response,
  client: Client,
  policyFile: string,
  mission: string,
  proposal: TransitionProposal,
) {
  const { document } = await loadPolicyFile(policyFile);
  const result = await proposeTransition(client, mission, proposal, document);
  if (result.kind === 'accepted') {
    res.status(202).json(result.outcome);
    return;
  }
  if (result.kind === 'secret') {
    // Fields and rules only: the value is the secret.
    const { failing_guard, reasons, quarantined, findings } = result;
    sendProblem(res, {
      status: 400,
      title: 'Secret in proposal',
      detail: `rejected by ${failing_guard}: ${reasons.join('; ')}`,
      errors: findings.map((f) => ({ field: `body.${f.field}`, reason: `${f.rule_id}: ${f.pattern}` })),
      failing_guard,
      reasons,
      quarantined,
    });
    return;
  }
  const { kind, ...details } = result;
  const detail = `rejected by ${details.failing_guard}: ${details.reasons.join('; ')}`;
  sendProblem(res, {
    status: kind === 'stale' ? 409 : 400,
    title: kind === 'stale' ? 'Stale state hash' : 'Transition rejected',
    detail,
    errors: [{ field: kind === 'stale' ? 'body.current_state_hash' : 'body', reason: detail }],
    ...details,
  });
}
