/**
 * The OpenAPI 3.1 document, generated from the route registry and its zod contracts (zod's own
 * JSON Schema output, draft 2020-12, which is OpenAPI 3.1's dialect), and a self-contained HTML
 * rendering of it for /docs (no scripts, no CDN). The document is meant to be exact: a request it
 * calls valid is one the gateway accepts, except for the refusals each response lists under
 * `x-swoosh-refusals` (rules across fields or on server state), and every status a route answers
 * is listed with the body it really sends. tests/gateway/support/contract-fuzz.ts holds it to that.
 */
import { z } from 'zod';
import { Problem } from '../schemas/api';
import { HOSTILE_KEYS, MAX_DEPTH, type Refusal, type ResponseDoc, type RouteDoc } from './routes';

type Json = Record<string, unknown>;

/** Named JSON Schemas under components.schemas, one per zod schema (and direction). */
class SchemaBook {
  readonly components: Record<string, Json> = {};
  readonly #names = new Map<z.ZodType, Map<string, string>>();

  /** A `$ref` to the schema's component, converting it on first use. */
  ref(schema: z.ZodType, name: string, io: 'input' | 'output'): Json {
    const byIo = this.#names.get(schema) ?? new Map<string, string>();
    this.#names.set(schema, byIo);
    const known = byIo.get(io);
    if (known) return { $ref: `#/components/schemas/${known}` };
    let unique = name;
    for (let n = 2; unique in this.components; n++) unique = `${name}${n}`;
    byIo.set(io, unique);
    this.#add(unique, this.convert(schema, io, unique));
    return { $ref: `#/components/schemas/${unique}` };
  }

  /** The schema inline (parameters), with any definitions it needs hoisted to components. */
  convert(schema: z.ZodType, io: 'input' | 'output', name: string): Json {
    let json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
    if (io === 'input') json = this.#refuseHostileKeys(json);
    const defs = (json.$defs ?? {}) as Record<string, Json>;
    delete json.$defs;
    delete json.$schema;
    // Refs point into the document: `#` (recursion) to this component, `#/$defs/x` to hoisted ones.
    const rewrite = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(rewrite);
      if (typeof value !== 'object' || value === null) return value;
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => {
          if (k === '$ref' && typeof v === 'string') {
            if (v === '#') return [k, `#/components/schemas/${name}`];
            if (v.startsWith('#/$defs/')) return [k, `#/components/schemas/${name}.${v.slice(8)}`];
          }
          return [k, rewrite(v)];
        }),
      );
    };
    for (const [key, def] of Object.entries(defs)) this.#add(`${name}.${key}`, rewrite(def) as Json);
    return rewrite(json) as Json;
  }

  /**
   * The gateway refuses `__proto__`, `constructor` and `prototype` as keys anywhere in a body
   * (api/routes.ts): every object that admits other keys says so in `propertyNames`, and a value
   * that may be anything (`{}`) becomes `SafeJsonValue`, any JSON without those keys at any depth.
   */
  #refuseHostileKeys(json: Json): Json {
    const notHostile = { not: { enum: [...HOSTILE_KEYS] } };
    const safeRef = { $ref: '#/components/schemas/SafeJsonValue' };
    this.components.SafeJsonValue ??= {
      description: 'Any JSON value whose objects have no key __proto__, constructor or prototype',
      anyOf: [
        { type: ['string', 'number', 'boolean', 'null'] },
        { type: 'array', items: safeRef },
        { type: 'object', propertyNames: notHostile, additionalProperties: safeRef },
      ],
    };
    const walk = (value: unknown, isSchema: boolean): unknown => {
      if (Array.isArray(value)) return value.map((v) => walk(v, isSchema));
      if (typeof value !== 'object' || value === null) return value;
      if (isSchema && Object.keys(value).length === 0) return safeRef;
      const out: Json = {};
      for (const [k, v] of Object.entries(value as Json)) {
        // Keywords whose value is a schema (or a list / map of them); `const`, `enum`, … are data.
        const schemaValued = SCHEMA_KEYWORDS.has(k);
        if (MAP_KEYWORDS.has(k) && typeof v === 'object' && v !== null) {
          out[k] = Object.fromEntries(Object.entries(v as Json).map(([n, sub]) => [n, walk(sub, true)]));
        } else out[k] = schemaValued ? walk(v, true) : v;
      }
      const open = out.type === 'object' && out.additionalProperties !== false;
      if (open) {
        const names = out.propertyNames as Json | undefined;
        out.propertyNames =
          names === undefined || Object.keys(names).every((k) => k === 'type')
            ? { ...names, ...notHostile }
            : { allOf: [names, notHostile] };
      }
      return out;
    };
    return walk(json, true) as Json;
  }

  #add(name: string, schema: Json): void {
    this.components[name] = schema;
  }
}

