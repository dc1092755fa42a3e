/**
 * Tool health (MCP). Each configured tool server is probed over MCP's Streamable HTTP transport:
 * `initialize` (which reports serverInfo and the protocol version), the `initialized`
 * notification, then `ping`, whose round trip is the latency. Several probes per server tell a
 * flapping server from one that is up or down. The report feeds the TOOLING_SYNC guard.
 */
import { performance } from 'node:perf_hooks';
import { Context } from '@temporalio/activity';
import {
  JsonRpcResponse,
  McpInitializeResult,
  McpPingResult,
  ToolServerConfig,
  type ToolHealthReport,
  type ToolServerHealth,
} from '../schemas/tool-health';
import { describeFetchError } from '../host/fetch-error';

/** The MCP revision the probe speaks; servers answer with the one they chose. */
export const MCP_PROTOCOL_VERSION = '2025-06-18';

export interface ToolHealthDeps {
  servers: ToolServerConfig[];
  /** Probes per server per check; default 3. */
  probes?: number;
  /** Pause between a server's probes; default 250 ms. */
  probeIntervalMs?: number;
  /** Deadline for one JSON-RPC exchange; default 3 s. */
  timeoutMs?: number;
  clock?: () => number;
}

interface ProbeResult {
  latencyMs: number;
  serverInfo: { name: string; version: string };
  protocolVersion: string;
}

class ProbeError extends Error {}

