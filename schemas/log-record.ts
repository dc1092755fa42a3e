/**
 * The transition log line contract (docs/design.md#observability): one JSON object per line, one line per transition
 * decision. The workflow helper (workflows/observability.ts) builds the transition fields; the
 * worker's JSON-lines logger (workers/telemetry.ts) adds `ts`, `level`, `msg` and the context
 * Temporal attaches to workflow logs. Lines are strict objects so that nothing beyond these fields
 * — no signature, no key material, no raw inputs — can slip into the log.
 */
import { z } from 'zod';

const Sha256 = z.string().regex(/^sha256-[0-9a-f]{64}$/, 'expected sha256-<64 hex>');

/** Messages the transition helper logs; log processors select transition lines by them. */
export const TRANSITION_LOG_MESSAGES = {
  accepted: 'transition accepted',
  rejected: 'transition rejected',
} as const;

/**
 * The value of `transition`, `region`, `hlc` or `window_id` on a rejection whose proposal carried
 * no usable one (a `schema` rejection). A string, not null: Temporal's logger drops null fields,
 * and these fields must always be present.
 */
export const UNKNOWN_FIELD = 'unknown';

/** The fields of an accepted or rejected transition, as the workflow helper emits them. */
const TransitionFields = {
  mission: z.string().min(1),
  region: z.string().min(1),
  transition: z.string().min(1),
  state_pre_hash: Sha256,
  /** For a rejection, equal to `state_pre_hash`: a rejected proposal changes nothing. */
  state_post_hash: Sha256,
  hlc: z.string().min(1),
  window_id: z.string().min(1),
};

export const AcceptedTransitionLogSchema = z.strictObject({
  outcome: z.literal('accepted'),
  ...TransitionFields,
  decision_id: z.string().min(1),
  seq: z.number().int().nonnegative(),
  /** Guards that ran, each `name` for a pass; the ledger holds their reasons. */
  guards: z.array(z.string()),
  evidence: z.array(z.string()),
});

export const RejectedTransitionLogSchema = z.strictObject({
  outcome: z.literal('rejected'),
  ...TransitionFields,
  failing_guard: z.string().min(1),
  reasons: z.array(z.string()),
});

export const TransitionLogFieldsSchema = z.discriminatedUnion('outcome', [
  AcceptedTransitionLogSchema,
  RejectedTransitionLogSchema,
]);
export type AcceptedTransitionLog = z.infer<typeof AcceptedTransitionLogSchema>;
export type RejectedTransitionLog = z.infer<typeof RejectedTransitionLogSchema>;
export type TransitionLogFields = z.infer<typeof TransitionLogFieldsSchema>;

/** What every JSON line carries, whatever logged it. */
export const LogEnvelopeSchema = z.object({
  /** ISO-8601 wall-clock time the worker wrote the line. */
  ts: z.iso.datetime(),
  level: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']),
  msg: z.string(),
});

/** Context the SDK attaches to workflow log calls (and the OTel interceptor's trace ids). */
const WorkflowContextFields = {
  sdkComponent: z.literal('workflow'),
  namespace: z.string(),
  taskQueue: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  workflowType: z.string(),
  /** Present when the line was logged from an update handler or validator. */
  updateId: z.string().optional(),
  updateName: z.string().optional(),
  trace_id: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional(),
  span_id: z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .optional(),
  trace_flags: z.string().optional(),
};

/** A complete transition line as it appears on the worker's stdout. */
export const TransitionLogLineSchema = z.discriminatedUnion('outcome', [
  z.strictObject({
    ...LogEnvelopeSchema.shape,
    msg: z.literal(TRANSITION_LOG_MESSAGES.accepted),
    ...WorkflowContextFields,
    ...AcceptedTransitionLogSchema.shape,
  }),
  z.strictObject({
    ...LogEnvelopeSchema.shape,
    msg: z.literal(TRANSITION_LOG_MESSAGES.rejected),
    ...WorkflowContextFields,
    ...RejectedTransitionLogSchema.shape,
  }),
]);
export type TransitionLogLine = z.infer<typeof TransitionLogLineSchema>;
