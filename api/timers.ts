/**
 * The timer API (docs/design.md#timers). Each timer lives in the shard its id hashes to; single-timer calls go
 * to that shard as updates (validated there too) or queries, and listings ask every shard and
 * merge the pages by their sort key, so paging is stable however timers spread.
 *
 *   POST   /timers                     create (201), or the same id and spec again (200); 409 if the spec differs
 *   GET    /timers?state=&limit=&after= list, by due time
 *   GET    /timers/dead-letters        dead letters, by when delivery was given up
 *   GET    /timers/events              server-sent events of state changes (api/timer-events.ts)
 *   GET    /timers/:id                 one timer's record
 *   DELETE /timers/:id                 cancel a timer that has not fired, or discard a dead letter
 *   POST   /timers/:id/ack             acknowledge a fired or escalated timer: it settles
 *   POST   /timers/:id/replay          deliver a dead letter again (202; read the timer for the outcome)
 *
 * A full shard does not refuse a create while another shard has room: it records where the id
 * goes (a forward) and the timer is created there; lookups, commands and messages follow the forward
 * (docs/timers.md#rollover). Only when every shard is full is a create answered 503 with Retry-After.
 *
 * A timer acts as the caller who created it (schemas/timer-targets.ts): its signal and update
 * actions must be on the allow-list for the caller's role (403 otherwise, naming the field), the
 * shard records the caller and checks again at firing, and only the creator or a role ranked at
 * least as high may cancel, acknowledge or replay it. Nothing in a body names who acts.
 */
import {
  type Client,
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  type WorkflowHandle,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Response } from 'express';
import type { z } from 'zod';
import {
  type AckRequest,
  type CreateTimerRequest,
  type DeadLetterListQuery,
  encodeCursor,
  type TimerCreated,
  type TimerIdParam,
  type TimerListQuery,
  type TimerRecord,
  type TimerState,
} from '../schemas/timer';
import {
  ackTimerUpdate,
  cancelTimerUpdate,
  createTimersUpdate,
  deadLettersQuery,
  forwardTimerUpdate,
  timerForwardQuery,
  listTimersQuery,
  replayTimerUpdate,
  TIMER_SHARD_WORKFLOW_TYPE,
  timerQuery,
  TimerFailure,
} from '../schemas/timer-messages';
import { DEFAULT_SHARD_ID_PREFIX, shardOf, shardWorkflowId } from '../schemas/timer-shard-key';
import { type CreateResult, digestRecord, type ShardSettings } from '../schemas/timer-shard';
import {
  actionsOf,
  mayChangeTimer,
  timerActionRefusal,
  type TimerCreator,
  type TimerTargetRule,
} from '../schemas/timer-targets';
import { mapConcurrently } from '../host/concurrency';
import type { ParkedTimerStore } from '../host/parked-timers';
import { timerShardStartOptions } from '../host/timer-shards';
import { parkedTimerRecord } from '../schemas/timer-parking';
import { principalOf } from './auth';
import type { TimerEventStreamDeps } from './timer-events';
import { type Problem, sendProblem } from './problem';
import { queryWorkflow } from './workflow-queries';

export interface TimerApiDeps {
  client: Client;
  taskQueue: string;
  /** Shard count; fixed for the life of a deployment, since it decides where every id lives. */
  shards: number;
  /** Shard workflow id prefix; `timer-shard` unless set. */
  shardIdPrefix?: string;
  /** Settings of a shard that a create starts because it was not running. */
  shardSettings?: Partial<ShardSettings>;
  /** The signals and updates timers may send (SWOOSH_TIMER_TARGETS); none unless given. */
  timerTargets?: readonly TimerTargetRule[];
  /** Where the workers write timer events, for GET /timers/events; the route exists only with it. */
  events?: TimerEventStreamDeps;
  /**
   * The timers shards have parked and the digests they retired (docs/timers.md#parked-timers), read
   * for lookups and listings.
   */
  parked?: Pick<ParkedTimerStore, 'get' | 'list' | 'closed'>;
}

/** Shards asked at once by a listing. */
const FAN_OUT = 16;

/** When a client may try again after every shard refused a create as full. */
const FULL_RETRY_AFTER_SECONDS = 60;

/** What each timer handler receives: input already parsed by the route's zod schemas. */
type Id = z.output<typeof TimerIdParam>;
export interface TimerHandlers {
  create: (input: { body: CreateTimerRequest }, res: Response) => Promise<void>;
  listDeadLetters: (input: { query: DeadLetterListQuery }, res: Response) => Promise<void>;
  list: (input: { query: TimerListQuery }, res: Response) => Promise<void>;
  get: (input: { params: Id }, res: Response) => Promise<void>;
  cancel: (input: { params: Id }, res: Response) => Promise<void>;
  ack: (input: { params: Id; body: z.output<typeof AckRequest> | undefined }, res: Response) => Promise<void>;
  replay: (input: { params: Id }, res: Response) => Promise<void>;
}

