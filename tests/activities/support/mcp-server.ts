/**
 * A small MCP server over Streamable HTTP for probing tests: JSON-RPC 2.0 `initialize`
 * (serverInfo, protocolVersion, session id), the `initialized` notification, `ping`, and DELETE
 * to end a session. It is strict where the protocol is, so a sloppy client fails the tests.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, startHttpServer, type TestServer } from './http-server';

/** What the server does with the n-th session (0-based) it is asked to open. */
export type SessionFate = 'serve' | 'refuse' | 'fail' | 'hang';

export interface McpServerOptions {
  name?: string;
  version: string;
  /** Answer with JSON bodies, with event streams it closes, or with streams it keeps open. */
  transport?: 'json' | 'sse' | 'sse-open';
  fate?: (session: number) => SessionFate;
}

export interface McpTestServer extends TestServer {
  stats: { initializeCalls: number; pings: number; sessionsEnded: number };
}

export async function startMcpServer(options: McpServerOptions): Promise<McpTestServer> {
  const sessions = new Map<string, string>();
  const stats = { initializeCalls: 0, pings: 0, sessionsEnded: 0 };
  const name = options.name ?? 'test-tools';

  const reply = (res: ServerResponse, message: unknown, headers: Record<string, string> = {}) => {
    const body = JSON.stringify(message);
    if (options.transport === 'sse' || options.transport === 'sse-open') {
      res.writeHead(200, { 'content-type': 'text/event-stream', ...headers });
      // A comment event first, as servers send to keep streams alive.
      res.write(': keep-alive\n\n');
      res.write(`event: message\ndata: ${body}\n\n`);
      if (options.transport === 'sse') res.end();
    } else {
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(body);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const sessionId = req.headers['mcp-session-id'];
    if (req.method === 'DELETE') {
      if (typeof sessionId === 'string' && sessions.delete(sessionId)) stats.sessionsEnded += 1;
      res.writeHead(200).end();
      return;
    }
    const accept = req.headers.accept ?? '';
    if (
      req.method !== 'POST' ||
      !accept.includes('application/json') ||
      !accept.includes('text/event-stream')
    ) {
      res.writeHead(406).end();
      return;
    }
    const message = JSON.parse(await readBody(req)) as { id?: number; method: string; params?: unknown };
    if (message.method === 'initialize') {
      const fate = options.fate?.(stats.initializeCalls) ?? 'serve';
      stats.initializeCalls += 1;
      if (fate === 'refuse') return void req.socket.destroy();
      if (fate === 'fail') return void res.writeHead(503).end();
      if (fate === 'hang') return;
      const id = randomUUID();
      const params = message.params as { protocolVersion: string };
      sessions.set(id, params.protocolVersion);
      reply(
        res,
        {
          jsonrpc: '2.0',
          id: message.id,
          result: {
            protocolVersion: params.protocolVersion,
            capabilities: { tools: {} },
            serverInfo: { name, version: options.version },
          },
        },
        { 'mcp-session-id': id },
      );
      return;
    }
    // After initialize, MCP requires the session id and the negotiated protocol version.
    const negotiated = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (negotiated === undefined) return void res.writeHead(404).end();
    if (req.headers['mcp-protocol-version'] !== negotiated) return void res.writeHead(400).end();
    if (message.method === 'notifications/initialized') return void res.writeHead(202).end();
    if (message.method === 'ping') {
      stats.pings += 1;
      reply(res, { jsonrpc: '2.0', id: message.id, result: {} });
      return;
    }
    reply(res, { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'Method not found' } });
  };

  const server = await startHttpServer(handle);
  return { ...server, stats };
}
