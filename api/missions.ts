/** Mission operations on Temporal, kept apart from HTTP so the REST and A2A routes share them. */
import { createHash, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  type Client,
  isGrpcDeadlineError,
  isGrpcServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import proto, { type temporal } from '@temporalio/proto';
import type { MissionListQuery, MissionPage, MissionSummary, TransitionAccepted } from '../schemas/api';
import {
  missionWorkflowId,
  type MissionPrompt,
  type MissionStarted,
  type MissionView,
  TASK_PRIORITY_KEY,
  TRANSITION_REJECTED,
  type TransitionRejection,
  type TransitionRequest,
} from '../schemas/mission';
import { type MissionConfig, MissionConfigInput } from '../schemas/mission-config';
import { canonicalJson } from '../schemas/canonical-json';
import type { SignedOwnerCommand } from '../schemas/owner-controls';
import type { TransitionProposal } from '../schemas/proposal';
import { MissionIdKey, PhaseKey, PriorityKey } from '../schemas/search-attributes';
import {
  proposalBreachUpdate,
  screenProposalUpdate,
  stateQuery,
  transitionUpdate,
} from '../schemas/mission-messages';
import { missingEvidence, type PolicyDocument, secretsInValue } from '../schemas/policy';
import { queryWorkflow } from './workflow-queries';
import {
  PROPOSAL_BREACH_CONFIRMED,
  type ProposalBreachReport,
  type ProposalFinding,
} from '../schemas/proposal-breach';

export class MissionConflictError extends Error {}
export class MissionNotFoundError extends Error {}
/** Temporal did not answer in time: no worker polls, or the service is overloaded. */
export class MissionTimeoutError extends Error {}
export class BadPageTokenError extends Error {}
/**
 * The mission exists but cannot answer: it has ended (409, with how and why), or its workflow
 * task keeps failing (503, with the last failure). Said at once rather than after a timeout.
 */
export class MissionUnavailableError extends Error {
  constructor(
    message: string,
    readonly status: 409 | 503,
    readonly title: string,
    /** Temporal's execution status, e.g. FAILED, RUNNING. */
    readonly missionStatus: string,
  ) {
    super(message);
  }
}

/** A workflow task that has failed this many times in a row is failing, not unlucky. */
const FAILING_TASK_ATTEMPTS = 2;

/** A query or update that waits longer than this is answered 504 rather than held open. */
const CALL_DEADLINE_MS = 30_000;

/**
 * Runs a Temporal call under a deadline and turns the two failures a caller can act on into
 * errors of their own: an unknown mission (404) and no answer in time (504).
 */
export async function onMission<T>(client: Client, missionId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await client.withDeadline(Date.now() + CALL_DEADLINE_MS, call);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new MissionNotFoundError(`mission ${missionId} not found`);
    if (isGrpcDeadlineError(err)) {
      throw new MissionTimeoutError(
        `mission ${missionId} did not answer within ${CALL_DEADLINE_MS / 1000} s`,
      );
    }
    throw err;
  }
}

/**
 * Identifies a mission's config: the hash of its canonical JSON once defaults are filled in, so an
 * absent config and `{}` are the same config and any difference in meaning is not.
 */
export function configFingerprint(config: MissionConfig | undefined): string {
  const full = config ?? MissionConfigInput.parse({});
  return `sha256-${createHash('sha256').update(canonicalJson(full)).digest('hex')}`;
}

/**
 * Starts `missionWorkflow` for a prompt, exactly once per mission id: a repeat with the same
 * prompt and config returns the existing run, a repeat with a different prompt or config is a
 * conflict. The prompt and the config's fingerprint are kept in the memo so the comparison needs
 * no worker. (Missions started before the fingerprint was kept are compared by prompt alone.)
 * `controllers` are the keys the mission will accept owner commands from (api/owner-signing.ts).
 */
