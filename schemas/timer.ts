/**
 * Durable timers (docs/design.md#timers): what a caller submits to create a timer, what the gateway answers
 * about one, dead letters, and the list queries. The timer shards validate against the same
 * schemas, so a request that reaches a shard by another path than the gateway is held to the
 * same contract.
 */
import { z } from 'zod';
import { anyCase } from './json-schema';
import { TimerCreator } from './timer-targets';

/** A year: anything longer is a calendar entry, not a timer, and would pin shard state for it. */
export const MAX_DELAY_MS = 366 * 24 * 60 * 60 * 1000;
/** Longest chain one request may carry; each link is a nested object in the body. */
export const MAX_CHAIN_LENGTH = 50;
/** Most escalation rungs after the timer's own action. */
export const MAX_ESCALATION_RUNGS = 10;

/** The path segments under /timers that are routes, not timers. */
const RESERVED_IDS = new Set(['dead-letters', 'events']);

/**
 * Timer ids are chosen by the caller (that is what makes create idempotent). `~` is left out so
 * it can separate the parts of a list cursor.
 */
export const TimerId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
    'must be 1-128 characters from A-Z a-z 0-9 . _ : - and start with a letter or digit',
  )
  .refine((id) => !RESERVED_IDS.has(id), 'is reserved')
  // The refinement as JSON Schema, so /openapi.json says what the gateway refuses.
  .meta({ not: { enum: [...RESERVED_IDS] } });
export type TimerId = z.infer<typeof TimerId>;

/** Headers SWOOSH sets itself on a webhook; a caller may not forge or override them. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
]);

const HeaderName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'must be an HTTP header name')
  .refine((name) => {
    const lower = name.toLowerCase();
    return !RESERVED_HEADERS.has(lower) && !lower.startsWith('x-swoosh-');
  }, 'is set by SWOOSH')
  .meta({
    not: { pattern: `^(?:${[...RESERVED_HEADERS].map(anyCase).join('|')}$|${anyCase('x-swoosh-')})` },
  });

const HeaderValue = z
  .string()
  .max(4096)
  .regex(/^[^\r\n\0]*$/, 'must not contain line breaks');

// Checked, not trimmed: a shard re-validates the very value it stores, so parsing must not alter it.
// A pattern rather than a refinement, so /openapi.json states it (`\s` is what trim() removes).
const UNPADDED = /^\S(?:[\s\S]*\S)?$/;
const unpadded = (max: number) =>
  z.string().max(max).regex(UNPADDED, 'must not be empty or padded with spaces');
const WorkflowId = unpadded(1000);
const HandlerName = unpadded(255);
const Args = z.array(z.json()).max(16);

export const WebhookAction = z.strictObject({
  type: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  headers: z
    .record(HeaderName, HeaderValue, {
      // zod reports a bad key as "Invalid key in record"; say what a key must be instead.
      error: (issue) =>
        issue.code === 'invalid_key' ? 'must be a header name SWOOSH does not set' : undefined,
    })
    .refine((headers) => Object.keys(headers).length <= 20, 'at most 20 headers')
    .meta({ maxProperties: 20 })
    .optional(),
  /** Carried in the signed body as `payload`. */
  payload: z.json().optional(),
});

export const SignalAction = z.strictObject({
  type: z.literal('signal'),
  workflowId: WorkflowId,
  signalName: HandlerName,
  args: Args.optional(),
});

export const UpdateAction = z.strictObject({
  type: z.literal('update'),
  workflowId: WorkflowId,
  updateName: HandlerName,
  args: Args.optional(),
});

export const TimerAction = z.discriminatedUnion('type', [WebhookAction, SignalAction, UpdateAction]);
export type TimerAction = z.infer<typeof TimerAction>;

/** Delivery retries, driven by the shard (see docs/timers.md for why not the activity's policy). */
export const RetryPolicy = z.strictObject({
  maxAttempts: z.int().min(1).max(20).optional(),
  initialIntervalMs: z.int().min(100).max(3_600_000).optional(),
  backoffCoefficient: z.number().min(1).max(10).optional(),
  maxIntervalMs: z.int().min(100).max(86_400_000).optional(),
});
export type RetryPolicy = z.infer<typeof RetryPolicy>;

export const DEFAULT_RETRY = {
  maxAttempts: 5,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maxIntervalMs: 60_000,
} as const satisfies Required<RetryPolicy>;