/**
 * The timer routes' handlers, declared on the gateway's route registry by api/timer-routes.ts,
 * which checks the role and parses each request once. The worker must run the same shard layout.
 */
export function createTimerHandlers(deps: TimerApiDeps): TimerHandlers {
  const { client, taskQueue, shards } = deps;
  const idPrefix = deps.shardIdPrefix ?? DEFAULT_SHARD_ID_PREFIX;
  const timerTargets = [...(deps.timerTargets ?? [])];
  // A shard a create starts checks firings against the same allow-list as the create did.
  const settings = { ...deps.shardSettings, timerTargets };
  const layout = { count: shards, idPrefix, settings };
  const shardHandle = (shard: number): WorkflowHandle =>
    client.workflow.getHandle(shardWorkflowId(idPrefix, shard));
  const handleOf = (timerId: string): WorkflowHandle => shardHandle(shardOf(timerId, shards));
  const { parked } = deps;

  /** The record of a timer its own shard has parked, or whose digest it retired, from the store. */
  async function storedRecord(timerId: string): Promise<TimerRecord | undefined> {
    if (!parked) return undefined;
    const home = shardOf(timerId, shards);
    const timer = await parked.get(home, timerId);
    if (timer) return parkedTimerRecord(timer, home);
    const retired = await parked.closed(home, timerId, Date.now());
    return retired && digestRecord(retired.digest, home, retired.archivedIn);
  }

  /**
   * Runs a command on the timer's shard. A timer it does not hold because the store does is
   * answered from there, as the shard would: parked, it is Scheduled, which an acknowledgement or
   * a replay does not apply to (409); closed, a command that would leave it as it is (`unchanged`)
   * changes nothing, any other is 409.
   */
  async function commandOrStored(
    res: Response,
    caller: TimerCreator,
    timerId: string,
    verb: string,
    unchanged: TimerState | undefined,
    run: (handle: WorkflowHandle) => Promise<TimerRecord>,
  ): Promise<TimerRecord | null> {
    try {
      return await command(timerId, run);
    } catch (error) {
      const record = failureType(error) === TimerFailure.notFound ? await storedRecord(timerId) : undefined;
      if (!record) return await answer(res, () => Promise.reject(error as Error));
      if (!mayChangeTimer(caller, record.createdBy)) {
        const detail = `only the timer's creator or a role ranked at least as high may have it ${verb}`;
        sendProblem(res, {
          status: 403,
          title: 'Forbidden',
          detail,
          errors: [{ field: 'header.authorization', reason: detail }],
        });
        return null;
      }
      if (record.parked === undefined && record.state === unchanged) return record;
      sendProblem(res, {
        status: 409,
        title: 'Timer state conflict',
        detail: `a ${record.state} timer cannot be ${verb}`,
      });
      return null;
    }
  }

  /** Creates in `shard` (starting it if nobody has: Update-with-Start); `placedFrom` when rolled over. */
  const createIn = (shard: number, spec: CreateTimerRequest, createdBy: TimerCreator, placedFrom?: number) =>
    client.workflow.executeUpdateWithStart(createTimersUpdate, {
      args: [{ specs: [spec], createdBy, ...(placedFrom !== undefined && { placedFrom }) }],
      startWorkflowOperation: new WithStartWorkflowOperation(
        TIMER_SHARD_WORKFLOW_TYPE,
        timerShardStartOptions(taskQueue, layout, shard),
      ),
    });

  /**
   * Creates the timer in its own shard or, while that one is full, in the next shard with room,
   * after recording the forward in its own shard; undefined when every shard is full.
   */
  async function place(
    spec: CreateTimerRequest,
    createdBy: TimerCreator,
  ): Promise<CreateResult[] | undefined> {
    const home = shardOf(spec.id, shards);
    let first: number | undefined;
    try {
      return await createIn(home, spec, createdBy);
    } catch (error) {
      first = forwardedTo(error);
      if (first === undefined && failureType(error) !== TimerFailure.shardFull) throw error;
    }
    const others = shardIndexes(shards)
      .map((step) => (home + step) % shards)
      .filter((shard) => shard !== home && shard !== first);
    for (const shard of first === undefined ? others : [first, ...others]) {
      try {
        // Recorded first, so that the id is never held by two shards: a create for it at home
        // now follows the forward, and the home refuses to forward an id it took meanwhile.
        await shardHandle(home).executeUpdate(forwardTimerUpdate, { args: [{ id: spec.id, shard }] });
      } catch (error) {
        if (failureType(error) === TimerFailure.conflict) return await createIn(home, spec, createdBy);
        throw error;
      }
      try {
        return await createIn(shard, spec, createdBy, home);
      } catch (error) {
        if (failureType(error) !== TimerFailure.shardFull) throw error;
      }
    }
    return undefined;
  }

  /**
   * Runs a command on the timer's shard, or on the shard its own forwarded it to. A forward is
   * followed once: only a timer's home shard forwards.
   */
  async function command<T>(timerId: string, run: (handle: WorkflowHandle) => Promise<T>): Promise<T> {
    try {
      return await run(handleOf(timerId));
    } catch (error) {
      const shard = forwardedTo(error);
      if (shard === undefined) throw error;
      return await run(shardHandle(shard));
    }
  }

  return {
    create: async ({ body }, res) => {
      const createdBy = callerOf(res);
      if (!createdBy) return;
      for (const { path, action } of actionsOf(body)) {
        const refusal = timerActionRefusal(action, createdBy, timerTargets);
        if (refusal) {
          const field = ['body', ...path, refusal.field].join('.');
          return sendProblem(res, {
            status: 403,
            title: 'Forbidden',
            detail: `${field}: ${refusal.reason}`,
            errors: [{ field, reason: refusal.reason }],
          });
        }
      }
      // Shards start lazily: the first timer for a shard nobody has started starts it, in the
      // same call that creates the timer (Update-with-Start); a running shard just takes the update.
      const outcome = await answer(res, () => place(body, createdBy));
      if (outcome === null) return;
      if (outcome === undefined) {
        res.setHeader('Retry-After', String(FULL_RETRY_AFTER_SECONDS));
        return sendProblem(res, {
          status: 503,
          title: 'Timer capacity reached',
          detail:
            `every one of the ${shards} timer shards is full; a shard makes room as its timers close ` +
            '(their digests are smaller) and as retention forgets them, or raise SWOOSH_TIMER_SHARD_CAPACITY',
        });
      }
      const [result] = outcome;
      if (!result) throw new Error('the shard answered a create with no result');
      res
        .status(result.created ? 201 : 200)
        .location(`/timers/${encodeURIComponent(body.id)}`)
        .json(result satisfies TimerCreated);
    },

    listDeadLetters: async ({ query: { limit, after } }, res) => {
      const pages = await mapConcurrently(shardIndexes(shards), FAN_OUT, (shard) =>
        queryShard(shardHandle(shard), (handle) =>
          handle.query(deadLettersQuery, { limit, ...(after && { after }) }),
        ),
      );
      const merged = pages
        .flat()
        .map((letter) => ({ key: Date.parse(letter.deadLetteredAt), id: letter.timerId, letter }))
        .sort(byKey)
        .slice(0, limit);
      const last = merged.at(-1);
      res.json({
        deadLetters: merged.map((item) => item.letter),
        ...(merged.length === limit && last && { next: encodeCursor(last.key, last.id) }),
      });
    },

    list: async ({ query: { state, limit, after } }, res) => {
      const pages = await mapConcurrently(shardIndexes(shards), FAN_OUT, (shard) =>
        queryShard(shardHandle(shard), (handle) =>
          handle.query(listTimersQuery, { limit, ...(state && { state }), ...(after && { after }) }),
        ),
      );
      // Parked timers are Scheduled, or Cancelled while parked.
      const parkedPages =
        parked && (state === undefined || state === 'Scheduled' || state === 'Cancelled')
          ? await mapConcurrently(shardIndexes(shards), FAN_OUT, async (shard) =>
              (
                await parked.list(shard, {
                  limit,
                  ...(after && { after: { dueAt: after.at, id: after.id } }),
                  ...(state && { cancelled: state === 'Cancelled' }),
                })
              ).map((timer) => parkedTimerRecord(timer, shard)),
            )
          : [];
      // A timer paged in a moment ago can be in both: its shard's record is the newer.
      const held = new Set(pages.flat().map((timer) => timer.id));
      const merged = [...pages.flat(), ...parkedPages.flat().filter((timer) => !held.has(timer.id))]
        .map((timer) => ({ key: Date.parse(timer.dueAt), id: timer.id, timer }))
        .sort(byKey)
        .slice(0, limit);
      const last = merged.at(-1);
      res.json({
        timers: merged.map((item) => item.timer),
        ...(merged.length === limit && last && { next: encodeCursor(last.key, last.id) }),
      });
    },

    get: async ({ params }, res) => {
      const lookup = async (handle: WorkflowHandle) => {
        const [found] = await queryShard(handle, async (h) => {
          const record = await h.query(timerQuery, params.id);
          return record ? [record] : [];
        });
        return found;
      };
      let record = await lookup(handleOf(params.id));
      if (!record) {
        const [shard] = await queryShard(handleOf(params.id), async (h) => {
          const forwarded = await h.query(timerForwardQuery, params.id);
          return forwarded === null ? [] : [forwarded];
        });
        if (shard !== undefined) record = await lookup(shardHandle(shard));
      }
      record ??= await storedRecord(params.id);
      if (record) res.json(record);
      else sendProblem(res, notFound(params.id));
    },

    cancel: async ({ params }, res) => {
      const caller = callerOf(res);
      if (!caller) return;
      const record = await commandOrStored(res, caller, params.id, 'cancelled', 'Cancelled', (handle) =>
        handle.executeUpdate(cancelTimerUpdate, { args: [{ id: params.id, caller }] }),
      );
      if (record) res.json(record);
    },

    ack: async ({ params }, res) => {
      // Who acknowledged is the caller's token name, recorded by the shard as `ackedBy`.
      const caller = callerOf(res);
      if (!caller) return;
      const record = await commandOrStored(res, caller, params.id, 'acknowledged', 'Settled', (handle) =>
        handle.executeUpdate(ackTimerUpdate, { args: [{ id: params.id, caller }] }),
      );
      if (record) res.json(record);
    },

    replay: async ({ params }, res) => {
      const caller = callerOf(res);
      if (!caller) return;
      const record = await commandOrStored(res, caller, params.id, 'replayed', undefined, (handle) =>
        handle.executeUpdate(replayTimerUpdate, { args: [{ id: params.id, caller }] }),
      );
      if (record) res.status(202).json(record);
    },
  };
}