export async function startMission(
  client: Client,
  taskQueue: string,
  prompt: MissionPrompt,
  config?: MissionConfig,
  controllers?: string[],
  /** The deployment's halt (a signed broadcast pause): the mission starts PAUSED by it. */
  halt?: SignedOwnerCommand | null,
): Promise<MissionStarted> {
  const workflowId = missionWorkflowId(prompt.id);
  const configHash = configFingerprint(config);
  try {
    const handle = await client.workflow.start('missionWorkflow', {
      workflowId,
      taskQueue,
      args: [
        prompt,
        {
          ...(config !== undefined && { config }),
          ...(controllers !== undefined && { controllers }),
          ...(halt && { halt }),
        },
      ],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      // A P0 mission's tasks are dispatched before a backlog of P2 ones (README "Priority").
      priority: { priorityKey: TASK_PRIORITY_KEY[prompt.priority] },
      typedSearchAttributes: [
        { key: MissionIdKey, value: prompt.id },
        { key: PhaseKey, value: 'UNINITIALIZED' },
        { key: PriorityKey, value: prompt.priority },
      ],
      memo: { prompt, configHash },
      staticSummary: `${prompt.priority} mission: ${prompt.objective.slice(0, 120)}`,
      staticDetails: `Objective: ${prompt.objective}\n\nSpec: ${prompt.originatingSpec}\n\nCreated: ${prompt.createdAt}`,
    });
    return { workflowId, runId: handle.firstExecutionRunId, created: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const existing = await client.workflow.getHandle(workflowId).describe();
    if (!isDeepStrictEqual(existing.memo?.prompt, prompt)) {
      throw new MissionConflictError(`mission ${prompt.id} already exists with a different prompt`);
    }
    const recorded = existing.memo?.configHash;
    if (recorded !== undefined && recorded !== configHash) {
      throw new MissionConflictError(`mission ${prompt.id} already exists with a different config`);
    }
    return { workflowId, runId: existing.runId, created: false };
  }
}

/**
 * Throws MissionUnavailableError unless the mission can answer a query or an update now: it must
 * be running with a workflow task that is not failing (a completed mission may still be read when
 * `reading`). One describe call, so a broken mission is reported in milliseconds, not after the
 * 30-second deadline of a query that no worker can answer.
 */
export async function assertAnswering(client: Client, missionId: string, reading = false): Promise<void> {
  const handle = client.workflow.getHandle(missionWorkflowId(missionId));
  const described = await onMission(client, missionId, () => handle.describe());
  const status = described.status.name;
  if (status === 'RUNNING') {
    const attempt = described.raw.pendingWorkflowTask?.attempt ?? 0;
    if (attempt < FAILING_TASK_ATTEMPTS) return;
    const reason = await lastTaskFailure(client, missionWorkflowId(missionId));
    throw new MissionUnavailableError(
      `mission ${missionId} is not answering: its workflow task has failed ${attempt - 1} time(s) in a row` +
        (reason ? ` (last: ${reason})` : ''),
      503,
      'Mission not answering',
      status,
    );
  }
  if (status === 'COMPLETED' && reading) return;
  const why = status === 'COMPLETED' ? 'it completed' : await closeReason(handle, status);
  throw new MissionUnavailableError(
    `mission ${missionId} has ended (${status}): ${why}`,
    409,
    status === 'FAILED' ? 'Mission failed' : 'Mission ended',
    status,
  );
}

/** Why a closed mission ended: its failure's message, or the termination reason. */
async function closeReason(handle: { result(): Promise<unknown> }, status: string): Promise<string> {
  try {
    await handle.result();
    return status.toLowerCase();
  } catch (error) {
    const cause = error instanceof Error ? (error.cause ?? error) : error;
    return cause instanceof Error ? cause.message.slice(0, 2000) : String(cause).slice(0, 2000);
  }
}

/** The message of the newest WorkflowTaskFailed event, if one is among the last few. */
async function lastTaskFailure(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    const page = await client.withDeadline(Date.now() + 5_000, () =>
      client.workflowService.getWorkflowExecutionHistoryReverse({
        namespace: client.options.namespace,
        execution: { workflowId },
        maximumPageSize: 20,
      }),
    );
    for (const event of page.history?.events ?? []) {
      const message = event.workflowTaskFailedEventAttributes?.failure?.message;
      if (message) return message.split('\n')[0]!.slice(0, 500);
    }
  } catch {
    // The reason is a courtesy: the status alone already answers the caller.
  }
  return undefined;
}

