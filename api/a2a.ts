/**
 * POST /a2a: JSON-RPC 2.0 for agents (SPEC §7). One request or a batch; requests without an `id`
 * are notifications and get no response (a batch of only notifications gets 204). Errors are
 * JSON-RPC error objects with the spec's codes; SWOOSH's own are in schemas/a2a.ts. A method's
 * params are parsed by the same zod contracts as the REST routes, and a refused call writes nothing.
 */
import type { Client } from '@temporalio/client';
import type { Response } from 'express';
import { z } from 'zod';
import { dataPaths } from '../activities/data-dir';
import { ContentStore } from '../activities/evidence-store';
import { loadSigner } from '../activities/keys';
import { FileLedger, LedgerConflictError } from '../activities/ledger';
import {
  A2A_ERRORS,
  A2A_METHODS,
  type A2AMethod,
  JsonRpcRequest,
  JsonRpcAnswer,
  MAX_BATCH,
} from '../schemas/a2a';
import { fieldProblems } from './problem';
import { ALL_ROLES } from './auth';
import {
  assertMissionExists,
  MissionNotFoundError,
  MissionTimeoutError,
  proposeTransition,
} from './missions';
import { hostileKeyPath, type ApiRegistry } from './routes';
import { parseIdemKey } from '../schemas/proposal';

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
  dataDir: string;
  /** Unexpected failures: logged (message only), answered -32603 without detail. */
  logError: (context: string, error: unknown) => void;
}

export function mountA2A(api: ApiRegistry, { client, dataDir, logError }: A2ADeps): void {
  const paths = dataPaths(dataDir);
  const evidence = new ContentStore(paths.evidenceDir);
  // The gateway signs lifecycle records with the orchestrator key the worker created; it never makes one.
  let ledger: Promise<FileLedger> | undefined;
  const ledgerOf = (): Promise<FileLedger> => {
    ledger ??= loadSigner(paths.orchestratorKey, 'orchestrator').then(
      (signer) => new FileLedger({ dir: paths.ledgerDir, signer }),
    );
    ledger.catch(() => (ledger = undefined));
    return ledger;
  };

  const methods: Record<A2AMethod, (params: unknown) => Promise<unknown>> = {
    'swoosh.proposeTransition': async (raw) => {
      const { mission: named, proposal } = parse('swoosh.proposeTransition', raw);
      const mission = named ?? parseIdemKey(proposal.idem_key)?.goalId;
      if (!mission || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(mission)) {
        throw new RpcFailure(A2A_ERRORS.invalidParams, 'Invalid params', {
          errors: [
            { field: 'params.mission', reason: 'name the mission or use its id as the idem_key goalId' },
          ],
        });
      }
      const result = await proposeTransition(client, mission, proposal);
      if (result.kind === 'accepted') return result.outcome;
      const { kind, ...data } = result;
      if (kind === 'stale') throw new RpcFailure(A2A_ERRORS.staleHash, 'Stale current_state_hash', data);
      throw new RpcFailure(A2A_ERRORS.transitionRejected, 'Transition rejected', data);
    },
    'swoosh.reportLifecycleEvent': async (raw) => {
      const event = parse('swoosh.reportLifecycleEvent', raw);
      await assertMissionExists(client, event.mission);
      let writer: FileLedger;
      try {
        writer = await ledgerOf();
      } catch {
        throw new RpcFailure(A2A_ERRORS.unavailable, 'Ledger unavailable', {
          detail: 'no orchestrator key yet',
        });
      }
      try {
        const record = await writer.appendAgentLifecycle(event);
        return { recordId: record.id, index: record.index };
      } catch (error) {
        if (!(error instanceof LedgerConflictError)) throw error;
        throw new RpcFailure(A2A_ERRORS.invalidParams, 'Invalid params', {
          errors: [{ field: 'params', reason: 'this event was already reported with different content' }],
        });
      }
    },
    'swoosh.submitEvidence': async (raw) => {
      const item = parse('swoosh.submitEvidence', raw);
      await assertMissionExists(client, item.mission);
      return { checksum: await evidence.putJson(item) };
    },
  };

  async function call(request: unknown): Promise<Reply | undefined> {
    const idOf = (r: unknown): Id => {
      const id = (r as { id?: unknown } | null)?.id;
      return typeof id === 'string' || typeof id === 'number' ? id : null;
    };
    const parsed = JsonRpcRequest.safeParse(request);
    if (!parsed.success) {
      return failure(
        idOf(request),
        new RpcFailure(A2A_ERRORS.invalidRequest, 'Invalid Request', {
          errors: fieldProblems(parsed.error, 'request'),
        }),
      );
    }
    const { method, params, id } = parsed.data;
    const notification = id === undefined;
    const answer = async (): Promise<unknown> => {
      if (!Object.hasOwn(methods, method))
        throw new RpcFailure(A2A_ERRORS.methodNotFound, 'Method not found');
      return methods[method as A2AMethod](params);
    };
    try {
      const result = await answer();
      return notification ? undefined : { jsonrpc: '2.0', id, result };
    } catch (error) {
      const rpc = toRpcFailure(error);
      if (rpc.code === A2A_ERRORS.internal) logError(`a2a ${method}`, error);
      return notification ? undefined : failure(id, rpc);
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
    responses: {
      200: {
        description: 'A response object, or an array of them for a batch',
        schema: JsonRpcAnswer,
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
  return new RpcFailure(A2A_ERRORS.internal, 'Internal error');
}

function reply(res: Response, body: Reply): void {
  res.status(200).json(body);
}