/** JSON Schema keywords whose value is a schema or an array of schemas. */
const SCHEMA_KEYWORDS = new Set([
  'items',
  'prefixItems',
  'additionalProperties',
  'propertyNames',
  'contains',
  'not',
  'if',
  'then',
  'else',
  'anyOf',
  'oneOf',
  'allOf',
  'unevaluatedProperties',
  'unevaluatedItems',
]);
/** Keywords whose value maps names to schemas. */
const MAP_KEYWORDS = new Set(['properties', 'patternProperties', '$defs', 'dependentSchemas']);

const pascal = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const toTemplate = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

export interface OpenApiInfo {
  title: string;
  version: string;
  description: string;
}

/**
 * A `text/event-stream` response: the body is text, so `schema` says string; each event a client's
 * parser dispatches is described under `x-swoosh-item-schema` (OpenAPI 3.2 calls it `itemSchema`),
 * its `data` a JSON text whose own schema is `contentSchema`.
 */
function eventStream(book: SchemaBook, events: NonNullable<ResponseDoc['events']>, name: string): Json {
  const kinds = Object.entries(events).map(([event, { data, id }]) => ({
    type: 'object',
    properties: {
      event: { const: event },
      ...(id && { id: book.convert(id, 'output', `${name}${pascal(event)}Id`) }),
      data: {
        type: 'string',
        contentMediaType: 'application/json',
        contentSchema: book.ref(data, `${name}${pascal(event)}Data`, 'output'),
      },
    },
    required: ['event', 'data', ...(id ? ['id'] : [])],
  }));
  return {
    schema: book.ref(
      z.string().meta({ description: 'Server-sent events; each event is x-swoosh-item-schema' }),
      name,
      'output',
    ),
    'x-swoosh-item-schema': kinds.length === 1 ? kinds[0] : { oneOf: kinds },
  };
}

