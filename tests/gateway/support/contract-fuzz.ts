/**
 * An OpenAPI-driven contract fuzzer for the gateway. It reads /openapi.json, generates requests
 * for every operation from the documented JSON Schemas (fast-check), some valid and some broken in
 * one place, sends each as every caller (each role, no token, an unknown token), and judges every
 * answer against the document alone:
 *
 * - no status ≥ 500, and no status the operation does not document;
 * - every body matches the documented schema of its status and content type (ajv; an event
 *   stream's events and their JSON `data` too);
 * - no token or an unknown token is 401, a role the operation does not list is 403;
 * - a request the document calls valid, from a role it admits, is not refused with 400, 401, 403,
 *   413 or 415 — except a 400 whose every field is one of the response's `x-swoosh-refusals`;
 * - a request the document calls invalid is refused (400, 413, 415; /a2a answers in-band).
 *
 * Whether a request is valid is decided by the document (ajv), not by how it was generated, so
 * the fuzzer holds the document and the server to each other in both directions. Used by
 * tests/gateway/fuzz.test.ts (small) and `npm run fuzz` (tests/gateway/support/fuzz-run.ts, large).
 */
import fc from 'fast-check';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';

type Json = Record<string, unknown>;
type Schema = Json;

export const CALLERS = ['owner', 'operator', 'agent', 'viewer', 'anonymous', 'unknown'] as const;
export type Caller = (typeof CALLERS)[number];

const BODY_LIMIT = 64 * 1024;

export interface Operation {
  id: string;
  method: string;
  /** OpenAPI template, `/missions/{id}`. */
  path: string;
  roles: readonly string[];
  parameters: { name: string; in: 'path' | 'query' | 'header'; required: boolean; schema: Schema }[];
  body?: { schema: Schema; required: boolean };
  responses: Record<string, Json>;
}

export function operationsOf(doc: Json): Operation[] {
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(methods)) {
      const body = (op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      out.push({
        id: String(op.operationId),
        method: method.toUpperCase(),
        path,
        roles: op['x-swoosh-roles'] as string[],
        parameters: (op.parameters ?? []) as Operation['parameters'],
        ...(body && {
          body: {
            schema: body['application/json']!.schema as Schema,
            required: (op.requestBody as Json).required !== false,
          },
        }),
        responses: op.responses as Record<string, Json>,
      });
    }
  }
  return out;
}

/** The document's schemas for ajv: refs point into one registered schema. */
export class Schemas {
  readonly #ajv: Ajv2020;
  readonly #cache = new Map<string, ValidateFunction>();
  readonly components: Record<string, Schema>;

  constructor(doc: Json) {
    this.components = (doc.components as { schemas: Record<string, Schema> }).schemas;
    this.#ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
    this.#ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
    this.#ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
    this.#ajv.addFormat('uri', (s: string) => URL.canParse(s));
    this.#ajv.addFormat('email', /^[^\s@]+@[^\s@]+$/);
    this.#ajv.addSchema({ $id: 'swoosh:openapi', components: { schemas: this.components } });
  }

  validator(schema: Schema): ValidateFunction {
    const key = JSON.stringify(schema);
    let fn = this.#cache.get(key);
    if (!fn) {
      const rooted = JSON.parse(key.replaceAll('"#/components/', '"swoosh:openapi#/components/')) as Schema;
      fn = this.#ajv.compile(rooted);
      this.#cache.set(key, fn);
    }
    return fn;
  }

  check(schema: Schema, value: unknown): string | undefined {
    const fn = this.validator(schema);
    if (fn(value)) return undefined;
    const e = fn.errors?.[0];
    return e ? `${e.instancePath || '(root)'} ${e.message ?? ''}` : 'invalid';
  }

  resolve(schema: Schema): Schema {
    let s = schema;
    for (let i = 0; typeof s.$ref === 'string' && i < 20; i++) {
      s = this.components[s.$ref.slice('#/components/schemas/'.length)] ?? {};
    }
    return s;
  }
}

/** Keywords the generator does not construct for, so a generated value is filtered by ajv. */
const FILTERED = ['not', 'oneOf', 'uniqueItems', 'minProperties', 'maxProperties'];
/** Values drawn for a schema with such a keyword before one that ajv accepts is given up on. */
const CANDIDATES = 8;
/** Past this depth of `$ref`s and objects, optional members are left out so recursion ends. */
const DEEP = 3;

