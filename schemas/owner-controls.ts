/**
 * Owner controls (issue 6, AGI-Jobs style): commands an owner sends to running missions — pause,
 * resume, reroute future agent work to another task queue, change latency budgets — usually in a
 * batch over a visibility query. Each command travels signed (`SignedOwnerCommand`) by a key the
 * mission was started with (`Controllers`); the mission workflow verifies the signature and the
 * command's age, refuses anything else visibly and harmlessly (signals cannot be kept out of
 * history), applies an accepted command to future work only, and records it in the mission's
 * decision ledger with the verified signer, `actor` and `reason`.
 */
import { z } from 'zod';
import { SignatureSchema, SignerKeySchema } from './proposal';

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
 * The unsigned payload of the older `control` signal (pause/resume), still accepted by missions
 * started before signed owner commands. A signal without `actor` comes from a gateway older than
 * owner controls and is recorded as `unattributed`, because dropping an owner's pause would be
 * worse than not knowing who sent it.
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

/**
 * The keys whose signatures a mission accepts on owner commands, fixed at its start (the gateway
 * puts its own key here, and any owner keys the deployment registers). Bounded: every command is
 * checked against the list.
 */
export const Controllers = z.array(SignerKeySchema).max(16);

/** Signatures one owner command may carry: as many as there may be controllers. */
export const MAX_OWNER_SIGNATURES = 16;

/**
 * How far an owner command's `issued_at_ms` may lie before the mission's own clock when the
 * mission receives it. Long enough for a worker backlog or restart (the signal waits in history
 * meanwhile), short enough that a signed command copied out of one mission's history cannot be
 * replayed against another mission much later. A command refused as stale is simply sent again.
 */
export const OWNER_COMMAND_MAX_AGE_MS = 15 * 60_000;
/** How far `issued_at_ms` may lie after the mission's clock: the gateway's and Temporal's clocks differ. */
export const OWNER_COMMAND_MAX_SKEW_MS = 2 * 60_000;

/** One owner's ed25519 signature over an owner command's bytes (`ownerCommandSigningBytes`). */
export const OwnerSignature = z.strictObject({ signer: SignerKeySchema, signature: SignatureSchema });
export type OwnerSignature = z.infer<typeof OwnerSignature>;

/**
 * A signed owner command, the payload of both owner signals (schemas/signed-bytes.ts
 * `ownerCommandSigningBytes` says what the signature covers). `mission_id` is the one mission the
 * command is for, or null for a command to every mission of the deployment (a batch); the
 * per-mission `control` signal requires it.
 */
export const SignedOwnerCommand = z.strictObject({
  command: OwnerControlCommand,
  mission_id: z.string().min(1).max(200).nullable(),
  issued_at_ms: z.int().nonnegative(),
  signer: SignerKeySchema,
  signature: SignatureSchema,
  /**
   * The owners' own signatures over the same bytes, which the gateway checked against the
   * deployment's owner keys and quorum before it countersigned as `signer`. The mission verifies
   * each and its ledger record keeps them, so `ledger verify` can check who gave the command.
   */
  endorsements: z.array(OwnerSignature).min(1).max(MAX_OWNER_SIGNATURES).optional(),
});
export type SignedOwnerCommand = z.infer<typeof SignedOwnerCommand>;

/**
 * What an owner command's decision record keeps to prove who gave it: the signed claim and every
 * signature over its bytes, the countersigner's (the gateway's) first, then the owners'.
 */
export const OwnerCommandProof = z.strictObject({
  command: OwnerControlCommand,
  mission_id: z.string().min(1).max(200).nullable(),
  issued_at_ms: z.int().nonnegative(),
  signatures: z
    .array(OwnerSignature)
    .min(1)
    .max(MAX_OWNER_SIGNATURES + 1),
});
export type OwnerCommandProof = z.infer<typeof OwnerCommandProof>;

/**
 * A broadcast owner command as owners send it to the gateway (`POST /controls/…`): the command,
 * when it was issued, and signatures by registered owner keys over the bytes
 * `ownerCommandSigningBytes({ command, mission_id: null, issued_at_ms })`. With an owner quorum of
 * M (`SWOOSH_OWNER_QUORUM`), M distinct owners sign the same bytes and any one of them sends it.
 */
export const OwnerCommandRequest = z.strictObject({
  command: OwnerControlCommand,
  issued_at_ms: z.int().nonnegative(),
  signatures: z
    .array(OwnerSignature)
    .min(1, 'sign the command with a registered owner key: a bearer token alone does not give one')
    .max(MAX_OWNER_SIGNATURES),
});
/** The request for one route, whose command is of that route's action. */
export function ownerCommandRequest(command: z.ZodType<OwnerControlCommand>) {
  return OwnerCommandRequest.extend({ command });
}
export type OwnerCommandRequest = z.infer<typeof OwnerCommandRequest>;

