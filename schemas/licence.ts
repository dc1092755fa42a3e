/**
 * Licence (KACHING) contracts: the claims an issuer signs, what a licence endpoint answers,
 * the verdict the BOOT guard consumes, and the process configuration read from the environment.
 */
import { z } from 'zod';
import { SignerKeySchema } from './proposal';

const Timestamp = z.iso.datetime({ offset: true });

export const LicenceClaims = z
  .strictObject({
    v: z.literal(1),
    id: z.string().min(1),
    issuer: SignerKeySchema,
    licensee: z.string().min(1),
    seats: z.int().positive(),
    features: z.array(z.string().min(1)),
    issuedAt: Timestamp,
    notBefore: Timestamp,
    expiresAt: Timestamp,
  })
  .refine((c) => Date.parse(c.expiresAt) > Date.parse(c.notBefore), {
    message: 'expiresAt must be after notBefore',
    path: ['expiresAt'],
  });
export type LicenceClaims = z.infer<typeof LicenceClaims>;

/** An issuer's signed refusal; verified before its reason is believed. */
export const LicenceDenialClaims = z.strictObject({
  v: z.literal(1),
  issuer: SignerKeySchema,
  licensee: z.string().min(1).optional(),
  reason: z.string().min(1),
  issuedAt: Timestamp,
});
export type LicenceDenialClaims = z.infer<typeof LicenceDenialClaims>;

/** Body of a 200 from the licence endpoint. */
export const LicenceGrantResponse = z.object({ licence: z.string().min(1) });
/** Body of a 401/403 from the licence endpoint; the signed denial is optional. */
export const LicenceDenialResponse = z.object({ denial: z.string().min(1).optional() });

/**
 * LICENSED: a valid licence. DEGRADED: the grace substate (expired, unreachable or denied after
 * a valid licence) — work continues until `graceUntil`. DENIED: the hard stop.
 */
export const LicenceStatus = z.enum(['LICENSED', 'DEGRADED', 'DENIED']);
export type LicenceStatus = z.infer<typeof LicenceStatus>;

export const LicenceVerdict = z.strictObject({
  status: LicenceStatus,
  reasons: z.array(z.string()),
  source: z.enum(['file', 'endpoint']),
  /** The last licence that verified, if any. */
  licence: z
    .strictObject({
      id: z.string(),
      licensee: z.string(),
      seats: z.int(),
      features: z.array(z.string()),
      notBefore: Timestamp,
      expiresAt: Timestamp,
    })
    .optional(),
  graceUntil: Timestamp.optional(),
  /** When the licence was last read or fetched; the verdict itself is evaluated at each call. */
  checkedAt: Timestamp,
  nextCheckAt: Timestamp,
});
export type LicenceVerdict = z.infer<typeof LicenceVerdict>;

const durationMs = z.coerce.number().int().positive();

/** Licence settings from the environment; see README "Licence". */
export const LicenceEnv = z.object({
  /** Trusted issuer public key; defaults to the development issuer `swoosh licence init` made. */
  SWOOSH_LICENCE_ISSUER_KEY: SignerKeySchema.optional(),
  /** When set, the licence is fetched from this URL instead of read from a file. */
  SWOOSH_LICENCE_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  SWOOSH_LICENCE_FILE: z.string().min(1).optional(),
  SWOOSH_LICENCE_GRACE_MS: durationMs.default(24 * 60 * 60 * 1000),
  SWOOSH_LICENCE_REFRESH_MS: durationMs.default(15 * 60 * 1000),
  SWOOSH_LICENCE_RETRY_MS: durationMs.default(30 * 1000),
  SWOOSH_LICENCE_TIMEOUT_MS: durationMs.default(5 * 1000),
});
export type LicenceEnv = z.infer<typeof LicenceEnv>;

/**
 * The worker's opt-in to issue itself a development licence when no SWOOSH_LICENCE_* is set;
 * `npm run dev` sets it, `npm run worker` never does (README "Licence (KACHING)").
 */
export const DevLicenceEnv = z.object({
  SWOOSH_DEV_LICENCE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});
