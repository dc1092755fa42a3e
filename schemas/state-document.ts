/**
 * The state document (docs/design.md#state-and-hashes): the single object a mission's state lives in, hashed after every
 * accepted transition. Each region carries its `phase` (one of the statechart's states) and the
 * data that phase needs; `epoch` counts accepted transitions per region; `hlc_last` is the HLC of
 * the last accepted proposal and `head` records its tie-break key and sequence number.
 *
 * Every field is always present (null rather than absent) because canonical JSON refuses
 * `undefined`, and a document that could omit a field would have two spellings for one state.
 * Growing data is bounded (evidence and approvals are per beat; ejections per council term) so the
 * document stays small enough to hash on every transition and to carry across continue-as-new.
 */
import * as z from 'zod';
import { REGIONS } from './statechart';
import {
  EvidenceUriSchema,
  HlcSchema,
  IdemKeySchema,
  Sha256Schema,
  SignatureSchema,
  SignerKeySchema,
  TransitionNameSchema,
} from './proposal';

const count = z.number().int().nonnegative();
const ms = z.number().int().nonnegative();

export const PlanLockSchema = z.strictObject({
  content_hash: Sha256Schema,
  index_version: z.number().int().positive(),
  council_set_hash: Sha256Schema,
  environment_hash: Sha256Schema,
});
export type PlanLock = z.infer<typeof PlanLockSchema>;

export const CouncilMemberSchema = z.strictObject({ id: z.string().min(1).max(128), key: SignerKeySchema });
export type CouncilMember = z.infer<typeof CouncilMemberSchema>;

export const HealthCheckSchema = z.strictObject({
  name: z.string().min(1).max(128),
  ok: z.boolean(),
  detail: z.string().max(1024).nullable(),
});

export const StateDocumentSchema = z.strictObject({
  meta: z.strictObject({
    machine_version: z.string(),
    schema_hash: Sha256Schema,
    mission_id: z.string().min(1),
  }),
  boot: z.strictObject({
    phase: z.enum(REGIONS.boot.states),
    licence: z.strictObject({
      status: z.enum(['none', 'valid', 'grace', 'expired']),
      expires_at_ms: ms.nullable(),
      token_digest: Sha256Schema.nullable(),
      grace_until_ms: ms.nullable(),
    }),
    identities: z.record(z.string(), SignerKeySchema),
  }),
  ingestion: z.strictObject({
    phase: z.enum(REGIONS.ingestion.states),
    sources: z.array(EvidenceUriSchema),
    content_hash: Sha256Schema.nullable(),
    index_version: count,
    index_hash: Sha256Schema.nullable(),
    validation: z
      .strictObject({ report_hash: Sha256Schema, passed: z.boolean(), violations: z.array(z.string()) })
      .nullable(),
    rationale: z.string().nullable(),
    rollbacks: count,
  }),
  council: z.strictObject({
    phase: z.enum(REGIONS.council.states),
    roles: z.array(z.string()),
    members: z.array(CouncilMemberSchema),
    council_set_hash: Sha256Schema.nullable(),
    quorum_certificate: z
      .strictObject({
        council_set_hash: Sha256Schema,
        quorum: z.number().int().positive(),
        votes: z.array(z.strictObject({ member: z.string(), signature: SignatureSchema })),
      })
      .nullable(),
    tooling: z.strictObject({ pins: z.record(z.string(), z.string()) }).nullable(),
    ejected: z.array(z.string()),
  }),
  environment: z.strictObject({
    phase: z.enum(REGIONS.environment.states),
    allocations: z.array(z.strictObject({ resource: z.string(), amount: z.number().int().positive() })),
    assets: z.array(z.strictObject({ id: z.string(), kind: z.string(), ref: z.string() })),
    assets_hash: Sha256Schema.nullable(),
    health: z.array(HealthCheckSchema),
    deprovisions: count,
  }),
  execution: z.strictObject({
    phase: z.enum(REGIONS.execution.states),
    plan_hash: Sha256Schema.nullable(),
    plan_lock: PlanLockSchema.nullable(),
    beat: count,
    window_id: z.string().nullable(),
    tasks: z.array(z.string()),
    evidence: z.array(EvidenceUriSchema),
    approvals: z.array(
      z.strictObject({ approver: SignerKeySchema, decision: z.enum(['approve', 'reject']) }),
    ),
  }),
  control: z.strictObject({ phase: z.enum(REGIONS.control.states), reason: z.string().nullable() }),
  policy: z.strictObject({
    phase: z.enum(REGIONS.policy.states),
    rationale: z.string().nullable(),
    breaches: z.array(z.string()),
    policy_version: z.string().nullable(),
  }),
  terminal: z.strictObject({ phase: z.enum(REGIONS.terminal.states), rationale: z.string().nullable() }),
  epoch: z.strictObject({
    boot: count,
    ingestion: count,
    council: count,
    environment: count,
    execution: count,
    control: count,
    policy: count,
    terminal: count,
  }),
  hlc_last: HlcSchema.nullable(),
  head: z.strictObject({
    seq: count,
    transition: TransitionNameSchema.nullable(),
    signer: SignerKeySchema.nullable(),
    idem_key: IdemKeySchema.nullable(),
  }),
});

export type StateDocument = z.infer<typeof StateDocumentSchema>;