/**
 * Valid values for a JSON Schema, as far as the generator can construct them; the caller checks
 * the result with ajv and counts a miss rather than trusting it.
 */
export class Generator {
  constructor(readonly schemas: Schemas) {}

  /** Built once per schema and depth: building (a regex's arbitrary above all) costs more than drawing. */
  readonly #built = new Map<Schema, Map<number, fc.Arbitrary<unknown>>>();

  value(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
    const byDepth = this.#built.get(schema) ?? new Map<number, fc.Arbitrary<unknown>>();
    this.#built.set(schema, byDepth);
    let arb = byDepth.get(depth);
    if (!arb) {
      const raw = this.#value(schema, depth);
      // A bounded search, not fast-check's `filter`, which draws until a value passes and so spins
      // for ever on a schema the generator cannot satisfy: the first of a few candidates that
      // passes, else one that does not, which the caller then counts as a miss.
      arb = FILTERED.some((k) => k in schema)
        ? fc
            .array(raw, { minLength: CANDIDATES, maxLength: CANDIDATES })
            .map((vs) => vs.find((v) => this.schemas.check(schema, v) === undefined) ?? vs[0])
        : raw;
      byDepth.set(depth, arb);
    }
    return arb;
  }

  #value(schema: Schema, depth: number): fc.Arbitrary<unknown> {
    if (typeof schema.$ref === 'string') {
      return fc.constant(null).chain(() => this.value(this.schemas.resolve(schema), depth + 1));
    }
    if ('const' in schema) return fc.constant(schema.const);
    if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
    const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
    if (branches) {
      const base = { ...schema };
      delete base.anyOf;
      delete base.oneOf;
      // Deep down, prefer branches that do not recurse, so generation ends.
      const shallow = branches.filter((b) => !JSON.stringify(b).includes('$ref'));
      const pick = depth >= DEEP && shallow.length > 0 ? shallow : branches;
      return fc.oneof(...pick.map((b) => this.value(merge(base, b), depth)));
    }
    if (Array.isArray(schema.allOf)) {
      const rest = { ...schema };
      delete rest.allOf;
      // Generate from the first part and let ajv hold the value to all of them.
      const [first, ...others] = (schema.allOf as Schema[]).map((part) => this.schemas.resolve(part));
      const arb = this.value(merge(rest, first ?? {}), depth);
      return others.length === 0 ? arb : arb.filter((v) => this.schemas.check(schema, v) === undefined);
    }
    const type = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string | undefined];
    if (type.length > 1) return fc.oneof(...type.map((t) => this.value({ ...schema, type: t }, depth)));
    switch (type[0]) {
      case 'string':
        return this.string(schema);
      case 'integer':
        return this.integer(schema);
      case 'number':
        return this.number(schema);
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'array':
        return this.array(schema, depth);
      case 'object':
        return this.object(schema, depth);
      default:
        return fc.jsonValue({ maxDepth: 2 });
    }
  }

  string(schema: Schema): fc.Arbitrary<string> {
    const min = (schema.minLength as number | undefined) ?? 0;
    const max = (schema.maxLength as number | undefined) ?? Infinity;
    const fits = (s: string): boolean => [...s].length >= min && [...s].length <= max;
    if (typeof schema.pattern === 'string') {
      return fc.stringMatching(new RegExp(schema.pattern)).filter(fits);
    }
    if (schema.format === 'uri') return fc.webUrl().filter(fits);
    if (schema.format === 'email') return fc.emailAddress().filter(fits);
    const upper = Math.min(max, min + 24);
    return fc.oneof(
      { weight: 4, arbitrary: fc.string({ minLength: min, maxLength: upper }) },
      {
        weight: 1,
        arbitrary: fc.string({ minLength: min, maxLength: upper, unit: 'grapheme' }).filter(fits),
      },
    );
  }

  integer(schema: Schema): fc.Arbitrary<number> {
    const min = Math.ceil(Math.max(bound(schema, 'min') ?? -(2 ** 40), Number.MIN_SAFE_INTEGER));
    const max = Math.floor(Math.min(bound(schema, 'max') ?? 2 ** 40, Number.MAX_SAFE_INTEGER));
    // Mostly small numbers (where limits and defaults live), sometimes anywhere, sometimes an edge.
    const small = fc.integer({
      min: Math.max(min, Math.min(max, -1000)),
      max: Math.min(max, Math.max(min, 1000)),
    });
    return fc.oneof(
      { weight: 3, arbitrary: small },
      { weight: 1, arbitrary: fc.integer({ min, max }) },
      { weight: 1, arbitrary: fc.constantFrom(min, max) },
    );
  }

  number(schema: Schema): fc.Arbitrary<number> {
    const min = bound(schema, 'min');
    const max = bound(schema, 'max');
    return fc
      .double({
        noNaN: true,
        noDefaultInfinity: true,
        ...(min !== undefined && { min }),
        ...(max !== undefined && { max }),
      })
      .map((n) => (Object.is(n, -0) ? 0 : n))
      .filter(
        (n) =>
          (typeof schema.exclusiveMinimum !== 'number' || n > schema.exclusiveMinimum) &&
          (typeof schema.exclusiveMaximum !== 'number' || n < schema.exclusiveMaximum),
      );
  }

  array(schema: Schema, depth: number): fc.Arbitrary<unknown[]> {
    const min = (schema.minItems as number | undefined) ?? 0;
    const max = Math.min((schema.maxItems as number | undefined) ?? Infinity, depth >= DEEP ? min : min + 3);
    const items = (schema.items as Schema | undefined) ?? {};
    return fc.array(this.value(items, depth + 1), { minLength: min, maxLength: Math.max(min, max) });
  }

  object(schema: Schema, depth: number): fc.Arbitrary<Record<string, unknown>> {
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    const required = new Set((schema.required ?? []) as string[]);
    const known: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [name, sub] of Object.entries(props)) known[name] = this.value(sub, depth + 1);
    const base =
      depth >= DEEP
        ? fc.record(Object.fromEntries([...required].filter((k) => k in known).map((k) => [k, known[k]!])))
        : fc.record(known, { requiredKeys: [...required].filter((k) => k in props) });
    const extra = schema.additionalProperties;
    if (extra === false || extra === undefined || depth >= DEEP) return base;
    const names = (schema.propertyNames as Schema | undefined) ?? { type: 'string' };
    const key = (this.value({ type: 'string', ...names, maxLength: 24 }) as fc.Arbitrary<string>).filter(
      (k) => !(k in props),
    );
    return fc
      .tuple(base, fc.dictionary(key, this.value(extra as Schema, depth + 1), { maxKeys: 3 }))
      .map(([a, b]) => ({ ...b, ...a }));
  }
}

