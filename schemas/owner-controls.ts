/**
 * Owner controls (issue 6, AGI-Jobs style): commands an owner sends to running missions — pause,
 * resume, reroute future agent work to another task queue, change latency budgets — usually in a
 * batch over a visibility query. The mission workflow parses every command with these schemas
 * (signals cannot be refused, so a command that does not parse is logged and dropped), applies it
 * to future work only, and records it in the mission's decision ledger with `actor` and `reason`.
 */
import { z } from 'zod';

/** Who gave the command: the gateway's authenticated principal (token name), never a secret. */
export const Actor = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200)
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} ._:@/+-]*$/u, 'letters, digits, space and . _ : @ / + - only');
export type Actor = z.infer<typeof Actor>;

/** `\S` after trimming is what `min(1)` means there, and unlike it survives into JSON Schema. */
export const OwnerReason = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(1024)
  .regex(/\S/, 'must not be empty');

/** A Temporal task queue name as workers poll it. */
export const TaskQueueName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'letters, digits and . _ : / - only');

/**
 * Latency classes: `short` = quick bookkeeping calls (identity, signing, evidence, deprovision),
 * `io` = calls that touch files or services (fetch, validate, index, licence, policy scan,
 * provision, health checks), `agent` = one agent job's active deadline.
 */
export const LATENCY_CLASSES = ['short', 'io', 'agent'] as const;
export type LatencyClass = (typeof LATENCY_CLASSES)[number];

/**
 * Sane bounds in seconds: below the minimum a healthy call times out; above the maximum a stuck
 * call holds a mission for too long before its retry policy gets a chance.
 */
export const LATENCY_BOUNDS_SECONDS: Record<LatencyClass, { min: number; max: number }> = {
  short: { min: 1, max: 600 },
  io: { min: 5, max: 3_600 },
  agent: { min: 30, max: 86_400 },
};

/** The budgets a mission starts with (the start-to-close timeouts it used before owner controls). */
export const DEFAULT_LATENCY_BUDGETS: Record<LatencyClass, number> = { short: 30, io: 120, agent: 300 };

const seconds = (c: LatencyClass) =>
  z
    .int()
    .min(LATENCY_BOUNDS_SECONDS[c].min, `at least ${LATENCY_BOUNDS_SECONDS[c].min} s for ${c} calls`)
    .max(LATENCY_BOUNDS_SECONDS[c].max, `at most ${LATENCY_BOUNDS_SECONDS[c].max} s for ${c} calls`);

export const LatencyBudgets = z.strictObject({
  short: seconds('short'),
  io: seconds('io'),
  agent: seconds('agent'),
});
export type LatencyBudgets = z.infer<typeof LatencyBudgets>;

/** A change of some classes' budgets (start-to-close timeouts, seconds); the others keep theirs. */
export const LatencyBudgetsChange = LatencyBudgets.partial()
  .refine((b) => Object.keys(b).length > 0, { message: 'name at least one latency class' })
  .meta({ minProperties: 1 });

/** Identifies one owner command; a command delivered twice (a retried batch) is applied once. */
export const OwnerCommandId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits and . _ : - only');

const Common = { id: OwnerCommandId, actor: Actor, reason: OwnerReason };

export const PauseCommand = z.strictObject({ action: z.literal('pause'), ...Common });
export const ResumeCommand = z.strictObject({ action: z.literal('resume'), ...Common });
/** Future agent jobs (their child workflows and activities) run on `taskQueue`; null = the mission's own. */
export const RerouteCommand = z.strictObject({
  action: z.literal('reroute'),
  ...Common,
  taskQueue: TaskQueueName.nullable(),
});
export const LatencyCommand = z.strictObject({
  action: z.literal('latency'),
  ...Common,
  budgets: LatencyBudgetsChange,
});

/** The payload of the `ownerControl` signal (`ownerControlSignal` in schemas/mission-messages.ts). */
export const OwnerControlCommand = z.discriminatedUnion('action', [
  PauseCommand,
  ResumeCommand,
  RerouteCommand,
  LatencyCommand,
]);
export type OwnerControlCommand = z.infer<typeof OwnerControlCommand>;
export type OwnerControlAction = OwnerControlCommand['action'];

/**
 * The payload of the older `control` signal (pause/resume). `actor` is required of every sender;
 * a signal without one comes from a gateway older than owner controls and is recorded as
 * `unattributed`, because dropping an owner's pause would be worse than not knowing who sent it.
 */
export const ControlCommand = z.strictObject({
  action: z.enum(['pause', 'resume']),
  reason: z.string().max(1024),
  actor: Actor.optional(),
});
export type ControlCommand = z.infer<typeof ControlCommand>;
export const UNATTRIBUTED = 'unattributed';

/** The ledger transition name an owner command is recorded under (region `control`). */
export const OWNER_CONTROL_TRANSITIONS = {
  pause: 'Owner_Pause',
  resume: 'Owner_Resume',
  reroute: 'Owner_Reroute',
  latency: 'Owner_LatencyBudget',
} as const satisfies Record<OwnerControlAction, string>;
export type OwnerControlTransition = (typeof OWNER_CONTROL_TRANSITIONS)[OwnerControlAction];

/** One applied (or refused) owner command, as the mission's state query reports it. */
export const AppliedOwnerControl = z.strictObject({
  id: OwnerCommandId,
  action: z.enum(['pause', 'resume', 'reroute', 'latency']),
  actor: Actor,
  reason: OwnerReason,
  /** Workflow time the command took effect. */
  at_ms: z.number(),
  applied: z.boolean(),
  /** What changed, or why nothing did (e.g. pausing a paused mission). */
  detail: z.string(),
  /** The ledger record (`ucxl://…`) that holds the command. */
  record: z.string(),
});
export type AppliedOwnerControl = z.infer<typeof AppliedOwnerControl>;

/** What governs the mission's future work, as the state query reports it. */
export const MissionControls = z.strictObject({
  /** Task queue of future agent jobs; null = the mission's own task queue. */
  agentTaskQueue: TaskQueueName.nullable(),
  latency: LatencyBudgets,
  /** The most recent owner commands, oldest first (bounded). */
  applied: z.array(AppliedOwnerControl),
});
export type MissionControls = z.infer<typeof MissionControls>;

/** How many applied commands (and their ids, for de-duplication) a mission keeps. */
export const OWNER_CONTROL_HISTORY = 64;