export function createToolHealthActivities(deps: ToolHealthDeps) {
  const servers = ToolServerConfig.array().parse(deps.servers);
  const probes = deps.probes ?? 3;
  const probeIntervalMs = deps.probeIntervalMs ?? 250;
  const timeoutMs = deps.timeoutMs ?? 3000;
  const clock = deps.clock ?? Date.now;

  return {
    /** Probes every configured server (in parallel) and compares what they report with the pins. */
    probeToolServers: async (): Promise<ToolHealthReport> => {
      const context = Context.current();
      const health = await Promise.all(
        servers.map(async (server) => {
          const results: (ProbeResult | Error)[] = [];
          for (let i = 0; i < probes; i++) {
            if (i > 0) await context.sleep(probeIntervalMs);
            try {
              results.push(await probe(server.url, timeoutMs, context.cancellationSignal));
            } catch (error) {
              // A cancelled activity stops; any other failure is what the probe measured.
              if (context.cancellationSignal.aborted) throw error;
              results.push(asError(error));
            }
            context.heartbeat({ server: server.name, probe: i + 1 });
          }
          return summarise(server, results);
        }),
      );
      return report(health, clock());
    },
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function summarise(server: ToolServerConfig, results: (ProbeResult | Error)[]): ToolServerHealth {
  const answered = results.filter((r): r is ProbeResult => !(r instanceof Error));
  const errors = results.filter((r): r is Error => r instanceof Error);
  const last = answered.at(-1);
  const onPin = (r: ProbeResult) =>
    r.serverInfo.version === server.pinnedVersion &&
    (server.expectedName === undefined || r.serverInfo.name === server.expectedName);
  const status = answered.length === results.length ? 'up' : answered.length === 0 ? 'down' : 'flapping';
  return {
    name: server.name,
    url: server.url,
    status,
    reachable: status === 'up',
    probes: results.length,
    answered: answered.length,
    latencyMs: median(answered.map((r) => r.latencyMs)),
    serverInfo: last ? last.serverInfo : null,
    protocolVersion: last ? last.protocolVersion : null,
    pinnedVersion: server.pinnedVersion,
    versionMatch: last ? answered.every(onPin) : null,
    lastError: errors.at(-1)?.message ?? null,
  };
}

function report(servers: ToolServerHealth[], now: number): ToolHealthReport {
  const reasons: string[] = [];
  const mismatches: ToolHealthReport['mismatches'] = [];
  for (const s of servers) {
    if (s.status === 'down')
      reasons.push(`tool server ${s.name} is unreachable: ${s.lastError ?? 'no answer'}`);
    if (s.status === 'flapping') {
      reasons.push(
        `tool server ${s.name} is flapping: ${s.answered}/${s.probes} probes answered (${s.lastError})`,
      );
    }
    if (s.versionMatch === false && s.serverInfo) {
      mismatches.push({ name: s.name, pinned: s.pinnedVersion, reported: s.serverInfo.version });
      reasons.push(
        `tool server ${s.name} reports ${s.serverInfo.name} ${s.serverInfo.version}, pinned ${s.pinnedVersion}`,
      );
    }
  }
  return {
    ok: reasons.length === 0,
    reasons,
    checkedAt: new Date(now).toISOString(),
    servers,
    mismatches,
  };
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value = sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return Math.round((value ?? 0) * 100) / 100;
}

/** One MCP session: initialize, initialized, ping, then end the session. */
async function probe(url: string, timeoutMs: number, cancel: AbortSignal): Promise<ProbeResult> {
  const session = new McpSession(url, timeoutMs, cancel);
  const init = McpInitializeResult.safeParse(
    await session.request('initialize', {
      protocolVersion: MCP_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'swoosh-tool-health', version: '1' },
    }),
  );
  if (!init.success) throw new ProbeError('initialize result is not an MCP InitializeResult');
  session.protocolVersion = init.data.protocolVersion;
  try {
    await session.notify('notifications/initialized');
    const started = performance.now();
    const pong = McpPingResult.safeParse(await session.request('ping'));
    const latencyMs = performance.now() - started;
    if (!pong.success) throw new ProbeError('ping result is not an object');
    return { latencyMs, serverInfo: init.data.serverInfo, protocolVersion: init.data.protocolVersion };
  } finally {
    await session.close();
  }
}

class McpSession {
  sessionId: string | undefined;
  protocolVersion: string | undefined;
  #nextId = 1;

  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
    private readonly cancel: AbortSignal,
  ) {}

  async request(method: string, params?: unknown): Promise<unknown> {
    const id = this.#nextId++;
    const response = await this.#post({
      jsonrpc: '2.0',
      id,
      method,
      ...(params !== undefined && { params }),
    });
    const message = await this.#readResponse(response, id, method);
    if ('error' in message)
      throw new ProbeError(`${method} failed: ${message.error.code} ${message.error.message}`);
    return message.result;
  }

  async notify(method: string): Promise<void> {
    const response = await this.#post({ jsonrpc: '2.0', method });
    await response.body?.cancel();
    if (!response.ok) throw new ProbeError(`${method} answered HTTP ${response.status}`);
  }

  /**
   * Ends the session as MCP asks clients to. Servers may answer 405 (they expire sessions
   * themselves) or be gone already; neither changes the probe's result, so failures are ignored.
   */
  async close(): Promise<void> {
    if (this.sessionId === undefined) return;
    try {
      const response = await fetch(this.url, {
        method: 'DELETE',
        headers: this.#headers(),
        signal: this.#signal(),
      });
      await response.body?.cancel();
    } catch {
      // See above: closing is a courtesy.
    }
  }

  async #post(message: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.#headers() },
        body: JSON.stringify(message),
        signal: this.#signal(),
      });
    } catch (error) {
      throw this.#failure(error);
    }
    this.sessionId ??= response.headers.get('mcp-session-id') ?? undefined;
    return response;
  }

  /**
   * Reads the JSON-RPC response with `id` from a JSON body or from a server-sent event stream.
   * A stream is read event by event and dropped once the response arrives, since a server may
   * keep it open for further messages.
   */
  async #readResponse(response: Response, id: number, method: string): Promise<JsonRpcResponse> {
    if (!response.ok) {
      await response.body?.cancel();
      throw new ProbeError(`${method} answered HTTP ${response.status}`);
    }
    const matching = (text: string): JsonRpcResponse | undefined => {
      const parsed = JsonRpcResponse.safeParse(parseJson(text));
      return parsed.success && parsed.data.id === id ? parsed.data : undefined;
    };
    let found: JsonRpcResponse | undefined;
    try {
      if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        found = matching(await response.text());
      } else if (response.body) {
        const decoder = new TextDecoder();
        let pending = '';
        const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
        while (!found) {
          const { done, value } = await reader.read();
          if (done) break;
          pending += decoder.decode(value, { stream: true });
          const events = pending.split(/\r?\n\r?\n/);
          pending = events.pop() ?? '';
          found = events
            .map(sseData)
            .map(matching)
            .find((m) => m !== undefined);
        }
        await reader.cancel();
      }
    } catch (error) {
      throw this.#failure(error);
    }
    if (!found) throw new ProbeError(`${method}: no JSON-RPC response with id ${id} in the answer`);
    return found;
  }

  #headers(): Record<string, string> {
    return {
      accept: 'application/json, text/event-stream',
      ...(this.sessionId !== undefined && { 'mcp-session-id': this.sessionId }),
      ...(this.protocolVersion !== undefined && { 'mcp-protocol-version': this.protocolVersion }),
    };
  }

  #signal(): AbortSignal {
    return AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.cancel]);
  }

  #failure(error: unknown): Error {
    if (error instanceof Error && error.name === 'TimeoutError') {
      return new ProbeError(`no answer within ${this.timeoutMs} ms`);
    }
    if (this.cancel.aborted) return asError(error);
    return new ProbeError(`${describeFetchError(error)}`);
  }
}

/** The `data` of one SSE event; a multi-line payload is joined with newlines. */
function sseData(event: string): string {
  return event
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).replace(/^ /, ''))
    .join('\n');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
