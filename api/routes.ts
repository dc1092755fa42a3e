/**
 * The gateway's route registry: every route is declared once with its method, path, roles,
 * zod contracts and documented responses. Declaring a route mounts it (role check, body parsing,
 * validation, then the handler with parsed input only) and records it for the OpenAPI document,
 * so a route cannot exist without being documented and access-checked. The registry also answers
 * for the paths it knows: `OPTIONS` lists the declared methods and any other method is a 405, so
 * what a client may send on a path is exactly what /openapi.json says.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Principal } from '../schemas/auth';
import { type Access, type Authenticator, principalOf, requireRole } from './auth';
import { sendProblem, validationProblem } from './problem';

export type Method = 'get' | 'post' | 'put' | 'delete';
/** `Allow` lists methods in this order. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'];

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Default `application/json`; problems are `application/problem+json`. */
  contentType?: string;
  /** For `text/event-stream`: each event name with the JSON its `data` carries and its `id`. */
  events?: Record<string, { data: z.ZodType; id?: z.ZodType }>;
  /** State-dependent or cross-field refusals (400/409…) a schema-valid request can get. */
  refusals?: Refusal[];
}

/**
 * A refusal a request valid by the schemas can still get: a rule across fields or on server state
 * (an unknown page token, a guard), which JSON Schema cannot state. Listed in /openapi.json as
 * `x-swoosh-refusals` on the response, so a client (and the contract fuzzer) can tell it from a
 * contract the document got wrong.
 */
export interface Refusal {
  /** A regex source matched against each `errors[].field` of the problem. */
  field: string;
  /** The problem's `title`, when only that kind of problem may name the field. */
  title?: string;
  reason: string;
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
  /** A request body that the `body` schema accepts, shown in /openapi.json (tests check it parses). */
  example?: unknown;
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
export const MAX_DEPTH = 32;
/** Keys that can reach an object's prototype when a body is merged or assigned somewhere. */
export const HOSTILE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

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

/** Whether the request says it carries bytes: `Content-Length: 0` and no length at all do not. */
function announcesBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const unsupportedType = (res: Response, reason = 'must be application/json'): void =>
  sendProblem(res, {
    status: 415,
    title: 'Unsupported media type',
    detail: `body: content type ${reason}`,
    errors: [{ field: 'header.content-type', reason }],
  });

/**
 * Whether every `charset` a content type declares is UTF-8; none at all means UTF-8 (RFC 8259).
 * JSON between systems is UTF-8 and the OpenAPI document promises nothing else. Without this,
 * a raw-body route (/a2a) read UTF-16 bytes as UTF-8 while the JSON parser decoded them as
 * declared. A charset this cannot read as UTF-8 is refused, never guessed.
 */
function declaresOnlyUtf8(contentType: string): boolean {
  return contentType
    .split(';')
    .slice(1)
    .map((param) => param.split('='))
    .filter(([name]) => name!.trim().toLowerCase() === 'charset')
    .every(([, ...value]) => /^("?)utf-?8\1$/i.test(value.join('=').trim()));
}

/**
 * A body must be JSON (415 otherwise); no body at all — no bytes, whatever the headers say — is
 * left undefined for the schema to judge, so `Content-Length: 0` without a content type is no body.
 */
function parseBody(raw: boolean) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!announcesBody(req)) return next();
    if (req.headers['content-type'] === undefined) {
      // A chunked request may still turn out empty: read it before calling its type wrong.
      return rawParser(req, res, (err?: unknown) => {
        if (err) return next(err);
        const bytes = req.body as unknown;
        req.body = undefined;
        if (Buffer.isBuffer(bytes) && bytes.length === 0) return next();
        unsupportedType(res);
      });
    }
    if (req.is('application/json') === false) return unsupportedType(res);
    if (!declaresOnlyUtf8(req.headers['content-type'])) {
      return unsupportedType(res, 'must be application/json in UTF-8, with no other charset');
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

/** A route that takes no body refuses one, so nothing a caller sends goes unread. */
function refuseBody(req: Request, res: Response, next: NextFunction): void {
  if (!announcesBody(req)) return next();
  sendProblem(res, {
    status: 400,
    title: 'Invalid request',
    detail: 'body: this route takes no body',
    errors: [{ field: 'body', reason: 'this route takes no body' }],
  });
}

export class ApiRegistry {
  readonly routes: RouteDoc[] = [];
  readonly #app: Express;
  readonly #auth: Authenticator;

  readonly #paths = new Map<string, { pattern: RegExp; methods: Set<string> }>();

  constructor(app: Express, auth: Authenticator) {
    this.#app = app;
    this.#auth = auth;
    // Ahead of every route, so OPTIONS is answered from the declarations, not guessed by express.
    app.use((req, res, next) => this.#methods(req, res, next));
  }

  /** Records a declared route: for the document, and for OPTIONS / 405 on its path. */
  #declare(doc: RouteDoc): void {
    this.routes.push(doc);
    let known = this.#paths.get(doc.path);
    if (!known) {
      known = { pattern: pathPattern(doc.path), methods: new Set() };
      this.#paths.set(doc.path, known);
    }
    known.methods.add(doc.method.toUpperCase());
  }

  /**
   * On a path some route declares: `OPTIONS` answers 204 with `Allow`, a method no route on it
   * declares answers 405 with `Allow` (RFC 9110 §15.5.6). Both before authentication: the methods
   * are public in /openapi.json already. Other paths go on to the 404 at the end.
   */
  #methods(req: Request, res: Response, next: NextFunction): void {
    const matches = [...this.#paths].filter(([, { pattern }]) => pattern.test(req.path));
    // As OpenAPI matches paths: a concrete one (`/timers/dead-letters`) before a templated one
    // (`/timers/{id}`), so what is allowed here is what the document lists for this path.
    const concrete = matches.filter(([path]) => !path.includes(':'));
    const owners = concrete.length > 0 ? concrete : matches;
    const template = owners[0]?.[0];
    if (template === undefined) return next();
    const allowed = new Set(owners.flatMap(([, { methods }]) => [...methods]));
    if (allowed.has('GET')) allowed.add('HEAD');
    allowed.add('OPTIONS');
    if (req.method !== 'OPTIONS' && allowed.has(req.method)) return next();
    const allow = METHOD_ORDER.filter((m) => allowed.has(m)).join(', ');
    res.locals.route = template;
    res.setHeader('Allow', allow);
    if (req.method === 'OPTIONS') return void res.status(204).end();
    sendProblem(res, {
      status: 405,
      title: 'Method not allowed',
      detail: `${req.method.slice(0, 16)} is not allowed here; allowed: ${allow}`,
      errors: [{ field: 'method', reason: `must be one of ${allow}` }],
    });
  }

  route<PS extends z.ZodType, QS extends z.ZodType, BS extends z.ZodType>(spec: RouteSpec<PS, QS, BS>): void {
    const { handler, rawBody, ...doc } = spec;
    this.#declare(doc);
    const chain = [label(spec.path), requireRole(this.#auth, spec.access)];
    chain.push(spec.body !== undefined || rawBody ? parseBody(rawBody === true) : refuseBody);
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

/**
 * The request paths express routes to a declared path: `:name` is one non-empty segment, letters
 * match in any case and a trailing slash is allowed (express's defaults).
 */
function pathPattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`, 'i');
}

/** Names the route pattern for metrics and access logs (bounded label values, no ids). */
function label(path: string) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    res.locals.route = path;
    next();
  };
}