export function buildOpenApi(routes: readonly RouteDoc[], info: OpenApiInfo): Json {
  const book = new SchemaBook();
  const problem = book.ref(Problem, 'Problem', 'output');
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const parameters: Json[] = [];
    const addParams = (schema: z.ZodType | undefined, where: 'path' | 'query'): void => {
      if (!schema) return;
      const json = book.convert(schema, 'input', `${pascal(route.operationId)}${pascal(where)}`);
      const properties = (json.properties ?? {}) as Record<string, Json>;
      const required = new Set((json.required ?? []) as string[]);
      for (const [name, prop] of Object.entries(properties)) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || required.has(name),
          schema: prop,
          ...(typeof prop.description === 'string' && { description: prop.description }),
        });
      }
    };
    addParams(route.params, 'path');
    addParams(route.query, 'query');
    for (const h of route.headers ?? []) {
      parameters.push({
        name: h.name,
        in: 'header',
        required: false,
        description: h.description,
        schema: book.convert(h.schema, 'input', `${pascal(route.operationId)}Header`),
      });
    }

    const responses: Record<string, Json> = {};
    for (const [status, doc] of Object.entries(route.responses)) {
      const type =
        doc.contentType ?? (Number(status) >= 400 ? 'application/problem+json' : 'application/json');
      const name = `${pascal(route.operationId)}${status}`;
      // A content type without a schema is text (or a document) of that type: still a body.
      const media: Json | undefined = doc.events
        ? eventStream(book, doc.events, name)
        : doc.schema
          ? { schema: book.ref(doc.schema, name, 'output') }
          : doc.contentType
            ? {
                schema: book.ref(
                  doc.contentType.startsWith('text/') ? z.string() : z.unknown(),
                  name,
                  'output',
                ),
              }
            : undefined;
      responses[status] = {
        description: doc.description,
        ...(media && { content: { [type]: media } }),
        ...(doc.refusals && { 'x-swoosh-refusals': doc.refusals }),
      };
    }
    const problemResponse = (description: string, refusals?: Refusal[]): Json => ({
      description,
      content: { 'application/problem+json': { schema: problem } },
      ...(refusals && { 'x-swoosh-refusals': refusals }),
    });
    // Every route can answer 400: one without query parameters refuses a query string, one without
    // a body refuses a body.
    responses['400'] ??= problemResponse('Invalid request: `errors` names each field');
    if (route.body) {
      // Nesting is the one body rule JSON Schema cannot state; the field is where it went too deep.
      const deep: Refusal = {
        field: `^body(\\.[^.]*){${MAX_DEPTH}}$`,
        reason: `nested deeper than ${MAX_DEPTH} levels`,
      };
      const listed = (responses['400']['x-swoosh-refusals'] ?? []) as Refusal[];
      responses['400']['x-swoosh-refusals'] = [...listed, deep];
      responses['413'] ??= problemResponse('Body larger than 64 KiB');
      responses['415'] ??= problemResponse('Body is not application/json in UTF-8');
    }
    if (route.access !== 'public') {
      responses['401'] ??= {
        ...problemResponse('Missing or unknown bearer token'),
        headers: {
          'WWW-Authenticate': { description: '`Bearer realm="swoosh"`', schema: { type: 'string' } },
        },
      };
      responses['403'] ??= problemResponse(`Role not allowed (allowed: ${route.access.join(', ')})`);
    }
    responses['500'] ??= problemResponse('Internal error (no detail is disclosed)');

    const template = toTemplate(route.path);
    paths[template] ??= {};
    paths[template][route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description && { description: route.description }),
      tags: [route.tag],
      security: route.access === 'public' ? [] : [{ bearer: [] }],
      'x-swoosh-roles': route.access === 'public' ? ['public'] : [...route.access],
      ...(parameters.length > 0 && { parameters }),
      ...(route.body && {
        requestBody: {
          // A schema that accepts no body at all (`.optional()`) makes the body optional.
          required: !route.body.safeParse(undefined).success,
          content: {
            'application/json': {
              schema: book.ref(route.body, `${pascal(route.operationId)}Request`, 'input'),
              ...(route.example !== undefined && { example: route.example }),
            },
          },
        },
      }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        `${info.description}\n\nOn every path listed here, \`OPTIONS\` answers 204 with \`Allow\`, and a method ` +
        'not listed answers 405 (problem+json) with `Allow`. A request the schemas accept may still be ' +
        'refused for the reasons a response lists under `x-swoosh-refusals` (rules across fields, or on ' +
        'server state such as page tokens and guards); nothing else that the schemas accept is refused.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: book.components,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'A token from the gateway tokens file; its role decides which routes answer.',
        },
      },
    },
  };
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** /docs: the OpenAPI document as one readable page, components inlined by name. */
export function renderDocs(doc: Json): string {
  const info = doc.info as OpenApiInfo;
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  const pre = (value: unknown): string => `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
  const refName = (schema: unknown): string | undefined => {
    const ref = (schema as { $ref?: string } | undefined)?.$ref;
    return ref?.startsWith('#/components/schemas/') ? ref.slice('#/components/schemas/'.length) : undefined;
  };
  const schemaLink = (schema: unknown): string => {
    const name = refName(schema);
    return name ? `<a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>` : pre(schema);
  };
  const ops: string[] = [];
  const toc: string[] = [];
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const id = escapeHtml(String(op.operationId));
      toc.push(
        `<li><a href="#op-${id}"><code>${method.toUpperCase()} ${escapeHtml(path)}</code></a> — ${escapeHtml(String(op.summary))}</li>`,
      );
      const params = ((op.parameters ?? []) as Json[])
        .map(
          (p) =>
            `<tr><td><code>${escapeHtml(String(p.name))}</code></td><td>${escapeHtml(String(p.in))}</td><td>${p.required ? 'yes' : 'no'}</td><td>${pre(p.schema)}</td></tr>`,
        )
        .join('');
      const body = (op.requestBody as { content: Record<string, { schema: unknown }> } | undefined)?.content[
        'application/json'
      ];
      const responses = Object.entries(op.responses as Record<string, Json>)
        .map(([status, r]) => {
          const content = r.content as Record<string, { schema: unknown }> | undefined;
          const [type, media] = content ? Object.entries(content)[0]! : [undefined, undefined];
          return `<tr><td>${escapeHtml(status)}</td><td>${escapeHtml(String(r.description))}</td><td>${type ? `<code>${escapeHtml(type)}</code> ${schemaLink(media?.schema)}` : ''}</td></tr>`;
        })
        .join('');
      ops.push(`<section id="op-${id}">
<h3><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h3>
<p>${escapeHtml(String(op.summary))}</p>
${typeof op.description === 'string' ? `<p>${escapeHtml(op.description)}</p>` : ''}
<p>Roles: <code>${escapeHtml(((op['x-swoosh-roles'] ?? []) as string[]).join(', '))}</code></p>
${params ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>${params}</table>` : ''}
${body ? `<p>Request body (<code>application/json</code>): ${schemaLink(body.schema)}</p>` : ''}
<table><tr><th>status</th><th>meaning</th><th>body</th></tr>${responses}</table>
</section>`);
    }
  }
  const schemaSections = Object.entries(schemas)
    .map(
      ([name, s]) =>
        `<section id="schema-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3>${pre(s)}</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(info.title)} — API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.5rem;overflow:auto;max-height:24rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem;vertical-align:top;text-align:left}
section{border-top:1px solid #ccc;margin-top:1.5rem}
</style></head><body>
<h1>${escapeHtml(info.title)} <small>${escapeHtml(info.version)}</small></h1>
<p>${escapeHtml(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<h2>Operations</h2><ul>${toc.join('\n')}</ul>
${ops.join('\n')}
<h2>Schemas</h2>
${schemaSections}
</body></html>`;
}
