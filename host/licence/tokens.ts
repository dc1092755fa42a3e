/**
 * Licence tokens: `swl1.<base64url canonical-JSON claims>.<base64url signature>`, the ed25519
 * signature covering the text before the last dot (denials use `swd1.`). Issuing is for the
 * development issuer and tests; verification is offline, against the trusted issuer key only.
 */
import type { z } from 'zod';
import { canonicalJson } from '../../schemas/canonical-json';
import { LicenceClaims, LicenceDenialClaims } from '../../schemas/licence';
import { type Signer, utf8Bytes, verifySignature } from '../keys';

const LICENCE_PREFIX = 'swl1';
const DENIAL_PREFIX = 'swd1';

function signToken(prefix: string, claims: unknown, issuer: Signer): string {
  const head = `${prefix}.${Buffer.from(canonicalJson(claims)).toString('base64url')}`;
  const signature = Buffer.from(issuer.sign(utf8Bytes(head)), 'base64').toString('base64url');
  return `${head}.${signature}`;
}

export function signLicence(claims: LicenceClaims, issuer: Signer): string {
  return signToken(LICENCE_PREFIX, LicenceClaims.parse(claims), issuer);
}

export function signDenial(claims: LicenceDenialClaims, issuer: Signer): string {
  return signToken(DENIAL_PREFIX, LicenceDenialClaims.parse(claims), issuer);
}

export type Verified<T> = { ok: true; claims: T } | { ok: false; reason: string };

function verifyToken<T extends { issuer: string }>(
  prefix: string,
  schema: z.ZodType<T>,
  token: string,
  issuerKey: string,
): Verified<T> {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || parts[0] !== prefix) return { ok: false, reason: 'token is malformed' };
  const [, payload = '', signature = ''] = parts;
  const claims = decodeClaims(schema, payload);
  const signed = verifySignature(
    issuerKey,
    utf8Bytes(`${prefix}.${payload}`),
    Buffer.from(signature, 'base64url').toString('base64'),
  );
  if (!signed) {
    // Claims read before verification serve only to say which key signed; nothing else trusts them.
    if (claims && claims.issuer !== issuerKey) {
      return { ok: false, reason: `token is signed by issuer ${claims.issuer}, not the trusted issuer` };
    }
    return { ok: false, reason: 'token signature does not verify against the trusted issuer (altered?)' };
  }
  if (!claims) return { ok: false, reason: 'token claims are malformed' };
  if (claims.issuer !== issuerKey) return { ok: false, reason: `token names issuer ${claims.issuer}` };
  return { ok: true, claims };
}

function decodeClaims<T>(schema: z.ZodType<T>, payload: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Verifies a denial the licence endpoint returned; only the trusted issuer can deny. */
export function verifyDenialToken(token: string, issuerKey: string): Verified<LicenceDenialClaims> {
  return verifyToken(DENIAL_PREFIX, LicenceDenialClaims, token, issuerKey);
}

export function verifyLicenceToken(token: string, issuerKey: string): Verified<LicenceClaims> {
  return verifyToken(LICENCE_PREFIX, LicenceClaims, token, issuerKey);
}