/** The mission's current state, read from the workflow itself through the state query. */
export async function readMission(client: Client, missionId: string): Promise<MissionView> {
  await assertAnswering(client, missionId, true);
  return onMission(client, missionId, () =>
    queryWorkflow(() => client.workflow.getHandle(missionWorkflowId(missionId)).query(stateQuery)),
  );
}

/** Throws MissionNotFoundError unless the mission's workflow exists (in any status). */
export async function assertMissionExists(client: Client, missionId: string): Promise<void> {
  await onMission(client, missionId, () =>
    client.workflow.getHandle(missionWorkflowId(missionId)).describe(),
  );
}

/** How long an update may go unanswered before the gateway asks whether its mission can answer. */
const ANSWERING_CHECK_AFTER_MS = 1_000;

/**
 * Waits for a call to a running mission, and tells why a mission cannot answer without asking on
 * every call (a describe cost about as much as the update it guarded): a call that fails as "not
 * found" is explained by `assertAnswering` (an ended mission is a 409, an unknown one stays a
 * 404), and one still unanswered after a second is checked once, so a mission whose workflow task
 * keeps failing is a 503 then instead of a 504 after the deadline. An update answered so has been
 * admitted: it applies if the mission recovers, and a retry with its update id is answered its
 * outcome.
 */