function bound(schema: Schema, side: 'min' | 'max'): number | undefined {
  const inclusive = schema[side === 'min' ? 'minimum' : 'maximum'];
  const exclusive = schema[side === 'min' ? 'exclusiveMinimum' : 'exclusiveMaximum'];
  if (typeof inclusive === 'number') return inclusive;
  if (typeof exclusive === 'number') return side === 'min' ? exclusive + 1 : exclusive - 1;
  return undefined;
}

/** `base` and a branch as one schema (an object's oneOf of `required` lists, a typed anyOf). */
function merge(base: Schema, branch: Schema): Schema {
  const out: Schema = { ...base, ...branch };
  if (base.required || branch.required) {
    out.required = [
      ...new Set([...((base.required ?? []) as string[]), ...((branch.required ?? []) as string[])]),
    ];
  }
  if (base.properties && branch.properties)
    out.properties = { ...(base.properties as Json), ...(branch.properties as Json) };
  return out;
}

/** One generated request, and what the document says about it. */
export interface FuzzRequest {
  caller: Caller;
  op: Operation;
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  body?: string;
  /** Why the document refuses it, or undefined when it is valid. */
  invalid?: string;
  /** How it was broken, for the report. */
  mutation?: string;
}

/** Steers generation towards values that reach state (a real mission's id, say). */
export interface Hints {
  /** Values for a path parameter, by operation and name. */
  path?: (op: Operation, name: string) => fc.Arbitrary<string> | undefined;
  /** Rewrites a generated body; `pick` is a random number for the hint's own choices. */
  body?: (op: Operation, body: unknown, pick: number) => unknown;
}