/**
 * The authenticated caller (set by the registry's role check, which every timer route has). If a
 * route ever reached a handler without one, it answers 401 rather than act for nobody.
 */
function callerOf(res: Response): TimerCreator | undefined {
  const principal = principalOf(res);
  if (principal) return { name: principal.name, role: principal.role };
  res.setHeader('WWW-Authenticate', 'Bearer realm="swoosh"');
  sendProblem(res, {
    status: 401,
    title: 'Unauthorized',
    detail: 'authorization: timers act as their creator, so a caller must be authenticated',
    errors: [{ field: 'header.authorization', reason: 'missing' }],
  });
  return undefined;
}

/**
 * Runs a shard update and turns a refusal into its problem response (returning null); anything
 * else propagates to the app's error handler.
 */
async function answer<T>(res: Response, call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    const problem = refusalProblem(error);
    if (!problem) throw error;
    sendProblem(res, problem);
    return null;
  }
}

/** The failure a shard refused an update with, if it refused it. */
function refusalOf(error: unknown): ApplicationFailure | undefined {
  return error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure
    ? error.cause
    : undefined;
}

/** The `ApplicationFailure.type` a shard refused an update with, if it refused it. */
function failureType(error: unknown): string | undefined {
  return refusalOf(error)?.type ?? undefined;
}

