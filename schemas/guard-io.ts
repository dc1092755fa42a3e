/**
 * Guard I/O: the verdicts of the side effects some guards depend on (the licence server, tool
 * servers, the policy scanner). Activities produce them, the workflow hands them to the guards, so
 * both sides share this one contract.
 */
import * as z from 'zod';
import { Sha256Schema } from './proposal';
import { ToolStatusSchema } from './transition-inputs';

/** KACHING licence verdict, from the licence activity. */
export const LicenceVerdictSchema = z.strictObject({
  status: z.enum(['valid', 'denied', 'unreachable']),
  expires_at_ms: z.number().int().nonnegative().nullable(),
  token_digest: Sha256Schema.nullable(),
  detail: z.string().max(1024).nullable().default(null),
});
export type LicenceVerdict = z.input<typeof LicenceVerdictSchema>;

/** SHHH policy verdict, from the policy scanner activity. */
export const PolicyVerdictSchema = z.strictObject({
  breach: z.boolean(),
  breaches: z.array(z.string().min(1).max(1024)).max(64).default([]),
  rationale: z.string().max(1024).nullable().default(null),
  /** Set when the policy owner confirmed that a quarantine is a permanent block. */
  confirmed_block: z.boolean().default(false),
  /** The policy version the scan ran under. */
  policy_version: z.string().max(128).nullable().default(null),
});
export type PolicyVerdict = z.input<typeof PolicyVerdictSchema>;

/** Results of I/O the caller performed for this proposal. */
export const GuardIOSchema = z.strictObject({
  licence: LicenceVerdictSchema.optional(),
  tools: z.array(ToolStatusSchema).max(256).optional(),
  policy: PolicyVerdictSchema.optional(),
});
export type GuardIO = z.input<typeof GuardIOSchema>;
export type ParsedGuardIO = z.output<typeof GuardIOSchema>;