const JUNK: unknown[] = [
  null,
  true,
  -1,
  0.5,
  1e308,
  '',
  'x'.repeat(300),
  [],
  {},
  [1, 'a'],
  { zz: 1 },
  '\u0000',
];

/**
 * Requests for `op`: a valid one, or one broken in a single place (a member dropped, added or of
 * the wrong type, a bad parameter, an unknown query key, a wrong content type, an oversized body).
 */
export function requestArbitrary(
  schemas: Schemas,
  op: Operation,
  callers: readonly Caller[],
  hints: Hints,
): fc.Arbitrary<FuzzRequest> {
  const gen = new Generator(schemas);
  const params = op.parameters;
  const pathArbs = Object.fromEntries(
    params
      .filter((p) => p.in === 'path')
      .map((p) => [p.name, hints.path?.(op, p.name) ?? (gen.value(p.schema) as fc.Arbitrary<string>)]),
  );
  const queryArbs = params
    .filter((p) => p.in === 'query')
    .map((p) => {
      const pair = gen.value(p.schema).map((v) => [p.name, String(v)] as [string, string]);
      return p.required ? pair : fc.option(pair, { nil: undefined, freq: 2 });
    });
  const headerArbs = params
    .filter((p) => p.in === 'header')
    .map((p) =>
      fc.option(
        gen.value(p.schema).map((v) => [p.name, String(v)] as [string, string]),
        { nil: undefined, freq: 2 },
      ),
    );
  const body = op.body
    ? op.body.required
      ? gen.value(op.body.schema)
      : fc.option(gen.value(op.body.schema), { nil: undefined, freq: 4 })
    : fc.constant(undefined);
  const mutation = fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined) },
    {
      weight: 4,
      arbitrary: fc.tuple(fc.constantFrom('drop', 'junk', 'add'), fc.nat(), fc.constantFrom(...JUNK)),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constantFrom('query-key', 'bad-param', 'content-type', 'oversize', 'no-body', 'stray-body'),
        fc.nat(),
        fc.constant(null),
      ),
    },
  );
  return fc
    .record({
      caller: fc.constantFrom(...callers),
      path: fc.record(pathArbs),
      query: fc.tuple(...queryArbs),
      headers: fc.tuple(...headerArbs),
      body,
      pick: fc.nat(),
      mutation,
    })
    .map(({ pick, ...r }) =>
      build(schemas, op, {
        ...r,
        body: hints.body && r.body !== undefined ? hints.body(op, r.body, pick) : r.body,
      }),
    );
}