/** The shard a refusal says the timer was forwarded to (`TimerFailure.forwarded`). */
function forwardedTo(error: unknown): number | undefined {
  const refusal = refusalOf(error);
  if (refusal?.type !== TimerFailure.forwarded) return undefined;
  const [shard] = refusal.details ?? [];
  return typeof shard === 'number' ? shard : undefined;
}

function refusalProblem(error: unknown): Problem | undefined {
  // A timer on a shard that was never started does not exist either.
  if (error instanceof WorkflowNotFoundError) return notFound(undefined);
  const refusal = refusalOf(error);
  if (refusal === undefined) return undefined;
  const detail = refusal.message;
  switch (refusal.type) {
    case TimerFailure.invalid:
      return { status: 400, title: 'Invalid request', detail, errors: [{ field: 'body', reason: detail }] };
    case TimerFailure.notFound:
      return { status: 404, title: 'Not found', detail };
    case TimerFailure.conflict:
      return { status: 409, title: 'Timer conflict', detail };
    case TimerFailure.invalidState:
      return { status: 409, title: 'Timer state conflict', detail };
    case TimerFailure.shardFull:
      return { status: 503, title: 'Timer capacity reached', detail };
    case TimerFailure.forbidden:
      return {
        status: 403,
        title: 'Forbidden',
        detail,
        errors: [{ field: 'header.authorization', reason: detail }],
      };
    default:
      return undefined;
  }
}

function notFound(id: string | undefined): Problem {
  return { status: 404, title: 'Not found', detail: id === undefined ? 'no such timer' : `no timer ${id}` };
}

/** A shard nobody started holds no timers; every other failure is the caller's to see. */
async function queryShard<T>(
  handle: WorkflowHandle,
  query: (handle: WorkflowHandle) => Promise<T[]>,
): Promise<T[]> {
  try {
    return await queryWorkflow(() => query(handle));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return [];
    throw error;
  }
}

function shardIndexes(count: number): number[] {
  return Array.from({ length: count }, (_, shard) => shard);
}

function byKey(a: { key: number; id: string }, b: { key: number; id: string }): number {
  return a.key - b.key || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
