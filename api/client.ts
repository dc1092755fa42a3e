/**
 * A small typed client for the gateway, used by the tests, the benchmark and anyone scripting
 * SWOOSH from TypeScript. Each method returns the status, headers and the typed body: the
 * success contract when `ok`, a problem document otherwise. Types come from schemas/, so the
 * client cannot drift from what the gateway validates. `propose`, `approve` and `vote`
 * (api/signed-requests.ts) build and sign proposals and votes with the caller's key and retry when
 * HEAD moved; the `swoosh` CLI is built on them.
 */
import type { z } from 'zod';
import type { A2A_METHODS, JsonRpcResponseObject } from '../schemas/a2a';
import type {
  MissionListQuery,
  MissionPage,
  MissionStartRequest,
  Problem,
  StateResponse,
  TransitionAccepted,
  VoteTally,
} from '../schemas/api';
import type { LedgerRecord } from '../schemas/decision-record';
import type { Health } from '../schemas/health';
import type { MissionStarted, MissionView } from '../schemas/mission';
import type { TransitionProposal } from '../schemas/proposal';
import type {
  CreateTimerRequest,
  DeadLetterPage,
  TimerCreated,
  TimerPage,
  TimerRecord,
  TimerState,
} from '../schemas/timer';

export type ProblemBody = z.infer<typeof Problem> & {
  failing_guard?: string;
  reasons?: string[];
  current_hash?: string;
};

export type ApiResponse<T> =
  | { ok: true; status: number; headers: Headers; body: T }
  | { ok: false; status: number; headers: Headers; body: ProblemBody };

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  /** A value to send as JSON, or a string sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ServerSentEvent {
  id?: string;
  event: string;
  data: string;
}

export type JsonRpcReply = z.infer<typeof JsonRpcResponseObject>;

/** One answered request, for callers that watch traffic (contract tests check every body). */
export interface Exchange {
  method: string;
  path: string;
  status: number;
  contentType: string;
  body: unknown;
}

/**
 * The gateway could not be reached at all (refused, reset, unknown host), as opposed to one that
 * answered with an error status.
 */
export class GatewayUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const why =
      cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : String(cause);
    super(`gateway ${url} is unreachable: ${why}`, { cause });
    this.name = 'GatewayUnreachableError';
  }
}

export {
  approve,
  propose,
  type RequestSigner,
  type SignedOutcome,
  type SignedRequestOptions,
  UnexpectedAnswerError,
  vote,
} from './signed-requests';