function build(
  schemas: Schemas,
  op: Operation,
  r: {
    caller: Caller;
    path: Record<string, string>;
    query: ([string, string] | undefined)[];
    headers: ([string, string] | undefined)[];
    body: unknown;
    mutation: [string, number, unknown] | undefined;
  },
): FuzzRequest {
  const pathValues = { ...r.path };
  const query = r.query.filter((q) => q !== undefined);
  const headers: Record<string, string> = Object.fromEntries(r.headers.filter((h) => h !== undefined));
  let body = r.body;
  let contentType: string | undefined = body === undefined ? undefined : 'application/json';
  let text: string | undefined = body === undefined ? undefined : JSON.stringify(body);
  let mutation: string | undefined;
  let empty = false;
  const [kind, at, junk] = r.mutation ?? [];
  if (kind === 'drop' || kind === 'junk' || kind === 'add') {
    if (isObject(body)) {
      const paths = objectPaths(body);
      const [target, key] = paths[at! % paths.length]!;
      if (kind === 'drop' && key !== undefined) delete target[key];
      else if (kind === 'junk' && key !== undefined) target[key] = structuredClone(junk);
      else target[key === undefined ? 'zz_fuzz' : `${key}_zz`] = structuredClone(junk);
      mutation = `${kind} ${key ?? '(root)'}`;
      text = JSON.stringify(body);
    } else if (body !== undefined) {
      body = junk;
      text = JSON.stringify(junk);
      mutation = 'junk body';
    }
  } else if (kind === 'query-key') {
    query.push(['zz_fuzz', '1']);
    mutation = 'unknown query key';
  } else if (kind === 'bad-param') {
    const names = Object.keys(pathValues);
    if (names.length > 0) {
      const name = names[at! % names.length]!;
      pathValues[name] = ['not an id', 'x'.repeat(200), '%', 'ü-ß', '-', 'dead-letters'][at! % 6]!;
      mutation = `bad path ${name}`;
    }
  } else if (kind === 'content-type' && text !== undefined) {
    contentType = ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16'][
      at! % 3
    ];
    mutation = `content-type ${contentType}`;
  } else if (kind === 'oversize' && op.body) {
    text = JSON.stringify({ pad: 'x'.repeat(BODY_LIMIT + 10) });
    contentType = 'application/json';
    mutation = 'oversized body';
  } else if (kind === 'no-body' && op.body) {
    text = undefined;
    contentType = undefined;
    empty = true;
    mutation = 'empty body, Content-Length: 0';
  } else if (kind === 'stray-body' && !op.body && op.method !== 'GET') {
    text = '{"zz":1}';
    contentType = 'application/json';
    mutation = 'body on a route without one';
  }
  if (contentType) headers['content-type'] = contentType;
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(pathValues[name] ?? ''));
  const request: FuzzRequest = {
    caller: r.caller,
    op,
    path,
    query,
    headers,
    // An empty body is sent as zero bytes: `Content-Length: 0`, no content type.
    ...((text !== undefined || empty) && { body: text ?? '' }),
  };
  const invalid = judgeRequest(schemas, op, {
    pathValues,
    query,
    headers,
    text: empty ? undefined : text,
    contentType,
  });
  return { ...request, ...(invalid && { invalid }), ...(mutation && { mutation }) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every (object, key) in a value, and each object itself with no key (to add a member to). */
function objectPaths(value: Record<string, unknown>): [Record<string, unknown>, string | undefined][] {
  const out: [Record<string, unknown>, string | undefined][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!isObject(v)) return;
    out.push([v, undefined]);
    for (const [k, sub] of Object.entries(v)) {
      out.push([v, k]);
      walk(sub);
    }
  };
  walk(value);
  return out;
}

/** Why the document refuses a request, or undefined when it allows it. */
function judgeRequest(
  schemas: Schemas,
  op: Operation,
  r: {
    pathValues: Record<string, string>;
    query: [string, string][];
    headers: Record<string, string>;
    text: string | undefined;
    contentType: string | undefined;
  },
): string | undefined {
  for (const p of op.parameters) {
    const value =
      p.in === 'path'
        ? r.pathValues[p.name]
        : p.in === 'query'
          ? r.query.find(([k]) => k === p.name)?.[1]
          : r.headers[p.name];
    if (value === undefined) {
      if (p.required) return `${p.in}.${p.name} missing`;
      continue;
    }
    // Parameters arrive as text; a number-typed one is the number that text spells.
    const typed =
      ['integer', 'number'].includes(String(schemas.resolve(p.schema).type)) && /^-?\d+(\.\d+)?$/.test(value)
        ? Number(value)
        : value;
    const why = schemas.check(p.schema, typed);
    if (why) return `${p.in}.${p.name} ${why}`;
  }
  const declared = new Set(op.parameters.filter((p) => p.in === 'query').map((p) => p.name));
  const stray = r.query.find(([k]) => !declared.has(k));
  if (stray) return `query.${stray[0]} is not a parameter`;
  if (!op.body) return r.text !== undefined ? 'a body where none is taken' : undefined;
  if (r.text === undefined) return op.body.required ? 'body missing' : undefined;
  if (r.contentType !== 'application/json') return 'content type is not application/json';
  if (Buffer.byteLength(r.text) > BODY_LIMIT) return 'body larger than 64 KiB';
  const why = schemas.check(op.body.schema, JSON.parse(r.text));
  return why && `body ${why}`;
}

export interface Finding {
  kind: 'server error' | 'contract mismatch';
  caller: Caller;
  operation: string;
  request: string;
  status: number;
  problem: string;
}

export interface Outcome {
  status: number;
  findings: Finding[];
  /** A request that changed nothing by contract: refused, or a read. */
  refusedOrRead: boolean;
}

