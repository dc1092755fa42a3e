/**
 * Gateway authentication: bearer tokens mapped to roles, configured outside the code in a tokens
 * file (SWOOSH_GATEWAY_TOKENS_FILE). An entry holds either the token itself (development files,
 * mode 0600) or only its SHA-256, so a production file need not hold a usable secret.
 */
import { z } from 'zod';
import { Actor } from './owner-controls';

/**
 * owner: everything, including owner controls over all missions; operator: starts, steers and
 * pauses missions; agent: proposes transitions, votes and talks A2A; viewer: reads.
 */
export const Role = z.enum(['owner', 'operator', 'agent', 'viewer']);
export type Role = z.infer<typeof Role>;

/** Long enough that guessing is hopeless; short enough to fit in a header. */
const TokenText = z
  .string()
  .min(32, 'must be at least 32 characters')
  .max(512)
  .regex(/^[A-Za-z0-9._~+/=-]+$/, 'must be a bearer token (RFC 6750 token68 characters)');

/** `name` is who the caller is in logs and ledger records (owner commands' `actor`), never the token. */
export const TokenEntry = z.union([
  z.strictObject({ name: Actor, role: Role, token: TokenText }),
  z.strictObject({
    name: Actor,
    role: Role,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lowercase hex SHA-256 of the token'),
  }),
]);
export type TokenEntry = z.infer<typeof TokenEntry>;

export const TokensFile = z
  .strictObject({ tokens: z.array(TokenEntry).min(1, 'must list at least one token') })
  .refine((f) => new Set(f.tokens.map((t) => t.name)).size === f.tokens.length, {
    message: 'token names must be unique',
    path: ['tokens'],
  });
export type TokensFile = z.infer<typeof TokensFile>;

/** The authenticated caller, as handlers and access logs see it. */
export interface Principal {
  name: string;
  role: Role;
}