export class SwooshClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
    readonly onResponse?: (exchange: Exchange) => void,
  ) {}

  /** The same client with another token (or none): role tests swap identities this way. */
  as(token: string | undefined): SwooshClient {
    return new SwooshClient(this.baseUrl, token, this.onResponse);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const res = await this.fetch(method, path, options);
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    const body: unknown = text.length > 0 && /json/.test(contentType) ? JSON.parse(text) : text;
    this.onResponse?.({
      method,
      path: new URL(path, this.baseUrl).pathname,
      status: res.status,
      contentType,
      body,
    });
    return res.ok
      ? { ok: true, status: res.status, headers: res.headers, body: body as T }
      : { ok: false, status: res.status, headers: res.headers, body: body as ProblemBody };
  }

  fetch(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = { ...options.headers };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    return fetch(url, { method, headers, body, signal: options.signal }).catch((error: unknown) => {
      // An abort is the caller's own doing, not an unreachable gateway.
      if (options.signal?.aborted) throw error;
      throw new GatewayUnreachableError(this.baseUrl, error);
    });
  }

  startMission(body: z.input<typeof MissionStartRequest>) {
    return this.request<MissionStarted>('POST', '/missions', { body });
  }

  listMissions(
    query: {
      phase?: z.input<typeof MissionListQuery>['phase'];
      priority?: z.input<typeof MissionListQuery>['priority'];
      pageSize?: number;
      pageToken?: string;
    } = {},
  ) {
    return this.request<MissionPage>('GET', '/missions', { query: stringify(query) });
  }

  getMission(id: string) {
    return this.request<MissionView>('GET', `/missions/${encodeURIComponent(id)}`);
  }

  getState(mission: string, projection?: string) {
    return this.request<z.infer<typeof StateResponse>>('GET', '/state', { query: { mission, projection } });
  }

  propose(proposal: TransitionProposal, mission?: string) {
    return this.request<TransitionAccepted>('POST', '/transition', { body: proposal, query: { mission } });
  }

  approve(mission: string, proposal: TransitionProposal) {
    return this.request<TransitionAccepted>('POST', `/missions/${encodeURIComponent(mission)}/approvals`, {
      body: proposal,
    });
  }

  vote(mission: string, vote: { member: string; council_set_hash: string; signature: string }) {
    return this.request<z.infer<typeof VoteTally>>('POST', `/missions/${encodeURIComponent(mission)}/votes`, {
      body: vote,
    });
  }

  control(mission: string, action: 'pause' | 'resume', reason: string) {
    return this.request<{ accepted: true }>('POST', `/missions/${encodeURIComponent(mission)}/control`, {
      body: { action, reason },
    });
  }

  ledger(mission: string, query: { kind?: 'decision' | 'all'; pageSize?: number; pageToken?: string } = {}) {
    return this.request<{ records: LedgerRecord[]; nextPageToken?: string }>(
      'GET',
      `/missions/${encodeURIComponent(mission)}/ledger`,
      { query: stringify(query) },
    );
  }

  /** Evidence the mission's ledger cites: parsed JSON when it is JSON, else its text. */
  evidence(mission: string, checksum: string) {
    return this.request<unknown>(
      'GET',
      `/missions/${encodeURIComponent(mission)}/evidence/${encodeURIComponent(checksum)}`,
    );
  }

  health() {
    return this.request<Health>('GET', '/health');
  }

  createTimer(spec: CreateTimerRequest) {
    return this.request<TimerCreated>('POST', '/timers', { body: spec });
  }

  getTimer(id: string) {
    return this.request<TimerRecord>('GET', `/timers/${encodeURIComponent(id)}`);
  }

  listTimers(query: { state?: TimerState; limit?: number; after?: string } = {}) {
    return this.request<z.infer<typeof TimerPage>>('GET', '/timers', { query: stringify(query) });
  }

  cancelTimer(id: string) {
    return this.request<TimerRecord>('DELETE', `/timers/${encodeURIComponent(id)}`);
  }

  /** Recorded as acknowledged by this client's token name. */
  ackTimer(id: string) {
    return this.request<TimerRecord>('POST', `/timers/${encodeURIComponent(id)}/ack`, { body: {} });
  }

  listDeadLetters(query: { limit?: number; after?: string } = {}) {
    return this.request<z.infer<typeof DeadLetterPage>>('GET', '/timers/dead-letters', {
      query: stringify(query),
    });
  }

  replayDeadLetter(id: string) {
    return this.request<TimerRecord>('POST', `/timers/${encodeURIComponent(id)}/replay`, { body: {} });
  }

  /** One JSON-RPC call (or a batch, when given an array of requests). */
  async a2a(body: unknown): Promise<{ status: number; replies: JsonRpcReply | JsonRpcReply[] | undefined }> {
    const res = await this.fetch('POST', '/a2a', { body });
    const text = await res.text();
    const replies = text ? (JSON.parse(text) as JsonRpcReply | JsonRpcReply[]) : undefined;
    const contentType = res.headers.get('content-type') ?? '';
    this.onResponse?.({ method: 'POST', path: '/a2a', status: res.status, contentType, body: replies });
    return { status: res.status, replies };
  }

  /** Calls one A2A method with params typed by its contract. */
  async call<M extends keyof typeof A2A_METHODS>(
    method: M,
    params: z.input<(typeof A2A_METHODS)[M]['params']>,
    id: string | number = 1,
  ): Promise<JsonRpcReply> {
    const { replies } = await this.a2a({ jsonrpc: '2.0', id, method, params });
    return replies as JsonRpcReply;
  }

  /**
   * The mission's transition events, parsed as they arrive, until `signal` aborts or the server
   * ends the stream. Throws with the status when the stream is refused.
   */
  async *events(
    mission: string,
    options: { lastEventId?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<ServerSentEvent> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    const res = await this.fetch('GET', `/missions/${encodeURIComponent(mission)}/events`, {
      headers,
      signal: options.signal,
    });
    if (!res.ok || !res.body) throw new Error(`event stream refused: ${res.status} ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseEvent(block);
          if (event) yield event;
        }
      }
    } catch (error) {
      if (!options.signal?.aborted) throw error;
    }
  }

  /**
   * Timer state changes (GET /timers/events), parsed as they arrive: each `timer` event's `data`
   * is a signed timer event. Ends and throws like `events`.
   */
  async *timerEvents(
    query: { state?: string; idPrefix?: string; from?: 'now' | 'start' } = {},
    options: { lastEventId?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<ServerSentEvent> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    const res = await this.fetch('GET', '/timers/events', {
      query: stringify(query),
      headers,
      signal: options.signal,
    });
    if (!res.ok || !res.body) throw new Error(`event stream refused: ${res.status} ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event) yield event;
        }
      }
    } catch (error) {
      if (!options.signal?.aborted) throw error;
    }
  }
}

function parseEvent(block: string): ServerSentEvent | undefined {
  let id: string | undefined;
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return undefined;
  return { ...(id !== undefined && { id }), event, data: data.join('\n') };
}

function stringify(query: Record<string, string | number | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(query).map(([k, v]) => [k, v === undefined ? undefined : String(v)]),
  );
}