async function whileAnswering<T>(client: Client, missionId: string, call: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const unanswering = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Only a verdict on the mission ends the wait; a check that itself failed leaves the call be.
      void assertAnswering(client, missionId).catch((error: unknown) => {
        if (error instanceof MissionUnavailableError) reject(error);
      });
    }, ANSWERING_CHECK_AFTER_MS);
  });
  // Settles only to say the mission cannot answer; once the call has answered nobody listens.
  unanswering.catch(() => undefined);
  try {
    return await Promise.race([call, unanswering]);
  } catch (error) {
    if (error instanceof MissionNotFoundError) await assertAnswering(client, missionId);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

export type ProposalOutcome =
  | { kind: 'accepted'; outcome: TransitionAccepted }
  | { kind: 'rejected'; failing_guard: string; reasons: string[] }
  | { kind: 'stale'; failing_guard: string; reasons: string[]; current_hash: string }
  | {
      kind: 'secret';
      failing_guard: 'policy-scan';
      reasons: string[];
      findings: ProposalFinding[];
      quarantined: boolean;
    };

/**
 * Routes a proposal to the mission's `transition` update with update id = idem_key, so Temporal
 * deduplicates retries (concurrent ones included) and answers each with the first outcome; the
 * request id sent with it tells this call's answer from a repeat's. A rejection by the update's
 * validator never reaches the workflow's history. A proposal the policy's secret rules match is
 * never sent as a transition (its inputs would be written to history): it is screened instead
 * (`screenProposal`).
 */
export async function proposeTransition(
  client: Client,
  missionId: string,
  proposal: TransitionProposal,
  policy: PolicyDocument,
): Promise<ProposalOutcome> {
  const secrets = [
    ...secretsInValue(policy, proposal.inputs, 'inputs'),
    ...secretsInValue(policy, proposal.evidence, 'evidence'),
  ];
  if (secrets.length > 0) {
    const findings = secrets.map((f) => ({ rule_id: f.ruleId, pattern: f.pattern, field: f.at }));
    const screened = await screenProposal(client, missionId, proposal, findings);
    const found = findings.map((f) => `${f.rule_id} (${f.pattern}) at ${f.field}`);
    const outcome = screened.quarantined
      ? 'the mission is QUARANTINED'
      : `the mission is not quarantined: ${screened.reasons.join('; ')}`;
    return {
      kind: 'secret',
      failing_guard: 'policy-scan',
      reasons: [`a secret-like value: ${found.join('; ')}`, outcome],
      findings,
      quarantined: screened.quarantined,
    };
  }
  const handle = client.workflow.getHandle(missionWorkflowId(missionId));
  // Not sent without the evidence the policy requires: nothing of it reaches the mission.
  const missing = missingEvidence(policy, proposal.transition, proposal.evidence);
  if (missing.length > 0) return { kind: 'rejected', failing_guard: 'policy-scan', reasons: missing };
  const request: TransitionRequest = { request_id: randomUUID() };
  try {
    const { request_id, ...outcome } = await whileAnswering(
      client,
      missionId,
      onMission(client, missionId, () =>
        handle.executeUpdate(transitionUpdate, { args: [proposal, request], updateId: proposal.idem_key }),
      ),
    );
    // Every sender of one update id is answered the first outcome, so another request's id in it
    // means this one repeated a proposal already sent. An outcome naming none (its first sender
    // named none, or a worker from before request ids answered it) says only what the mission's
    // idempotency table says.
    const repeated = request_id !== undefined && request_id !== request.request_id;
    return { kind: 'accepted', outcome: { ...outcome, duplicate: outcome.duplicate || repeated } };
  } catch (error) {
    if (!(error instanceof WorkflowUpdateFailedError)) throw error;
    const rejection = rejectionOf(error);
    // Not a refusal (the update failed for another reason, e.g. its worker died mid-way): the
    // proposal may have been applied, so the caller must not be told it was refused.
    if (rejection === undefined) throw error;
    if (rejection.failing_guard === 'concurrency') {
      return {
        kind: 'stale',
        failing_guard: 'concurrency',
        reasons: rejection.reasons,
        current_hash: rejection.head,
      };
    }
    return {
      kind: 'rejected',
      failing_guard: rejection.failing_guard,
      reasons: rejection.reasons,
    };
  }
}

const STATUS_PREFIX = 'WORKFLOW_EXECUTION_STATUS_';
/** gRPC status 3, as Temporal answers a continuation token it cannot read. */
const GRPC_INVALID_ARGUMENT = 3;

/** The visibility query of a listing; filters are enum-validated, so they quote safely. */
export function missionListQuery(taskQueue: string, filters: { phase?: string; priority?: string }): string {
  const clauses = [`WorkflowType = 'missionWorkflow'`, `TaskQueue = '${taskQueue}'`];
  if (filters.phase) clauses.push(`${PhaseKey.name} = '${filters.phase}'`);
  if (filters.priority) clauses.push(`${PriorityKey.name} = '${filters.priority}'`);
  return clauses.join(' AND ');
}

/**
 * Page tokens wrap Temporal's continuation with a fingerprint of the query it belongs to, so a
 * token replayed with other filters is refused instead of silently paging a different listing.
 */
function encodePageToken(query: string, next: Uint8Array): string {
  return Buffer.from(
    JSON.stringify({ q: fingerprint(query), t: Buffer.from(next).toString('base64') }),
  ).toString('base64url');
}

function decodePageToken(query: string, token: string): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new BadPageTokenError('is not a token this gateway issued');
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw new BadPageTokenError('is not a token this gateway issued');
  const { q, t } = parsed as { q?: unknown; t?: unknown };
  if (typeof q !== 'string' || typeof t !== 'string')
    throw new BadPageTokenError('is not a token this gateway issued');
  if (q !== fingerprint(query)) throw new BadPageTokenError('belongs to a listing with other filters');
  return Buffer.from(t, 'base64');
}

function fingerprint(query: string): string {
  return createHash('sha256').update(query).digest('hex').slice(0, 16);
}

/** A page of missions from Temporal visibility (eventually consistent), newest first. */
export async function listMissions(
  client: Client,
  taskQueue: string,
  q: MissionListQuery,
): Promise<MissionPage> {
  const query = missionListQuery(taskQueue, q);
  const nextPageToken = q.pageToken === undefined ? Buffer.alloc(0) : decodePageToken(query, q.pageToken);
  let response: temporal.api.workflowservice.v1.ListWorkflowExecutionsResponse;
  try {
    response = await client.withDeadline(Date.now() + CALL_DEADLINE_MS, () =>
      client.workflowService.listWorkflowExecutions({
        namespace: client.options.namespace,
        query,
        pageSize: q.pageSize,
        nextPageToken,
      }),
    );
  } catch (err) {
    // Temporal refuses a continuation it cannot read with INVALID_ARGUMENT.
    if (
      q.pageToken !== undefined &&
      isGrpcServiceError(err) &&
      (err.code as number) === GRPC_INVALID_ARGUMENT
    ) {
      throw new BadPageTokenError('is not valid (expired or altered)');
    }
    throw err;
  }
  const missions = response.executions.map(summaryOf);
  const next = response.nextPageToken;
  return {
    missions,
    ...(next && next.length > 0 && { nextPageToken: encodePageToken(query, next) }),
  };
}