/** A rung of an escalation ladder: run `action` if the timer is not acknowledged within `afterMs`. */
export const Escalation = z.strictObject({
  afterMs: z.int().min(1).max(MAX_DELAY_MS),
  action: TimerAction,
  get escalation(): z.ZodOptional<typeof Escalation> {
    return Escalation.optional();
  },
});
export type Escalation = z.infer<typeof Escalation>;

/**
 * One timer. `delayMs` counts from when the shard accepts the timer, or for a chained timer from
 * its predecessor's firing; `dueAt` is absolute. Exactly one of them is given.
 */
export const TimerSpec = z
  .strictObject({
    id: TimerId,
    dueAt: z.iso.datetime({ offset: true }).optional(),
    delayMs: z.int().min(0).max(MAX_DELAY_MS).optional(),
    action: TimerAction,
    retry: RetryPolicy.optional(),
    /** Fire only after every one of these timers has fired (and not before `dueAt`). */
    dependsOn: z
      .array(TimerId)
      .max(32)
      .refine((ids) => new Set(ids).size === ids.length, 'must not repeat an id')
      .meta({ uniqueItems: true })
      .optional(),
    /** Created when this timer fires. */
    get chain(): z.ZodOptional<typeof TimerSpec> {
      return TimerSpec.optional();
    },
    escalation: Escalation.optional(),
  })
  // The first check below as JSON Schema; the second compares two fields, which JSON Schema cannot.
  .meta({ oneOf: [{ required: ['dueAt'] }, { required: ['delayMs'] }] })
  .superRefine((spec, ctx) => {
    if ((spec.dueAt === undefined) === (spec.delayMs === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['dueAt'],
        message: 'exactly one of dueAt and delayMs is required',
      });
    }
    if (spec.dependsOn?.includes(spec.id)) {
      ctx.addIssue({ code: 'custom', path: ['dependsOn'], message: 'must not include the timer itself' });
    }
  });
export type TimerSpec = z.infer<typeof TimerSpec>;

/** A create request: a TimerSpec whose chain and escalation ladder stay within bounds. */
export const CreateTimerRequest = TimerSpec.superRefine((spec, ctx) => {
  const ids = new Set<string>();
  let link: TimerSpec | undefined = spec;
  const path: string[] = [];
  for (let length = 0; link; length++, link = link.chain, path.push('chain')) {
    if (length === MAX_CHAIN_LENGTH) {
      ctx.addIssue({ code: 'custom', path, message: `a chain holds at most ${MAX_CHAIN_LENGTH} timers` });
      return;
    }
    if (ids.has(link.id)) {
      ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: 'repeats an id earlier in the chain' });
    }
    ids.add(link.id);
    let rungs = 0;
    for (let rung = link.escalation; rung; rung = rung.escalation) rungs++;
    if (rungs > MAX_ESCALATION_RUNGS) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'escalation'],
        message: `an escalation ladder has at most ${MAX_ESCALATION_RUNGS} rungs`,
      });
    }
  }
});
export type CreateTimerRequest = z.infer<typeof CreateTimerRequest>;

export const TimerState = z.enum([
  'Scheduled',
  'Armed',
  'Fired',
  'Settled',
  'Cancelled',
  'Escalated',
  'DeadLettered',
]);
export type TimerState = z.infer<typeof TimerState>;

const Instant = z.iso.datetime({ offset: true });

/**
 * An action as reported back: header values are dropped (they often carry credentials), only
 * their names are kept.
 */
export const RedactedAction = z.discriminatedUnion('type', [
  WebhookAction.omit({ headers: true }).extend({ headerNames: z.array(z.string()).optional() }),
  SignalAction,
  UpdateAction,
]);
export type RedactedAction = z.infer<typeof RedactedAction>;

/** Header values often carry credentials; records and dead letters keep only the names. */
export function redact(action: TimerAction): RedactedAction {
  if (action.type !== 'webhook') return action;
  const { headers, ...rest } = action;
  return headers ? { ...rest, headerNames: Object.keys(headers) } : rest;
}

