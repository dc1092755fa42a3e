/**
 * The agent-to-agent endpoint (POST /a2a): JSON-RPC 2.0 over HTTP, with batches and
 * notifications. Methods and their params; error codes follow the JSON-RPC spec, with the
 * application errors SWOOSH adds in the -32000..-32099 server range.
 */
import { z } from 'zod';
import { FieldProblem, TransitionAccepted } from './api';
import { AgentLifecycleEvent, Evidence } from './evidence';
import { TransitionProposalSchema } from './proposal';

export const JsonRpcIdValue = z.union([z.string().max(256), z.number(), z.null()]);

/** One request object; without `id` it is a notification and gets no response. */
export const JsonRpcRequest = z.strictObject({
  jsonrpc: z.literal('2.0'),
  method: z.string().min(1).max(128),
  params: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
  id: JsonRpcIdValue.optional(),
});
export type JsonRpcRequest = z.infer<typeof JsonRpcRequest>;

export const JsonRpcError = z.object({
  code: z.int(),
  message: z.string(),
  data: z.unknown().optional(),
});

export const JsonRpcResponseObject = z.union([
  z.object({ jsonrpc: z.literal('2.0'), id: JsonRpcIdValue, result: z.unknown() }),
  z.object({ jsonrpc: z.literal('2.0'), id: JsonRpcIdValue, error: JsonRpcError }),
]);

/** What POST /a2a answers with 200: one response object, or an array of them for a batch. */
export const JsonRpcAnswer = z.union([JsonRpcResponseObject, z.array(JsonRpcResponseObject)]);

export const A2A_ERRORS = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** A guard refused the proposal; data `{ failing_guard, reasons }`. */
  transitionRejected: -32001,
  /** `current_state_hash` is not HEAD; data `{ failing_guard, reasons, current_hash }`. */
  staleHash: -32002,
  /** The mission does not exist. */
  missionNotFound: -32004,
  /** The ledger or evidence store cannot be written right now. */
  unavailable: -32005,
} as const;

/** Most requests in one batch: each may be a Temporal update. */
export const MAX_BATCH = 50;

export const ProposeTransitionParams = z.strictObject({
  /** Defaults to the idem_key's goalId. */
  mission: z.uuid().optional(),
  proposal: TransitionProposalSchema,
});

/**
 * An agent hands a task or an artifact to another agent of the mission (docs/agents.md#handing-work-to-another-agent):
 * a signed Execution_Replan whose plan gives the other agent the task, with the artifact as its
 * `evidence`. The plan changes, so it is a signed transition like any other.
 */
export const HandOffParams = z.strictObject({
  mission: z.uuid().optional(),
  proposal: TransitionProposalSchema.refine((p) => p.transition === 'Execution_Replan', {
    message: 'a handoff is a signed Execution_Replan',
    path: ['transition'],
  }).refine((p) => (p.inputs as { plan?: unknown } | undefined)?.plan !== undefined, {
    message: 'a handoff brings the new plan: the task for the other agent, with what is handed over',
    path: ['inputs', 'plan'],
  }),
});

export const A2A_METHODS = {
  'swoosh.proposeTransition': {
    summary: 'Propose a signed transition (docs/design.md#proposals); the same outcomes as POST /transition.',
    params: ProposeTransitionParams,
    result: TransitionAccepted,
  },
  'swoosh.handOff': {
    summary:
      'Hand a task or an artifact to another agent of the mission: a signed Execution_Replan bringing the new plan; the same outcomes as swoosh.proposeTransition.',
    params: HandOffParams,
    result: TransitionAccepted,
  },
  'swoosh.reportLifecycleEvent': {
    summary: "Report an agent's spawn, escalation or retirement; recorded in the mission's ledger.",
    params: AgentLifecycleEvent,
    result: z.object({ recordId: z.string(), index: z.int() }),
  },
  'swoosh.submitEvidence': {
    summary: 'Store an ArtifactEvidence or ValidationReport; cite the returned checksum in proposals.',
    params: Evidence,
    result: z.object({ checksum: z.string() }),
  },
} as const;
export type A2AMethod = keyof typeof A2A_METHODS;

export const InvalidParamsData = z.object({ errors: z.array(FieldProblem) });

/**
 * POST /a2a's 200 as documented: like JsonRpcAnswer, but each result is one of the methods'
 * results and each error code one SWOOSH sends, so a client knows exactly what can come back.
 */
const A2AResponseObject = z.union([
  z.strictObject({
    jsonrpc: z.literal('2.0'),
    id: JsonRpcIdValue,
    result: z.union(Object.values(A2A_METHODS).map((m) => m.result)),
  }),
  z.strictObject({
    jsonrpc: z.literal('2.0'),
    id: JsonRpcIdValue,
    error: z.strictObject({
      code: z.union(Object.values(A2A_ERRORS).map((code) => z.literal(code))),
      message: z.string(),
      data: z.unknown().optional(),
    }),
  }),
]);
export const A2AAnswer = z.union([A2AResponseObject, z.array(A2AResponseObject).min(1).max(MAX_BATCH)]);

/** What an agent reports over A2A, recorded by the worker (workflows/agent-report.ts), never the gateway. */
export type AgentReport =
  | { kind: 'lifecycle'; event: z.infer<typeof AgentLifecycleEvent> }
  | { kind: 'evidence'; item: z.infer<typeof Evidence> };
export type AgentReportResult =
  | z.infer<(typeof A2A_METHODS)['swoosh.reportLifecycleEvent']['result']>
  | z.infer<(typeof A2A_METHODS)['swoosh.submitEvidence']['result']>;
