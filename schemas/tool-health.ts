/**
 * Tool health (MCP) contracts: the configured tool servers with their version pins, the slice of
 * MCP's JSON-RPC messages a probe reads, and the report the TOOLING_SYNC guard consumes.
 */
import { z } from 'zod';

export const ToolServerConfig = z.strictObject({
  name: z.string().min(1),
  /** The server's MCP endpoint (Streamable HTTP). */
  url: z.url({ protocol: /^https?$/ }),
  /** The `serverInfo.version` the council's tooling is pinned to; compared exactly. */
  pinnedVersion: z.string().min(1),
  /** When set, `serverInfo.name` must equal it too (guards against a wrong server on the port). */
  expectedName: z.string().min(1).optional(),
});
export type ToolServerConfig = z.infer<typeof ToolServerConfig>;

export const JsonRpcId = z.union([z.string(), z.number()]);

export const JsonRpcResponse = z.union([
  z.object({ jsonrpc: z.literal('2.0'), id: JsonRpcId, result: z.unknown() }),
  z.object({
    jsonrpc: z.literal('2.0'),
    id: JsonRpcId.nullable(),
    error: z.object({ code: z.int(), message: z.string(), data: z.unknown().optional() }),
  }),
]);
export type JsonRpcResponse = z.infer<typeof JsonRpcResponse>;

/** The part of MCP's InitializeResult a probe relies on. */
export const McpInitializeResult = z.object({
  protocolVersion: z.string().min(1),
  capabilities: z.record(z.string(), z.unknown()),
  serverInfo: z.object({ name: z.string(), version: z.string() }),
});
export type McpInitializeResult = z.infer<typeof McpInitializeResult>;

/** MCP's ping answers with an empty result object. */
export const McpPingResult = z.record(z.string(), z.unknown());

/** up: every probe answered; down: none did; flapping: some did. */
export const ToolServerStatus = z.enum(['up', 'down', 'flapping']);
export type ToolServerStatus = z.infer<typeof ToolServerStatus>;

export const ToolServerHealth = z.strictObject({
  name: z.string(),
  url: z.string(),
  status: ToolServerStatus,
  reachable: z.boolean(),
  probes: z.int().positive(),
  answered: z.int().nonnegative(),
  /** Median ping round trip over the probes that answered. */
  latencyMs: z.number().nonnegative().nullable(),
  serverInfo: z.strictObject({ name: z.string(), version: z.string() }).nullable(),
  protocolVersion: z.string().nullable(),
  pinnedVersion: z.string(),
  /** Null when no probe answered, so nothing could be compared. */
  versionMatch: z.boolean().nullable(),
  lastError: z.string().nullable(),
});
export type ToolServerHealth = z.infer<typeof ToolServerHealth>;

export const ToolVersionMismatch = z.strictObject({
  name: z.string(),
  pinned: z.string(),
  reported: z.string(),
});

export const ToolHealthReport = z.strictObject({
  /** The guard input: every server up and on its pin. */
  ok: z.boolean(),
  reasons: z.array(z.string()),
  checkedAt: z.iso.datetime({ offset: true }),
  servers: z.array(ToolServerHealth),
  mismatches: z.array(ToolVersionMismatch),
});
export type ToolHealthReport = z.infer<typeof ToolHealthReport>;
