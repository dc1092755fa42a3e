/**
 * The transition proposal (docs/design.md#proposals) and the exact formats of its fields. The gateway validates
 * requests with these schemas and the statechart core validates again inside the workflow, so a
 * proposal means the same thing on both sides. zod is pure JavaScript and safe in the sandbox.
 */
import * as z from 'zod';
import { base64Decode } from './base64';
import { TRANSITION_CLASSES, TRANSITION_NAMES } from './statechart';
import { tryParseHlc } from './hlc';

/** `sha256-` and 64 lowercase hex digits. */
export const SHA256_PATTERN = /^sha256-[0-9a-f]{64}$/;
/** `ed25519:` and the canonical padded base64 of a 32-byte public key (44 characters). */
export const SIGNER_KEY_PATTERN = /^ed25519:[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
/** Canonical padded base64 of a 64-byte ed25519 signature (88 characters). */
export const SIGNATURE_PATTERN = /^[A-Za-z0-9+/]{85}[AQgw]==$/;
/** `goalId:beatIndex:opClass:uuid`, with opClass one of the transition classes. */
export const IDEM_KEY_PATTERN = new RegExp(
  `^([A-Za-z0-9._-]{1,128}):(0|[1-9][0-9]{0,14}):(${TRANSITION_CLASSES.join('|')}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`,
);
/**
 * An ISO-8601 instant with milliseconds and an explicit offset, `#`, and a logical counter. The
 * calendar (days per month, leap years, hours, offsets) is in the pattern so /openapi.json states
 * it; only the range 1970-01-01T00:00Z…9999 is left to the refinement below.
 */
export const HLC_PATTERN = new RegExp(
  '^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29' +
    '|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8])))' +
    'T(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d\\.\\d{3}(?:[+-](?:[01]\\d|2[0-3]):[0-5]\\d|Z)#\\d{1,15}$',
);
/** `<schedule>:W-YYYY-MM-DD-NN`: a BACKBEAT window (bar NN of that UTC day). */
export const WINDOW_ID_PATTERN = /^[a-z][a-z0-9_-]{0,31}:W-\d{4}-\d{2}-\d{2}-\d{2,}$/;
/** A URI with a scheme (`ucxl://…`, `bubble://dr/…`, `urn:…`); no whitespace. */
export const EVIDENCE_URI_PATTERN = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/;

export const Sha256Schema = z.string().regex(SHA256_PATTERN, 'expected sha256-<64 lowercase hex>');
export const SignerKeySchema = z
  .string()
  .regex(SIGNER_KEY_PATTERN, 'expected ed25519:<base64 32-byte public key>')
  .refine(
    (s) => base64Decode(s.slice('ed25519:'.length))?.length === 32,
    'public key must decode to 32 bytes',
  );
export const SignatureSchema = z
  .string()
  .regex(SIGNATURE_PATTERN, 'expected base64 of a 64-byte ed25519 signature')
  .refine((s) => base64Decode(s)?.length === 64, 'signature must decode to 64 bytes');

/** A council vote: a member's signature over the member-set hash it votes for. */
export const VoteSchema = z.strictObject({
  member: z.string().min(1).max(128),
  council_set_hash: Sha256Schema,
  signature: SignatureSchema,
});
export type Vote = z.infer<typeof VoteSchema>;
export const IdemKeySchema = z.string().regex(IDEM_KEY_PATTERN, 'expected goalId:beatIndex:opClass:uuid');
export const HlcSchema = z
  .string()
  .regex(HLC_PATTERN, 'expected ISO-8601 with offset, "#" and a counter')
  .refine((s) => tryParseHlc(s) !== null, 'not a valid calendar instant');
export const WindowIdSchema = z.string().regex(WINDOW_ID_PATTERN, 'expected <schedule>:W-YYYY-MM-DD-NN');
export const EvidenceUriSchema = z.string().max(2048).regex(EVIDENCE_URI_PATTERN, 'expected a URI');
export const TransitionNameSchema = z.enum(TRANSITION_NAMES);

/** Fields of a proposal that the signature covers: everything but `signature`. */
export const UnsignedTransitionProposalSchema = z.strictObject({
  current_state_hash: Sha256Schema,
  transition: TransitionNameSchema,
  inputs_hash: Sha256Schema,
  signer: SignerKeySchema,
  idem_key: IdemKeySchema,
  hlc: HlcSchema,
  window_id: WindowIdSchema,
  evidence: z.array(EvidenceUriSchema).max(256),
  inputs: z.record(z.string(), z.unknown()),
});

/** A signed transition proposal (docs/design.md#proposals). */
export const TransitionProposalSchema = UnsignedTransitionProposalSchema.extend({
  signature: SignatureSchema,
});

export type UnsignedTransitionProposal = z.infer<typeof UnsignedTransitionProposalSchema>;
export type TransitionProposal = z.infer<typeof TransitionProposalSchema>;

/** The parts of an idem_key. */
export interface IdemKeyParts {
  readonly goalId: string;
  readonly beatIndex: number;
  readonly opClass: string;
  readonly uuid: string;
}

/** Splits an idem_key into its parts, or `null` when it does not have the required format. */
export function parseIdemKey(key: string): IdemKeyParts | null {
  const m = IDEM_KEY_PATTERN.exec(key);
  if (!m) return null;
  return { goalId: m[1]!, beatIndex: Number(m[2]), opClass: m[3]!, uuid: m[4]! };
}
