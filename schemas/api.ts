/**
 * The REST gateway's request and response contracts (docs/design.md#interfaces) that are not contracts of their own
 * elsewhere: the gateway validates with these and the OpenAPI document is generated from them.
 */
import { z } from 'zod';
import { anyCase } from './json-schema';
import { MissionPhase, MissionPrompt, Priority } from './mission';
import { RunnableMissionConfig } from './mission-config';
import { ControlCommand, LatencyBudgetsChange, OwnerReason, TaskQueueName } from './owner-controls';
import { Sha256Schema, TransitionProposalSchema } from './proposal';

export const FieldProblem = z.object({ field: z.string(), reason: z.string() });

/** RFC 9457 problem details; every error names the field and the reason, never a stack trace. */
export const Problem = z.object({
  type: z.string(),
  status: z.int(),
  title: z.string(),
  detail: z.string(),
  errors: z.array(FieldProblem).optional(),
});

/** Opaque continuation of a listing, as returned by the previous page. */
export const PageToken = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be a pageToken returned by a previous page');

/**
 * A MissionPrompt, optionally with the mission's config (signers, council, schedule…); a config
 * the workflow could not run is refused here, naming the field.
 */
export const MissionStartRequest = MissionPrompt.extend({ config: RunnableMissionConfig.optional() });

export const MissionListQuery = z.strictObject({
  phase: MissionPhase.optional(),
  priority: Priority.optional(),
  pageSize: z.coerce.number().int().min(1).max(100).default(20),
  pageToken: PageToken.optional(),
});
export type MissionListQuery = z.output<typeof MissionListQuery>;

export const MissionSummary = z.object({
  missionId: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  /** Temporal's execution status, e.g. RUNNING, COMPLETED. */
  status: z.string(),
  /** The phase last published to visibility (it trails the workflow by moments). */
  phase: z.string().nullable(),
  priority: z.string().nullable(),
  objective: z.string().nullable(),
  startTime: z.iso.datetime({ offset: true }),
});
export type MissionSummary = z.infer<typeof MissionSummary>;

export const MissionPage = z.object({
  missions: z.array(MissionSummary),
  nextPageToken: PageToken.optional(),
});
export type MissionPage = z.infer<typeof MissionPage>;

export const TransitionQuery = z.strictObject({ mission: z.uuid().optional() });

/** 202: the proposal was applied (or is a repeat of one that was: the first outcome). */
export const TransitionAccepted = z.object({
  post_hash: Sha256Schema,
  /** The decision record's UCXL id, `ucxl://swoosh:<mission>@<region>/<transition>/<seq>`. */
  decision_id: z.string(),
  duplicate: z.boolean(),
});
export type TransitionAccepted = z.infer<typeof TransitionAccepted>;

/** 400 from a guard: nothing changed. */
export const TransitionRejectedProblem = Problem.extend({
  failing_guard: z.string(),
  reasons: z.array(z.string()),
});

/** 400 for a secret in a proposal (docs/design.md#guards): refused, and the mission quarantined or not. */
export const SecretProposalProblem = TransitionRejectedProblem.extend({ quarantined: z.boolean() });

/** 400 on a proposal: a guard's refusal, or a body that is not a valid proposal at all. */
export const TransitionBadRequest = z.union([SecretProposalProblem, TransitionRejectedProblem, Problem]);

/** 409: `current_state_hash` is not HEAD; re-read and resubmit against `current_hash`. */
export const StaleHashProblem = TransitionRejectedProblem.extend({ current_hash: z.string() });

/** An approval: a signed `Execution_Approve` proposal (docs/design.md#proposals), nothing else. */
export const ApprovalRequest = TransitionProposalSchema.extend({
  transition: z.literal('Execution_Approve', { error: 'an approval is an Execution_Approve proposal' }),
});

const REGION_NAMES = [
  'boot',
  'ingestion',
  'council',
  'environment',
  'execution',
  'control',
  'policy',
  'terminal',
] as const;

/**
 * Region names, any case, comma-separated, blanks around them and empty items ignored: the same
 * rule as the transform below, as a pattern so /openapi.json states it.
 */