/** Sends a request and judges the answer against the document. */
export async function exchange(
  baseUrl: string,
  tokens: Record<string, string>,
  schemas: Schemas,
  req: FuzzRequest,
): Promise<Outcome> {
  const url = new URL(req.path, baseUrl);
  for (const [k, v] of req.query) url.searchParams.append(k, v);
  const headers: Record<string, string> = { ...req.headers };
  if (req.caller === 'unknown') headers.authorization = `Bearer swt_${'u'.repeat(43)}`;
  else if (req.caller !== 'anonymous') headers.authorization = `Bearer ${tokens[req.caller]}`;
  const controller = new AbortController();
  const res = await fetch(url, {
    method: req.op.method,
    headers,
    ...(req.body !== undefined && { body: req.body }),
    signal: AbortSignal.any([controller.signal, AbortSignal.timeout(45_000)]),
  });
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const text = type === 'text/event-stream' ? await readEvents(res, controller) : await res.text();
  const problems = judgeResponse(schemas, req, res.status, type, text, res.headers);
  const describe = `${req.op.method} ${url.pathname}${url.search}${req.mutation ? ` [${req.mutation}]` : ''}${
    req.invalid ? ` (invalid: ${req.invalid})` : ''
  }`;
  const findings: Finding[] = problems.map((problem) => ({
    kind: res.status >= 500 ? 'server error' : 'contract mismatch',
    caller: req.caller,
    operation: req.op.id,
    request: describe,
    status: res.status,
    problem: `${problem}; answer: ${text.slice(0, 300)}`,
  }));
  // JSON-RPC refuses in-band: a 200 whose every reply is an error object wrote nothing either.
  const refusedOrRead =
    req.op.method === 'GET' ||
    res.status >= 400 ||
    (req.op.id === 'a2a' && res.status === 200 && isJsonRpcErrors(text));
  return { status: res.status, findings, refusedOrRead };
}

/**
 * An event stream is open-ended: read what arrives until the first event after the `retry`
 * preamble, 64 KiB, the end, or a moment of quiet — enough to judge the events that came.
 */
async function readEvents(res: Response, controller: AbortController): Promise<string> {
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const quiet = setTimeout(() => controller.abort(), 1_500);
  try {
    while (text.length < 64 * 1024 && parseEvents(text).length === 0) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // Aborted after the quiet moment: judge what came.
  } finally {
    clearTimeout(quiet);
    controller.abort();
  }
  return text;
}

/** Events a client's parser would dispatch from the text (WHATWG server-sent events, simplified). */
function parseEvents(text: string): { event: string; id?: string; data: string }[] {
  const events: { event: string; id?: string; data: string }[] = [];
  for (const block of text.split('\n\n').slice(0, -1)) {
    const fields: Record<string, string[]> = {};
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      (fields[name] ??= []).push(value);
    }
    if (!fields.data) continue;
    events.push({
      event: fields.event?.at(-1) ?? 'message',
      ...(fields.id && { id: fields.id.at(-1)! }),
      data: fields.data.join('\n'),
    });
  }
  return events;
}