/**
 * The deployment's halt, kept by the control workflow (workflows/control.ts): the signed pause
 * that set it, or null; and the signed resume that last lifted one. Missions started while halted
 * start PAUSED by that same pause, so its signature is what they verify.
 */
export const HaltState = z.strictObject({
  halt: SignedOwnerCommand.nullable(),
  lifted: SignedOwnerCommand.nullable(),
});
export type HaltState = z.infer<typeof HaltState>;

/** One owner command as `GET /controls` reports it, with the owner keys whose signatures verify. */
export const OwnerCommandView = z.strictObject({
  commandId: OwnerCommandId,
  action: z.enum(['pause', 'resume', 'reroute', 'latency']),
  actor: Actor,
  reason: OwnerReason,
  issuedAt: z.iso.datetime(),
  /** Registered owner keys whose signatures over the command verify now. */
  signers: z.array(SignerKeySchema),
  /** The key that countersigned it for the missions (the gateway's). */
  countersignedBy: SignerKeySchema,
});
export type OwnerCommandView = z.infer<typeof OwnerCommandView>;

/**
 * The deployment's owner keys and how many distinct ones a broadcast command needs
 * (`SWOOSH_OWNER_KEYS`, `SWOOSH_OWNER_QUORUM`), as the worker gives them to its timer shards.
 */
export const OwnerQuorum = z.strictObject({
  keys: Controllers,
  quorum: z.int().min(1).max(MAX_OWNER_SIGNATURES),
});
export type OwnerQuorum = z.infer<typeof OwnerQuorum>;

/** `GET /controls`: whether the deployment is halted, by whom and why, and the owner rules. */
export const ControlsView = z.strictObject({
  halted: z.boolean(),
  halt: OwnerCommandView.nullable(),
  /** The resume-all that last lifted a halt. */
  lastLift: OwnerCommandView.nullable(),
  owners: z.strictObject({
    keys: z.array(SignerKeySchema),
    /** Distinct owner signatures a broadcast command needs (`SWOOSH_OWNER_QUORUM`). */
    quorum: z.int().min(1),
  }),
});
export type ControlsView = z.infer<typeof ControlsView>;

/** One applied owner command, as the mission's state query reports it. */
export const AppliedOwnerControl = z.strictObject({
  id: OwnerCommandId,
  action: z.enum(['pause', 'resume', 'reroute', 'latency']),
  actor: Actor,
  reason: OwnerReason,
  /**
   * The controller key whose signature the mission verified; null when the command was not
   * verified (a mission started before signed owner commands); absent in entries from before them.
   */
  signer: SignerKeySchema.nullable().optional(),
  /** Workflow time the command took effect. */
  at_ms: z.number(),
  applied: z.boolean(),
  /** What changed, or why nothing did (e.g. pausing a paused mission). */
  detail: z.string(),
  /** The ledger record (`ucxl://…`) that holds the command. */
  record: z.string(),
});
export type AppliedOwnerControl = z.infer<typeof AppliedOwnerControl>;

/**
 * An owner signal the mission refused (unsigned, forged, from an unknown signer, stale, for another
 * mission, or malformed): it changed nothing and wrote no ledger record. Signals cannot be kept
 * out of history, so the refusal is made visible instead. The fields are what the sender claimed,
 * cut to length, and none of them is trusted.
 */
export const RefusedOwnerControl = z.strictObject({
  id: z.string().max(200).nullable(),
  action: z.string().max(200).nullable(),
  actor: z.string().max(200).nullable(),
  signer: z.string().max(200).nullable(),
  /** Workflow time the signal arrived. */
  at_ms: z.number(),
  /** Why it was refused. */
  why: z.string(),
});
export type RefusedOwnerControl = z.infer<typeof RefusedOwnerControl>;

/** What governs the mission's future work, as the state query reports it. */
export const MissionControls = z.strictObject({
  /** Task queue of future agent jobs; null = the mission's own task queue. */
  agentTaskQueue: TaskQueueName.nullable(),
  latency: LatencyBudgets,
  /** The most recent owner commands, oldest first (bounded). */
  applied: z.array(AppliedOwnerControl),
  /** The most recent refused owner signals, oldest first (bounded; absent before signed owner commands). */
  refused: z.array(RefusedOwnerControl).optional(),
});
export type MissionControls = z.infer<typeof MissionControls>;

/** How many applied commands (and their ids, for de-duplication) a mission keeps. */
export const OWNER_CONTROL_HISTORY = 64;
/**
 * How many refusals a mission shows. Kept apart from the applied list, so a flood of forged
 * signals can never push a genuine command's id out of the de-duplication window.
 */
export const OWNER_REFUSAL_HISTORY = 16;
