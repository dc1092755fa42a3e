/**
 * POST /a2a: JSON-RPC 2.0 for agents (docs/design.md#interfaces). One request or a batch; requests without an `id`
 * are notifications and get no response (a batch of only notifications gets 204). Errors are
 * JSON-RPC error objects with the spec's codes; SWOOSH's own are in schemas/a2a.ts. A method's
 * params are parsed by the same zod contracts as the REST routes, and a refused call writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Response } from 'express';
import { z } from 'zod';
import type { agentReportWorkflow } from '../workflows/agent-report';
import {
  A2A_ERRORS,
  A2A_METHODS,
  type A2AMethod,
  type AgentReport,
  A2AAnswer,
  JsonRpcIdValue,
  JsonRpcRequest,
  MAX_BATCH,
} from '../schemas/a2a';
import { fieldProblems } from './problem';
import { ALL_ROLES } from './auth';
import {
  assertMissionExists,
  MissionNotFoundError,
  MissionTimeoutError,
  MissionUnavailableError,
  proposeTransition,
} from './missions';
import { hostileKeyPath, type ApiRegistry } from './routes';
import { parseIdemKey } from '../schemas/proposal';
import { A2A_SPAN_ATTRIBUTES, A2A_SPAN_PREFIX } from '../schemas/trace';
import { secretsInValue } from '../schemas/policy';
import { loadPolicyFile } from '../host/policy';

type Id = string | number | null;
interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}
type Reply = { jsonrpc: '2.0'; id: Id; result: unknown } | { jsonrpc: '2.0'; id: Id; error: RpcError };

class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface A2ADeps {
  client: Client;
  taskQueue: string;
  /** Unexpected failures: logged (message only), answered -32603 without detail. */
  logError: (context: string, error: unknown) => void;
  /** The SHHH policy whose secret rules every proposal and report is scanned with. */
  policyFile: string;
}

/**
 * A2A tracing: each call is a span `a2a:<method>` (like `transition:<Name>` in schemas/trace.ts),
 * `a2a:unknown` when the request is invalid or names no method of ours. Attribute keys follow
 * OpenTelemetry's JSON-RPC conventions, plus whether the call was a notification (had no id).
 */
const UNKNOWN_METHOD = 'unknown';

/** How long a report may wait for a worker before the agent is told to retry. */
const REPORT_TIMEOUT = '30 seconds';