function judgeResponse(
  schemas: Schemas,
  req: FuzzRequest,
  status: number,
  type: string,
  text: string,
  headers: Headers,
): string[] {
  const out: string[] = [];
  const { op } = req;
  if (status >= 500) out.push(`status ${status}`);
  const doc = op.responses[String(status)];
  if (!doc) return [...out, `status ${status} is not documented for ${op.id}`];
  const content = doc.content as Record<string, Json> | undefined;
  if (!content) {
    if (text !== '') out.push(`status ${status} documents no body, got ${type || 'one'}`);
  } else if (!content[type]) {
    out.push(
      `content type ${type || '(none)'} is not documented for ${status} (${Object.keys(content).join(', ')})`,
    );
  } else if (type === 'text/event-stream') {
    const item = content[type]['x-swoosh-item-schema'] as Schema;
    for (const event of parseEvents(text)) {
      const why = schemas.check(item, event);
      if (why) out.push(`event ${event.event}: ${why}`);
      const kinds = ((item.oneOf as Schema[] | undefined) ?? [item]).map((k) => schemas.resolve(k));
      const kind = kinds.find((k) => ((k.properties as Json).event as Json).const === event.event);
      const data = kind && (((kind.properties as Json).data as Json).contentSchema as Schema);
      if (data) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(event.data);
        } catch {
          out.push(`event ${event.event}: data is not JSON`);
          continue;
        }
        const bad = schemas.check(data, parsed);
        if (bad) out.push(`event ${event.event} data: ${bad}`);
      }
    }
  } else if (type.endsWith('json')) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return [...out, `${type} body is not JSON`];
    }
    const schema = content[type].schema as Schema | undefined;
    const why = schema && schemas.check(schema, body);
    if (why) out.push(`body does not match the ${status} schema: ${why}`);
  }
  if (status === 401 && !headers.get('www-authenticate')) out.push('401 without WWW-Authenticate');

  // What the caller and the request's validity make of the status.
  const isPublic = op.roles.includes('public');
  const allowed =
    isPublic || (req.caller !== 'anonymous' && req.caller !== 'unknown' && op.roles.includes(req.caller));
  if (!isPublic && (req.caller === 'anonymous' || req.caller === 'unknown')) {
    if (status !== 401) out.push(`expected 401 for ${req.caller}, got ${status}`);
    return out;
  }
  if (!allowed) {
    if (status !== 403) out.push(`expected 403 for role ${req.caller}, got ${status}`);
    return out;
  }
  if (status === 401) out.push(`role ${req.caller} is admitted but got 401`);
  // An admitted role may still be refused what it asks for (a timer action it may not take),
  // but only for a reason the 403 response lists.
  if (status === 403) {
    const unexplained = unlisted(doc, text);
    if (unexplained !== null)
      out.push(`role ${req.caller} is admitted but got 403 (${unexplained}) outside x-swoosh-refusals`);
  }
  // JSON-RPC answers a bad call in-band: 200 with an error object for every request in it.
  const inBand = op.id === 'a2a' && status === 200;
  if (req.invalid) {
    if (status < 400 && !inBand)
      out.push(`a request the document refuses (${req.invalid}) was answered ${status}`);
    if (inBand && !isJsonRpcErrors(text))
      out.push(`an invalid JSON-RPC request (${req.invalid}) got a result`);
    return out;
  }
  if ([413, 415].includes(status)) out.push(`a valid request was refused with ${status}`);
  if (status === 400) {
    const unexplained = unlisted(doc, text);
    if (unexplained !== null)
      out.push(`a valid request was refused with 400 (${unexplained}) outside x-swoosh-refusals`);
  }
  return out;
}

/**
 * The fields of a problem that its response's `x-swoosh-refusals` does not explain, or null when
 * every field is explained (a problem naming no field is never explained).
 */
function unlisted(doc: Json, text: string): string | null {
  const refusals = (doc['x-swoosh-refusals'] ?? []) as { field: string; title?: string }[];
  let problem: { title?: string; errors?: { field: string }[] } = {};
  try {
    problem = JSON.parse(text) as typeof problem;
  } catch {
    // Reported above as not JSON.
  }
  const fields = problem.errors?.map((e) => e.field) ?? [];
  const unexplained = fields.filter(
    (f) =>
      !refusals.some(
        (r) => new RegExp(r.field).test(f) && (r.title === undefined || r.title === problem.title),
      ),
  );
  if (fields.length === 0) return 'no field';
  return unexplained.length > 0 ? unexplained.join(', ') : null;
}

function isJsonRpcErrors(text: string): boolean {
  try {
    const body = JSON.parse(text) as unknown;
    const replies = Array.isArray(body) ? body : [body];
    return replies.every((r) => isObject(r) && 'error' in r);
  } catch {
    return false;
  }
}

export interface FuzzReport {
  /** Requests sent per caller. */
  cases: Record<Caller, number>;
  /** Requests sent per operation. */
  operations: Record<string, number>;
  statuses: Record<string, number>;
  serverErrors: Finding[];
  mismatches: Finding[];
  /** Valid requests the generator could not construct (ajv said no), per operation. */
  generatorMisses: Record<string, number>;
  /** Requests in the refused-or-read phase that a server accepted as a write. */
  acceptedWrites: string[];
}

export interface FuzzOptions {
  baseUrl: string;
  doc: Json;
  tokens: Record<string, string>;
  /** Requests per caller in each phase. */
  examples: number;
  seed: number;
  /**
   * `refused`: only requests that must change nothing — refused by role, token or contract, or
   * reads; `writes`: valid writes by admitted roles (they may change state).
   */
  phase: 'refused' | 'writes';
  hints?: Hints;
  concurrency?: number;
  /** Called with every request and its status (`npm run fuzz -- --trace`). */
  trace?: (req: FuzzRequest, status: number) => void;
  /** Only these operations (by operationId); all when absent. */
  only?: readonly string[];
}