function summaryOf(raw: temporal.api.workflow.v1.IWorkflowExecutionInfo): MissionSummary {
  const attributes = decodeTypedSearchAttributes(raw.searchAttributes?.indexedFields);
  const memoPrompt = raw.memo?.fields?.prompt;
  const prompt = memoPrompt
    ? defaultPayloadConverter.fromPayload<Partial<MissionPrompt>>(memoPrompt)
    : undefined;
  const status = proto.temporal.api.enums.v1.WorkflowExecutionStatus[raw.status ?? 0] ?? 'UNKNOWN';
  const workflowId = raw.execution?.workflowId ?? '';
  return {
    missionId: attributes.get(MissionIdKey) ?? workflowId.replace(/^mission-/, ''),
    workflowId,
    runId: raw.execution?.runId ?? '',
    status: status.startsWith(STATUS_PREFIX) ? status.slice(STATUS_PREFIX.length) : status,
    phase: attributes.get(PhaseKey) ?? null,
    priority: attributes.get(PriorityKey) ?? prompt?.priority ?? null,
    objective: typeof prompt?.objective === 'string' ? prompt.objective : null,
    startTime: (optionalTsToDate(raw.startTime) ?? new Date(0)).toISOString(),
  };
}

/** Whether a proposal with a secret in it quarantined its mission, and if not, why. */
export type ScreeningOutcome = { quarantined: true } | { quarantined: false; reasons: string[] };

/**
 * A proposal the policy scan found secrets in, which must not reach history: the mission's
 * `screenProposal` validator checks its signature, signer and HEAD and always refuses it; only
 * when it confirmed the breach is the secret-free report sent on, which quarantines the mission
 * (workflows/mission/proposal-breach.ts). An anonymous or foreign signer quarantines nothing.
 */
async function screenProposal(
  client: Client,
  missionId: string,
  proposal: TransitionProposal,
  findings: ProposalFinding[],
): Promise<ScreeningOutcome> {
  const handle = client.workflow.getHandle(missionWorkflowId(missionId));
  await assertAnswering(client, missionId);
  let report: ProposalBreachReport | undefined;
  try {
    await onMission(client, missionId, () =>
      handle.executeUpdate(screenProposalUpdate, { args: [{ proposal, findings }] }),
    );
  } catch (error) {
    if (!(error instanceof WorkflowUpdateFailedError) || !(error.cause instanceof ApplicationFailure))
      throw error;
    const cause = error.cause;
    if (cause.type === PROPOSAL_BREACH_CONFIRMED) report = cause.details?.[0] as ProposalBreachReport;
    else if (cause.type === TRANSITION_REJECTED)
      return { quarantined: false, reasons: (cause.details?.[0] as TransitionRejection).reasons };
    else throw error;
  }
  if (report === undefined) throw new Error('screenProposal was accepted, which it never is');
  const confirmed = report;
  try {
    const { quarantined } = await onMission(client, missionId, () =>
      handle.executeUpdate(proposalBreachUpdate, {
        args: [confirmed],
        updateId: `proposal-breach:${confirmed.proposal_hash}`,
      }),
    );
    return quarantined ? { quarantined } : { quarantined, reasons: ['the mission is already QUARANTINED'] };
  } catch (error) {
    if (!(error instanceof WorkflowUpdateFailedError)) throw error;
    const rejection = rejectionOf(error);
    if (rejection === undefined) throw error;
    return { quarantined: false, reasons: rejection.reasons };
  }
}

/** The mission's refusal in a failed update, or undefined when anything else failed. */
export function rejectionOf(error: unknown): TransitionRejection | undefined {
  const cause = error instanceof WorkflowUpdateFailedError ? error.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === TRANSITION_REJECTED
    ? (cause.details?.[0] as TransitionRejection | undefined)
    : undefined;
}