// Blanks before a name and after it are matched by different parts, so the pattern never has two
// ways to match the same text (two adjacent `\s*` would backtrack exponentially over many items).
const PROJECTION_ITEM = `\\s*(?:(?:${REGION_NAMES.map(anyCase).join('|')})\\s*)?`;
const PROJECTION_PATTERN = new RegExp(`^${PROJECTION_ITEM}(?:,${PROJECTION_ITEM})*$`);

export const StateQuery = z.strictObject({
  mission: z.uuid(),
  projection: z
    .string()
    .max(200)
    .regex(
      PROJECTION_PATTERN,
      `projection names regions: ${REGION_NAMES.join(', ')} (any case, comma-separated)`,
    )
    .optional()
    .transform((s) =>
      s
        ? s
            .split(',')
            .map((p) => p.trim().toLowerCase())
            .filter(Boolean)
        : [...REGION_NAMES],
    ),
});

export const StateResponse = z.object({
  hash: Sha256Schema,
  phase: MissionPhase,
  projection: z.record(z.string(), z.unknown()),
});

export const VoteTally = z.object({ accepted: z.int(), required: z.int() });

/** Pause or resume one mission; the gateway adds the caller as `actor`. */
export const ControlRequest = ControlCommand.omit({ actor: true }).extend({ reason: OwnerReason });

export const Accepted = z.object({ accepted: z.literal(true) });

/** Owner controls over every running mission of this deployment (a batch over visibility). */
export const OwnerPauseRequest = z.strictObject({ reason: OwnerReason });
export const OwnerRerouteRequest = z.strictObject({
  reason: OwnerReason,
  /** Task queue of future agent work; null sends it back to each mission's own queue. */
  taskQueue: TaskQueueName.nullable(),
});
export const OwnerLatencyRequest = z.strictObject({ reason: OwnerReason, budgets: LatencyBudgetsChange });

export const OwnerBatchResult = z.object({
  /** The command id every mission received; a mission applies a command id once. */
  commandId: z.string(),
  action: z.enum(['pause', 'resume', 'reroute', 'latency']),
  actor: z.string(),
  /** The registered owner keys whose signatures the gateway verified. */
  signers: z.array(z.string()),
  /** The visibility query the batch ran over. */
  query: z.string(),
  signalled: z.array(z.string()),
  /** Missions that ended between the listing and the signal. */
  skipped: z.array(z.string()),
  /** Missions whose signal Temporal refused or did not answer: send the same commandId again. */
  failed: z.array(z.object({ workflowId: z.string(), reason: z.string() })),
  /** Things the owner should know, e.g. a reroute to a task queue no worker polls. */
  warnings: z.array(z.string()).optional(),
  /**
   * Pause-all and resume-all only: the timer shards that took the halt or its lift, and those that
   * did not (send the same commandId again). A halted shard fires nothing until the lift.
   */
  timerShards: z
    .object({
      updated: z.array(z.int().min(0)),
      failed: z.array(z.object({ shard: z.int().min(0), reason: z.string() })),
    })
    .optional(),
});
export type OwnerBatchResult = z.infer<typeof OwnerBatchResult>;

/**
 * 502 for a batch that did not reach every mission. Retrying with its `commandId` reaches the rest;
 * missions that already applied the command ignore it.
 */
export const OwnerBatchIncomplete = Problem.extend(OwnerBatchResult.shape);

/** One access log line (stdout, JSON): never a token, a body or a query string. */
export const AccessLogLine = z.strictObject({
  ts: z.iso.datetime(),
  level: z.enum(['INFO', 'WARN', 'ERROR']),
  msg: z.enum(['request', 'request failed']),
  method: z.string(),
  /** The route pattern (`/missions/:id`), or the bare path for an unknown route. */
  route: z.string(),
  status: z.int(),
  durationMs: z.number(),
  principal: z.string().nullable(),
  role: z.string().nullable(),
  remote: z.string().nullable(),
  requestId: z.string(),
  error: z.string().optional(),
});
export type AccessLogLine = z.infer<typeof AccessLogLine>;
