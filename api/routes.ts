/**
 * The gateway's route registry: every route is declared once with its method, path, roles,
 * zod contracts and documented responses. Declaring a route mounts it (role check, body parsing,
 * validation, then the handler with parsed input only) and records it for the OpenAPI document,
 * so a route cannot exist without being documented and access-checked.
 */
import express, { type Express, type NextFunction, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import type { Principal } from '../schemas/auth';
import { type Access, type Authenticator, principalOf, requireRole } from './auth';
import { sendProblem, validationProblem } from './problem';

export type Method = 'get' | 'post' | 'put' | 'delete';

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Default `application/json`; problems are `application/problem+json`. */
  contentType?: string;
}

export interface HeaderDoc {
  name: string;
  description: string;
  schema: z.ZodType;
}

/** What the OpenAPI document says about a route. */
export interface RouteDoc {
  method: Method;
  /** Express syntax, `/missions/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  headers?: HeaderDoc[];
  responses: Record<number, ResponseDoc>;
}

export interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal | undefined;
  req: Request;
}

export interface RouteSpec<PS extends z.ZodType, QS extends z.ZodType, BS extends z.ZodType> extends Omit<
  RouteDoc,
  'params' | 'query' | 'body'
> {
  params?: PS;
  query?: QS;
  body?: BS;
  /**
   * Hand the handler the raw bytes (JSON-RPC answers bad JSON with its own error object);
   * `body` then only documents the request.
   */
  rawBody?: boolean;
  handler: (input: Input<z.output<PS>, z.output<QS>, z.output<BS>>, res: Response) => void | Promise<void>;
}

/** Request bodies are small JSON documents; anything larger is refused before parsing. */
export const BODY_LIMIT_BYTES = 64 * 1024;
/** Deeper nesting serves no contract here and only costs stack in parsers and hashers. */
const MAX_DEPTH = 32;
/** Keys that can reach an object's prototype when a body is merged or assigned somewhere. */
const HOSTILE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The path of the first key that could pollute a prototype, or of the first value nested too
 * deep; undefined for a clean value. Iterative, so hostile nesting cannot overflow the stack.
 */
export function hostileKeyPath(
  value: unknown,
  prefix = 'body',
): { field: string; reason: string } | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: prefix, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_DEPTH) return { field: path, reason: `nested deeper than ${MAX_DEPTH} levels` };
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ value: item, path: `${path}.${i}`, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(v)) {
      if (HOSTILE_KEYS.has(key)) return { field: `${path}.${key}`, reason: 'forbidden key' };
      stack.push({ value: (v as Record<string, unknown>)[key], path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  return undefined;
}

const jsonParser = express.json({ limit: BODY_LIMIT_BYTES, strict: true, type: () => true });
const rawParser = express.raw({ limit: BODY_LIMIT_BYTES, type: () => true });

/** A body must be JSON (415 otherwise); no body at all is left undefined for the schema to judge. */
function parseBody(raw: boolean) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const type = req.is('application/json');
    if (type === null) return next();
    if (type === false) {
      return sendProblem(res, {
        status: 415,
        title: 'Unsupported media type',
        detail: 'body: content type must be application/json',
        errors: [{ field: 'header.content-type', reason: 'must be application/json' }],
      });
    }
    (raw ? rawParser : jsonParser)(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (raw) return next();
      const hostile = hostileKeyPath(req.body);
      if (hostile) {
        return sendProblem(res, {
          status: 400,
          title: 'Invalid request',
          detail: `${hostile.field}: ${hostile.reason}`,
          errors: [hostile],
        });
      }
      next();
    });
  };
}

/** A router written elsewhere (e.g. the timer API), mounted behind a role check and documented. */
export interface MountedRouter {
  router: Router;
  access: Access;
  /** Every route the router serves; requests for anything else never reach it. */
  routes: Omit<RouteDoc, 'access'>[];
}

export class ApiRegistry {
  readonly routes: RouteDoc[] = [];
  readonly #app: Express;
  readonly #auth: Authenticator;

  constructor(app: Express, auth: Authenticator) {
    this.#app = app;
    this.#auth = auth;
  }

  route<PS extends z.ZodType, QS extends z.ZodType, BS extends z.ZodType>(spec: RouteSpec<PS, QS, BS>): void {
    const { handler, rawBody, ...doc } = spec;
    this.routes.push(doc);
    const chain = [label(spec.path), requireRole(this.#auth, spec.access)];
    if (spec.body !== undefined || rawBody) chain.push(parseBody(rawBody === true));
    if (!spec.query) chain.push(refuseQuery);
    this.#app[spec.method](spec.path, ...chain, (req: Request, res: Response, next: NextFunction) => {
      const params = spec.params ? spec.params.safeParse(req.params) : ok(undefined);
      if (!params.success) return sendProblem(res, validationProblem(params.error, 'params'));
      const query = spec.query ? spec.query.safeParse(req.query) : ok(undefined);
      if (!query.success) return sendProblem(res, validationProblem(query.error, 'query'));
      const body = spec.body && !rawBody ? spec.body.safeParse(req.body) : ok(rawBody ? req.body : undefined);
      if (!body.success) return sendProblem(res, validationProblem(body.error, 'body'));
      // A handler's synchronous throw and its rejection both reach the error handler.
      Promise.resolve()
        .then(() =>
          handler(
            {
              params: params.data as z.output<PS>,
              query: query.data as z.output<QS>,
              body: body.data as z.output<BS>,
              principal: principalOf(res),
              req,
            },
            res,
          ),
        )
        .catch(next);
    });
  }

  /**
   * Mounts `router` so that only its documented routes reach it, each behind the role check; an
   * undocumented route of the router stays unreachable rather than unprotected.
   */
  mount({ router, access, routes }: MountedRouter): void {
    const gate = Router();
    for (const doc of routes) {
      this.routes.push({ ...doc, access });
      const chain = [label(doc.path), requireRole(this.#auth, access)];
      if (doc.method !== 'get') chain.push(parseBody(false));
      if (!doc.query) chain.push(refuseQuery);
      gate[doc.method](doc.path, ...chain, (req: Request, res: Response, next: NextFunction) =>
        router(req, res, next),
      );
    }
    this.#app.use(gate);
  }
}

/** A route without a query schema refuses any query string, so nothing a caller sends goes unread. */
const NoQuery = z.strictObject({});

function refuseQuery(req: Request, res: Response, next: NextFunction): void {
  const query = NoQuery.safeParse(req.query);
  if (query.success) next();
  else sendProblem(res, validationProblem(query.error, 'query'));
}

function ok<T>(data: T): { success: true; data: T } {
  return { success: true, data };
}

/** Names the route pattern for metrics and access logs (bounded label values, no ids). */
function label(path: string) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    res.locals.route = path;
    next();
  };
}