/**
 * Generates `examples` requests per caller for the phase, sends them (a few at a time) and
 * returns what the document would say about every answer.
 */
export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const schemas = new Schemas(options.doc);
  const ops = operationsOf(options.doc).filter((op) => !options.only || options.only.includes(op.id));
  const hints = options.hints ?? {};
  const arbs = new Map(ops.map((op) => [op.id, requestArbitrary(schemas, op, CALLERS, hints)]));
  const report: FuzzReport = {
    cases: Object.fromEntries(CALLERS.map((c) => [c, 0])) as Record<Caller, number>,
    operations: {},
    statuses: {},
    serverErrors: [],
    mismatches: [],
    generatorMisses: {},
    acceptedWrites: [],
  };
  const wanted = (req: FuzzRequest): boolean => {
    const admitted = req.op.roles.includes('public') || req.op.roles.includes(req.caller);
    const mayWrite = admitted && !req.invalid && req.op.method !== 'GET';
    return options.phase === 'refused' ? !mayWrite : mayWrite;
  };
  const queue: FuzzRequest[] = [];
  for (const caller of CALLERS) {
    const writable = ops.filter(
      (op) => op.method !== 'GET' && (op.roles.includes(caller) || op.roles.includes('public')),
    );
    const pool = options.phase === 'writes' ? writable : ops;
    if (pool.length === 0) continue;
    const perCaller = fc.constantFrom(...pool).chain((op) => arbs.get(op.id)!.map((r) => ({ ...r, caller })));
    let seed = options.seed + CALLERS.indexOf(caller) * 7919;
    let taken = 0;
    for (let round = 0; taken < options.examples && round < 50; round++) {
      for (const req of fc.sample(perCaller, { numRuns: options.examples * 2, seed: seed++ })) {
        if (taken >= options.examples) break;
        // Meant to be valid, but the document says no: the generator's miss, still worth sending.
        if (!req.mutation && req.invalid)
          report.generatorMisses[req.op.id] = (report.generatorMisses[req.op.id] ?? 0) + 1;
        if (!wanted(req)) continue;
        queue.push(req);
        taken++;
      }
    }
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < queue.length) {
      const req = queue[next++]!;
      const outcome = await exchange(options.baseUrl, options.tokens, schemas, req);
      options.trace?.(req, outcome.status);
      report.cases[req.caller] += 1;
      report.operations[req.op.id] = (report.operations[req.op.id] ?? 0) + 1;
      report.statuses[outcome.status] = (report.statuses[outcome.status] ?? 0) + 1;
      for (const f of outcome.findings)
        (f.kind === 'server error' ? report.serverErrors : report.mismatches).push(f);
      if (options.phase === 'refused' && !outcome.refusedOrRead) {
        report.acceptedWrites.push(`${req.caller} ${req.op.method} ${req.path} → ${outcome.status}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return report;
}

/** The report as lines for a person: cases per caller, statuses, and the first findings. */
export function formatReport(report: FuzzReport, limit = 20): string {
  const lines = [
    `cases per caller: ${CALLERS.map((c) => `${c} ${report.cases[c]}`).join(', ')} (total ${Object.values(report.cases).reduce((a, b) => a + b, 0)})`,
    `statuses: ${Object.entries(report.statuses)
      .map(([s, n]) => `${s}×${n}`)
      .join(' ')}`,
    `server errors: ${report.serverErrors.length}`,
    `contract mismatches: ${report.mismatches.length}`,
  ];
  for (const f of [...report.serverErrors, ...report.mismatches].slice(0, limit)) {
    lines.push(`  - [${f.kind}] ${f.caller} ${f.request} → ${f.status}: ${f.problem}`);
  }
  if (report.acceptedWrites.length > 0) {
    lines.push(`accepted writes in the refused phase: ${report.acceptedWrites.length}`);
    for (const w of report.acceptedWrites.slice(0, limit)) lines.push(`  - ${w}`);
  }
  return lines.join('\n');
}