export const TimerRecord = z.object({
  id: TimerId,
  shard: z.int().min(0),
  state: TimerState,
  /** Whose authority the timer's actions run with: the token that created it (or its chain). */
  createdBy: TimerCreator.optional(),
  /**
   * The timer ledger (`timer-shard-<n>`) that holds this closed timer's full record; present when
   * its shard keeps only a digest of it (docs/timers.md#compact-shards), and then `action`,
   * `dependsOn`, `waitingOn`, `escalationRungs`, `armedAt`, `ackDeadline`, `escalatedAt` and
   * `lastError` are absent: the ledger record has them.
   */
  archivedIn: z.string().optional(),
  /**
   * Held by the parked-timer store, not yet by its shard: it is due later than the park-after
   * setting, and its shard takes it back a minute before it is due (docs/timers.md#parked-timers).
   */
  parked: z.literal(true).optional(),
  /** The spec's digest (`sha256-<hex>` of its canonical JSON), on an archived timer. */
  specHash: z.string().optional(),
  action: RedactedAction.optional(),
  dependsOn: z.array(TimerId).optional(),
  /** Dependencies that have not fired yet. */
  waitingOn: z.array(TimerId).optional(),
  chainedFrom: TimerId.optional(),
  chainsTo: TimerId.optional(),
  escalationRungs: z.int().min(0).optional(),
  /** 0 while the timer's own action is due; n once the n-th escalation rung ran. */
  escalationLevel: z.int().min(0),
  createdAt: Instant,
  dueAt: Instant,
  /** When the last dependency fired, for a timer with dependencies. */
  readyAt: Instant.optional(),
  armedAt: Instant.optional(),
  firedAt: Instant.optional(),
  /** firedAt − max(dueAt, readyAt): how late the shard fired the timer. */
  latenessMs: z.int().optional(),
  /**
   * The owner halt (pause-all command id) this timer fell due under: it fired or escalated only
   * when the halt was lifted, and `latenessMs` counts the wait.
   */
  heldByHalt: z.string().optional(),
  deliveryId: z.string().optional(),
  /** Delivery attempts of the current rung. */
  attempts: z.int().min(0),
  deliveredAt: Instant.optional(),
  /** Escalation happens if no acknowledgement arrives by then. */
  ackDeadline: Instant.optional(),
  escalatedAt: Instant.optional(),
  settledAt: Instant.optional(),
  settledBy: z.enum(['ack', 'delivery']).optional(),
  /** The token name of whoever acknowledged the timer. */
  ackedBy: z.string().optional(),
  cancelledAt: Instant.optional(),
  cancelReason: z.string().optional(),
  deadLetteredAt: Instant.optional(),
  lastError: z.string().optional(),
  replays: z.int().min(0),
});
export type TimerRecord = z.infer<typeof TimerRecord>;

/** A delivery that exhausted its retries (or was refused outright); kept until replayed or cancelled. */
export const DeadLetter = z.object({
  /** Unique per dead-lettering: a replayed timer that fails again gets a new one. */
  deadLetterId: z.string(),
  timerId: TimerId,
  shard: z.int().min(0),
  escalationLevel: z.int().min(0),
  deliveryId: z.string(),
  action: RedactedAction,
  attempts: z.int().min(1),
  lastError: z.string(),
  dueAt: Instant,
  firedAt: Instant,
  deadLetteredAt: Instant,
});
export type DeadLetter = z.infer<typeof DeadLetter>;

export const TimerIdParam = z.strictObject({ id: TimerId });

/** `<epoch ms>~<id>`: the sort key of the last item seen, so paging is stable across shards. */
export const ListCursor = z
  .string()
  .regex(/^\d{1,16}~[A-Za-z0-9._:-]{1,128}$/, 'must be a cursor returned by a previous page')
  .transform((cursor) => {
    const at = cursor.indexOf('~');
    return { at: Number(cursor.slice(0, at)), id: cursor.slice(at + 1) };
  });
export type ListCursor = z.output<typeof ListCursor>;

export function encodeCursor(at: number, id: string): string {
  return `${at}~${id}`;
}

const Limit = z.coerce.number().int().min(1).max(1000).default(100);

/** GET /timers: ordered by due time, then id. */
export const TimerListQuery = z.strictObject({
  state: TimerState.optional(),
  limit: Limit,
  after: ListCursor.optional(),
});
export type TimerListQuery = z.output<typeof TimerListQuery>;

/** GET /timers/dead-letters: ordered by when the delivery was given up, then id. */
export const DeadLetterListQuery = z.strictObject({ limit: Limit, after: ListCursor.optional() });
export type DeadLetterListQuery = z.output<typeof DeadLetterListQuery>;

/** Who acknowledges is the authenticated caller (recorded as `ackedBy`), never a body field. */
export const AckRequest = z.strictObject(
  {},
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? 'the acknowledging actor is your token; send {}' : undefined,
  },
);
export const ReplayRequest = z.strictObject({});

export const TimerCreated = z.object({ created: z.boolean(), timer: TimerRecord });
export type TimerCreated = z.infer<typeof TimerCreated>;

export const TimerPage = z.object({ timers: z.array(TimerRecord), next: z.string().optional() });
export const DeadLetterPage = z.object({ deadLetters: z.array(DeadLetter), next: z.string().optional() });
