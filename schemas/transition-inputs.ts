/**
 * The `inputs` each transition accepts, one zod schema per transition. The proposal carries
 * `inputs` as an opaque object (its hash is signed); before any guard looks at it, the protocol
 * parses it with the schema below, so guards and handlers work on typed, bounded data. Schemas are
 * strict: an unknown key is refused rather than ignored, because an ignored field would still be
 * signed and recorded and could mislead whoever reads the decision record.
 */
import * as z from 'zod';
import { EvidenceUriSchema, Sha256Schema, SignerKeySchema, VoteSchema } from './proposal';
import { CouncilMemberSchema, HealthCheckSchema, PlanLockSchema } from './state-document';
import type { TransitionName } from './statechart';
import { MissionPlan } from './mission-plan';

const Text = z.string().min(1).max(1024);
const Name = z.string().min(1).max(128);
const Reason = z.strictObject({ reason: Text });

const uniqueBy =
  <T>(key: (item: T) => string, what: string) =>
  (items: readonly T[], ctx: z.core.$RefinementCtx<readonly T[]>): void => {
    const seen = new Set<string>();
    for (const item of items) {
      const k = key(item);
      if (seen.has(k)) ctx.addIssue({ code: 'custom', message: `duplicate ${what} ${JSON.stringify(k)}` });
      seen.add(k);
    }
  };

const Members = z
  .array(CouncilMemberSchema)
  .min(1)
  .max(64)
  .superRefine(uniqueBy((m: z.infer<typeof CouncilMemberSchema>) => m.id, 'member id'))
  .superRefine(uniqueBy((m: z.infer<typeof CouncilMemberSchema>) => m.key, 'member key'));
const Roles = z
  .array(Name)
  .min(1)
  .max(64)
  .superRefine(uniqueBy((r: string) => r, 'role'));
const HealthInput = HealthCheckSchema.extend({ detail: z.string().max(1024).nullable().default(null) });
const Checks = z
  .array(HealthInput)
  .min(1)
  .max(64)
  .superRefine(uniqueBy((c: { name: string }) => c.name, 'check'));

/** One tool server's observed state, supplied by the caller from an MCP reachability probe. */
export const ToolStatusSchema = z.strictObject({
  name: Name,
  reachable: z.boolean(),
  version: z.string().max(128).nullable(),
});

export const INPUT_SCHEMAS = {
  Boot_LicenseCheck: z.strictObject({ identities: z.record(Name, SignerKeySchema) }),
  Boot_Licensed: z.strictObject({
    expires_at_ms: z.number().int().nonnegative(),
    token_digest: Sha256Schema,
  }),
  Boot_LicenseGrace: Reason,
  Boot_LicenseExpire: z.strictObject({}),
  Ingestion_Fetch: z.strictObject({
    sources: z
      .array(EvidenceUriSchema)
      .min(1)
      .max(256)
      .superRefine(uniqueBy((s: string) => s, 'source')),
  }),
  Ingestion_Validate: z.strictObject({ content_hash: Sha256Schema }),
  Ingestion_Index: z.strictObject({
    report_hash: Sha256Schema,
    passed: z.boolean(),
    violations: z.array(Text).max(64),
  }),
  Ingestion_Ready: z.strictObject({ index_hash: Sha256Schema }),
  Ingestion_Quarantine: z.strictObject({
    report_hash: Sha256Schema,
    violations: z.array(Text).min(1).max(64),
    rationale: Text,
  }),
  Ingestion_RollbackIndex: Reason,
  Council_Elect: z.strictObject({ roles: Roles, members: Members }),
  Council_QuorumCert: z.strictObject({ council_set_hash: Sha256Schema, votes: z.array(VoteSchema).max(128) }),
  Council_ToolingReady: z.strictObject({ pins: z.record(Name, z.string().min(1).max(128)) }),
  Council_Eject: z.strictObject({
    members: z
      .array(Name)
      .min(1)
      .max(64)
      .superRefine(uniqueBy((m: string) => m, 'member')),
    reason: Text,
  }),
  Council_ReElect: z.strictObject({ roles: Roles.optional(), members: Members, reason: Text }),
  Environment_Provision: z.strictObject({
    allocations: z
      .array(z.strictObject({ resource: Name, amount: z.number().int().positive().max(1_000_000) }))
      .min(1)
      .max(64)
      .superRefine(uniqueBy((a: { resource: string }) => a.resource, 'resource')),
  }),
  Environment_Healthcheck: z.strictObject({
    assets: z
      .array(z.strictObject({ id: Name, kind: Name, ref: Text }))
      .min(1)
      .max(256)
      .superRefine(uniqueBy((a: { id: string }) => a.id, 'asset id')),
  }),
  Environment_Ready: z.strictObject({ checks: Checks }),
  Environment_Degrade: z.strictObject({ checks: Checks }),
  Environment_Deprovision: Reason,
  Execution_Enter: z.strictObject({ plan_hash: Sha256Schema, plan_lock: PlanLockSchema }),
  Execution_Work: z.strictObject({
    tasks: z
      .array(Name)
      .min(1)
      .max(256)
      .superRefine(uniqueBy((t: string) => t, 'task')),
  }),
  Execution_Review: z.strictObject({}),
  Execution_Approve: z.strictObject({ decision: z.enum(['approve', 'reject']) }),
  Execution_Reverb: z.strictObject({}),
  Execution_NextWindow: z.strictObject({}),
  Execution_Replan: z.strictObject({
    plan_hash: Sha256Schema,
    plan_lock: PlanLockSchema,
    reason: Text,
    /** A new plan of tasks (docs/agents.md#changing-the-plan); absent: the plan stays, re-locked. */
    plan: MissionPlan.optional(),
  }),
  Control_Pause: Reason,
  Control_Resume: Reason,
  Control_Degrade: Reason,
  Control_Recover: Reason,
  Policy_Quarantine: z.strictObject({ rationale: Text, breaches: z.array(Text).min(1).max(64) }),
  Policy_Release: z.strictObject({ rationale: Text }),
  Policy_Update: z.strictObject({ policy_version: Name, rationale: Text }),
  Terminal_Terminate: z.strictObject({ rationale: Text }),
} satisfies Record<TransitionName, z.ZodType>;

/** The parsed inputs of transition `K`. */
export type InputOf<K extends TransitionName> = z.output<(typeof INPUT_SCHEMAS)[K]>;

/** Result of parsing a proposal's inputs against its transition's schema. */
export type InputParse<K extends TransitionName> =
  { readonly ok: true; readonly value: InputOf<K> } | { readonly ok: false; readonly reasons: string[] };

/**
 * Parses `inputs` for transition `name`. Failures come back as reasons (path and message per
 * issue) because they end up in a rejection that a caller has to be able to act on.
 */
export function parseInputs<K extends TransitionName>(name: K, inputs: unknown): InputParse<K> {
  const schema: z.ZodType = INPUT_SCHEMAS[name];
  const parsed = schema.safeParse(inputs);
  if (parsed.success) return { ok: true, value: parsed.data as InputOf<K> };
  return {
    ok: false,
    reasons: parsed.error.issues.map(
      (i) => `inputs${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`,
    ),
  };
}