export function mountA2A(api: ApiRegistry, { client, taskQueue, logError, policyFile }: A2ADeps): void {
  // With tracing off this is OpenTelemetry's no-op tracer and a call's span costs next to nothing.
  const tracer = trace.getTracer('swoosh-gateway');
  /**
   * The worker writes the report; only it holds the orchestrator key that signs the ledger. A
   * report the policy's secret rules match is refused before it reaches a workflow's history; it
   * quarantines nothing, since an agent's token is not tied to a mission nor is the report signed.
   */
  async function record(report: AgentReport): Promise<unknown> {
    const { document } = await loadPolicyFile(policyFile);
    const secrets =
      report.kind === 'lifecycle'
        ? secretsInValue(document, report.event, 'params')
        : secretsInValue(document, report.item, 'params');
    if (secrets.length > 0) {
      throw new RpcFailure(A2A_ERRORS.invalidParams, 'Invalid params', {
        errors: secrets.map((f) => ({
          field: f.at,
          reason: `a secret-like value: ${f.ruleId} (${f.pattern})`,
        })),
      });
    }
    const mission = report.kind === 'lifecycle' ? report.event.missionId : report.item.missionId;
    try {
      return await client.workflow.execute<typeof agentReportWorkflow>('agentReportWorkflow', {
        workflowId: `agent-report-${mission}-${randomUUID()}`,
        taskQueue,
        args: [report],
        workflowExecutionTimeout: REPORT_TIMEOUT,
      });
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      const cause = error.cause?.cause ?? error.cause;
      if (cause instanceof ApplicationFailure && cause.type === 'LedgerConflict') {
        throw new RpcFailure(A2A_ERRORS.invalidParams, 'Invalid params', {
          errors: [{ field: 'params', reason: 'this event was already reported with different content' }],
        });
      }
      throw new RpcFailure(A2A_ERRORS.unavailable, 'Could not record the report', {
        detail: 'no worker recorded it in time; retry',
      });
    }
  }

  /** A signed proposal to the mission it names (or whose id is its idem_key's goalId). */
  async function propose(
    method: 'swoosh.proposeTransition' | 'swoosh.handOff',
    raw: unknown,
  ): Promise<unknown> {
    const { mission: named, proposal } = parse(method, raw);
    const goal = parseIdemKey(proposal.idem_key)?.goalId;
    const goalIsMission =
      goal !== undefined && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(goal);
    if (named !== undefined && goalIsMission && goal.toLowerCase() !== named.toLowerCase()) {
      throw new RpcFailure(A2A_ERRORS.invalidParams, 'Invalid params', {
        errors: [
          {
            field: 'params.proposal.idem_key',
            reason: `the proposal's idem_key names mission ${goal}, not ${named}`,
          },
        ],
      });
    }
    const mission = named ?? goal;
    if (!mission || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(mission)) {
      throw new RpcFailure(A2A_ERRORS.invalidParams, 'Invalid params', {
        errors: [
          { field: 'params.mission', reason: 'name the mission or use its id as the idem_key goalId' },
        ],
      });
    }
    const result = await proposeTransition(
      client,
      mission,
      proposal,
      (await loadPolicyFile(policyFile)).document,
    );
    if (result.kind === 'accepted') return result.outcome;
    if (result.kind === 'secret') {
      const { failing_guard, reasons, quarantined, findings } = result;
      throw new RpcFailure(A2A_ERRORS.transitionRejected, 'Secret in proposal', {
        failing_guard,
        reasons,
        quarantined,
        errors: findings.map((f) => ({
          field: `params.proposal.${f.field}`,
          reason: `${f.rule_id}: ${f.pattern}`,
        })),
      });
    }
    const { kind, ...data } = result;
    if (kind === 'stale') throw new RpcFailure(A2A_ERRORS.staleHash, 'Stale current_state_hash', data);
    throw new RpcFailure(A2A_ERRORS.transitionRejected, 'Transition rejected', data);
  }

  const methods: Record<A2AMethod, (params: unknown) => Promise<unknown>> = {
    'swoosh.proposeTransition': (raw) => propose('swoosh.proposeTransition', raw),
    'swoosh.handOff': (raw) => propose('swoosh.handOff', raw),
    'swoosh.reportLifecycleEvent': async (raw) => {
      const event = parse('swoosh.reportLifecycleEvent', raw);
      await assertMissionExists(client, event.missionId);
      return record({ kind: 'lifecycle', event });
    },
    'swoosh.submitEvidence': async (raw) => {
      const item = parse('swoosh.submitEvidence', raw);
      await assertMissionExists(client, item.missionId);
      return record({ kind: 'evidence', item });
    },
  };

  /**
   * One JSON-RPC call (a single request or one element of a batch) as its own active span, so the
   * Temporal client calls it makes (StartWorkflowUpdate, HandleUpdate in the worker, …) become its
   * children. A notification's span records its outcome too, though nobody gets a reply.
   */
  function call(request: unknown): Promise<Reply | undefined> {
    const parsed = JsonRpcRequest.safeParse(request);
    // The method name is agent input: only one of ours reaches the span name and attributes.
    const known = parsed.success && Object.hasOwn(methods, parsed.data.method) ? parsed.data.method : null;
    return tracer.startActiveSpan(
      `${A2A_SPAN_PREFIX}${known ?? UNKNOWN_METHOD}`,
      { kind: SpanKind.INTERNAL, attributes: { [A2A_SPAN_ATTRIBUTES.system]: 'jsonrpc' } },
      async (span) => {
        try {
          if (known !== null) span.setAttribute(A2A_SPAN_ATTRIBUTES.method, known);
          if (parsed.success) {
            const { id } = parsed.data;
            span.setAttribute(A2A_SPAN_ATTRIBUTES.notification, id === undefined);
            if (id !== undefined)
              span.setAttribute(A2A_SPAN_ATTRIBUTES.requestId, id === null ? '' : String(id));
          }
          const { reply, notification } = await answer(request, parsed);
          if ('error' in reply) {
            span.setAttribute(A2A_SPAN_ATTRIBUTES.errorCode, reply.error.code);
            span.setStatus({
              code: SpanStatusCode.ERROR,
              message: `${reply.error.code} ${reply.error.message}`,
            });
          }
          return notification ? undefined : reply;
        } finally {
          span.end();
        }
      },
    );
  }

  /** The reply a call earns, also for a notification, whose reply is then dropped. */
  async function answer(
    request: unknown,
    parsed: ReturnType<typeof JsonRpcRequest.safeParse>,
  ): Promise<{ reply: Reply; notification: boolean }> {
    // An invalid request's id is echoed only if it is one a valid request could carry: never a
    // value outside the documented id (a 10 KB string, an object) reflected back to the caller.
    const idOf = (r: unknown): Id => {
      const id = JsonRpcIdValue.safeParse((r as { id?: unknown } | null)?.id);
      return id.success ? id.data : null;
    };
    if (!parsed.success) {
      const reply = failure(
        idOf(request),
        new RpcFailure(A2A_ERRORS.invalidRequest, 'Invalid Request', {
          errors: fieldProblems(parsed.error, 'request'),
        }),
      );
      return { reply, notification: false };
    }
    const { method, params, id } = parsed.data;
    const notification = id === undefined;
    try {
      if (!Object.hasOwn(methods, method))
        throw new RpcFailure(A2A_ERRORS.methodNotFound, 'Method not found');
      const result = await methods[method as A2AMethod](params);
      return { reply: { jsonrpc: '2.0', id: id ?? null, result }, notification };
    } catch (error) {
      const rpc = toRpcFailure(error);
      if (rpc.code === A2A_ERRORS.internal) logError(`a2a ${method}`, error);
      return { reply: failure(id ?? null, rpc), notification };
    }
  }

  api.route({
    method: 'post',
    path: '/a2a',
    operationId: 'a2a',
    tag: 'Agents',
    summary: 'Agent-to-agent JSON-RPC 2.0 (single requests, batches, notifications)',
    description:
      'Methods: ' +
      Object.entries(A2A_METHODS)
        .map(([name, m]) => `\`${name}\` — ${m.summary}`)
        .join('; ') +
      '. Errors: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid params ' +
      '(data.errors names each field), -32001 transition rejected, -32002 stale hash (data.current_hash), ' +
      `-32004 mission not found, -32005 ledger unavailable. At most ${MAX_BATCH} requests per batch.`,
    access: ALL_ROLES.filter((r) => r !== 'viewer'),
    rawBody: true,
    body: z.union([JsonRpcRequest, z.array(JsonRpcRequest).min(1).max(MAX_BATCH)]),
    example: {
      jsonrpc: '2.0',
      id: 7,
      method: 'swoosh.submitEvidence',
      params: {
        kind: 'validation-report',
        reportId: 'report-schema-check-1',
        missionId: '6f1c2a4e-8d3b-4b8e-9a51-3c2f7d9e0a11',
        artifactId: `artifact-${'0'.repeat(64)}`,
        reviewer: 'schema-check',
        result: 'pass',
        coverage: 1,
        findings: [{ id: 'json-schema', ok: true, detail: 'valid' }],
        createdAt: '2026-11-23T09:00:00Z',
      },
    },
    responses: {
      200: {
        description:
          'A response object, or an array of them for a batch; every JSON-RPC error (parse errors and ' +
          'invalid requests included) is a 200 carrying an error object',
        schema: A2AAnswer,
      },
      204: { description: 'Only notifications were sent: nothing to answer' },
    },
    handler: async ({ req }, res) => {
      const raw = req.body as unknown;
      if (!Buffer.isBuffer(raw) || raw.length === 0) {
        return reply(
          res,
          failure(
            null,
            new RpcFailure(A2A_ERRORS.invalidRequest, 'Invalid Request', {
              errors: [{ field: 'body', reason: 'send a JSON-RPC request as application/json' }],
            }),
          ),
        );
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return reply(res, failure(null, new RpcFailure(A2A_ERRORS.parse, 'Parse error')));
      }
      const hostile = hostileKeyPath(body, 'request');
      if (hostile) {
        return reply(
          res,
          failure(null, new RpcFailure(A2A_ERRORS.invalidRequest, 'Invalid Request', { errors: [hostile] })),
        );
      }
      if (!Array.isArray(body)) {
        const single = await call(body);
        return single ? reply(res, single) : void res.status(204).end();
      }
      if (body.length === 0 || body.length > MAX_BATCH) {
        const reason = body.length === 0 ? 'an empty batch' : `more than ${MAX_BATCH} requests`;
        return reply(
          res,
          failure(
            null,
            new RpcFailure(A2A_ERRORS.invalidRequest, 'Invalid Request', {
              errors: [{ field: 'body', reason }],
            }),
          ),
        );
      }
      const replies = (await Promise.all(body.map((r) => call(r)))).filter((r) => r !== undefined);
      if (replies.length === 0) return void res.status(204).end();
      res.status(200).json(replies);
    },
  });

  function parse<M extends A2AMethod>(
    method: M,
    params: unknown,
  ): z.output<(typeof A2A_METHODS)[M]['params']> {
    const parsed = A2A_METHODS[method].params.safeParse(params);
    if (!parsed.success) {
      throw new RpcFailure(A2A_ERRORS.invalidParams, 'Invalid params', {
        errors: fieldProblems(parsed.error, 'params'),
      });
    }
    return parsed.data as z.output<(typeof A2A_METHODS)[M]['params']>;
  }
}

function failure(id: Id, error: RpcFailure): Reply {
  return {
    jsonrpc: '2.0',
    id,
    error: {
      code: error.code,
      message: error.message,
      ...(error.data !== undefined && { data: error.data }),
    },
  };
}

function toRpcFailure(error: unknown): RpcFailure {
  if (error instanceof RpcFailure) return error;
  if (error instanceof MissionNotFoundError)
    return new RpcFailure(A2A_ERRORS.missionNotFound, 'Mission not found');
  if (error instanceof MissionTimeoutError) {
    return new RpcFailure(A2A_ERRORS.unavailable, 'Mission did not answer in time');
  }
  if (error instanceof MissionUnavailableError) {
    return new RpcFailure(A2A_ERRORS.unavailable, error.title, {
      detail: error.message,
      missionStatus: error.missionStatus,
    });
  }
  return new RpcFailure(A2A_ERRORS.internal, 'Internal error');
}

function reply(res: Response, body: Reply): void {
  res.status(200).json(body);
}
