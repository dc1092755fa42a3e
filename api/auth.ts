/**
 * Bearer-token authentication and role checks. Tokens live in a file outside the code
 * (schemas/auth.ts); each presented token is hashed and compared with every configured hash in
 * constant time, so neither a match nor its position leaks through timing. 401 means "who are
 * you?" (no or unknown token), 403 means "you may not" (a known token whose role is not allowed).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import { type Principal, type Role, TokensFile } from '../schemas/auth';
import { isErrno } from '../host/durable-fs';
import { sendProblem } from './problem';

/** Who may call a route: listed roles, or anyone (documentation only). */
export type Access = readonly Role[] | 'public';

export const ALL_ROLES: readonly Role[] = ['owner', 'operator', 'agent', 'viewer'];

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class Authenticator {
  readonly #entries: { digest: Buffer; principal: Principal }[];

  constructor(file: TokensFile) {
    this.#entries = file.tokens.map((t) => ({
      digest: 'token' in t ? sha256(t.token) : Buffer.from(t.sha256, 'hex'),
      principal: { name: t.name, role: t.role },
    }));
  }

  /** Reads and validates a tokens file; a bad file stops the gateway rather than opening it. */
  static async fromFile(path: string): Promise<Authenticator> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) {
        throw new Error(
          `no gateway tokens file at ${path}; create one (docs/api.md) or set SWOOSH_GATEWAY_TOKENS_FILE`,
        );
      }
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`gateway tokens file ${path} is not valid JSON`);
    }
    const parsed = TokensFile.safeParse(json);
    if (!parsed.success) {
      // Name the field, never echo a value: the file holds secrets.
      const where = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new Error(`gateway tokens file ${path} is invalid: ${where}`);
    }
    return new Authenticator(parsed.data);
  }

  /** The principal a presented token belongs to, or undefined. Constant time over all entries. */
  identify(token: string): Principal | undefined {
    const digest = sha256(token);
    let found: Principal | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry.principal;
    }
    return found;
  }
}

/** `Authorization: Bearer <token>`, case-insensitive scheme, nothing else accepted. */
function bearerOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]{1,1024})[ ]*$/i.exec(header);
  return match?.[1];
}

/** The principal of an authenticated request (set by `requireRole`). */
export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

export function requireRole(auth: Authenticator, access: Access) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (access === 'public') return next();
    const token = bearerOf(req);
    const principal = token === undefined ? undefined : auth.identify(token);
    if (!principal) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="swoosh"');
      return sendProblem(res, {
        status: 401,
        title: 'Unauthorized',
        detail:
          token === undefined
            ? 'authorization: send Authorization: Bearer <token>'
            : 'authorization: the token is not valid',
        errors: [
          { field: 'header.authorization', reason: token === undefined ? 'missing' : 'not a valid token' },
        ],
      });
    }
    res.locals.principal = principal;
    if (!access.includes(principal.role)) {
      return sendProblem(res, {
        status: 403,
        title: 'Forbidden',
        detail: `role ${principal.role} may not ${req.method} this route; allowed: ${access.join(', ')}`,
        errors: [{ field: 'header.authorization', reason: `role ${principal.role} is not allowed` }],
      });
    }
    next();
  };
}

/** `<data folder>/gateway/tokens.json`, where `npm run dev` keeps its development tokens. */
export function defaultTokensFile(dataDir: string): string {
  return join(dataDir, 'gateway', 'tokens.json');
}

export function newToken(): string {
  return `swt_${randomBytes(32).toString('base64url')}`;
}

/**
 * Creates a development tokens file — one token per role, mode 0600 — unless one exists, and
 * returns its path. Never overwrites (tokens already handed out keep working) and never prints a
 * token: callers print the path only.
 */
export async function ensureDevTokens(path: string): Promise<{ path: string; created: boolean }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const file: TokensFile = {
    tokens: (['owner', 'operator', 'agent', 'viewer'] as const).map((role) => ({
      name: `dev-${role}`,
      role,
      token: newToken(),
    })),
  };
  let handle;
  try {
    // 'wx': create only; a concurrent first run loses the race instead of clobbering.
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return { path, created: false };
    throw error;
  }
  try {
    await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { path, created: true };
}
