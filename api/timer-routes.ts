/**
 * The timer API (api/timers.ts) declared on the gateway's route registry: reads for every role,
 * changes for the roles that schedule work. Each route is declared once, here — the registry
 * checks the role, parses the request with schemas/timer.ts and documents it in /openapi.json from
 * the same schemas, so the document and what the gateway enforces cannot drift apart.
 */
import { Problem } from '../schemas/api';
import {
  AckRequest,
  CreateTimerRequest,
  DeadLetterListQuery,
  DeadLetterPage,
  ReplayRequest,
  TimerCreated,
  TimerIdParam,
  TimerListQuery,
  TimerPage,
  TimerRecord,
} from '../schemas/timer';
import { SignedTimerEvent, TimerEventId, TimerEventsQuery, TimerStreamError } from '../schemas/timer-events';
import { ALL_ROLES } from './auth';
import type { ApiRegistry } from './routes';
import { timerEventStream } from './timer-events';
import { createTimerHandlers, type TimerApiDeps } from './timers';

/** Agents and operators schedule work; viewers only read. */
const SCHEDULES = ['agent', 'operator', 'owner'] as const;

const TAG = 'Timers';
const unknown = { description: 'No such timer', schema: Problem };
const conflict = { description: 'The timer is in a state that refuses this', schema: Problem };

export function declareTimerRoutes(api: ApiRegistry, deps: TimerApiDeps): void {
  const h = createTimerHandlers(deps);

  api.route({
    method: 'get',
    path: '/timers',
    operationId: 'listTimers',
    tag: TAG,
    summary: 'List timers by due time, optionally in one state (paged)',
    access: ALL_ROLES,
    query: TimerListQuery,
    responses: { 200: { description: 'A page of timers', schema: TimerPage } },
    handler: h.list,
  });

  // Declared before /timers/:id, which would otherwise take `dead-letters` for an id (ids may not be it).
  api.route({
    method: 'get',
    path: '/timers/dead-letters',
    operationId: 'listDeadLetters',
    tag: TAG,
    summary: 'List dead letters: deliveries given up after their retries (paged)',
    access: ALL_ROLES,
    query: DeadLetterListQuery,
    responses: { 200: { description: 'A page of dead letters', schema: DeadLetterPage } },
    handler: h.listDeadLetters,
  });

  // Declared before /timers/:id too. Without an event log folder (a gateway built for timer tests
  // alone) there is nothing to stream, and the route is not declared.
  if (deps.events) {
    api.route({
      method: 'get',
      path: '/timers/events',
      operationId: 'streamTimerEvents',
      tag: TAG,
      summary: 'Server-sent events of timer state changes (resumable, filterable)',
      description:
        'Each change of a timer’s state (Scheduled, Armed, Fired, Escalated, Settled, DeadLettered, Cancelled) is ' +
        'one `timer` event whose `data` is the event as the shard’s log holds it, signed by the orchestrator key. ' +
        'Filter with `state` (one or several, comma-separated) and `idPrefix`. Reconnect with `Last-Event-ID` ' +
        '(or `?lastEventId=`) to resume after that event; without either the stream starts now (`from=now`) or ' +
        'at the start of the logs (`from=start`). Delivery is at least once and in order per shard; events of ' +
        'different shards interleave.',
      access: ALL_ROLES,
      query: TimerEventsQuery,
      headers: [{ name: 'Last-Event-ID', description: 'Resume after this event id', schema: TimerEventId }],
      responses: {
        200: {
          description:
            'An event stream (`text/event-stream`): `retry: 2000`, then one `timer` event per state change (`id` ' +
            'a cursor over every shard, `data` the signed event as JSON text) and a comment line every 15 s; an ' +
            '`error` event (`data` `{ detail }`) ends it when a log cannot be read.',
          contentType: 'text/event-stream',
          events: { timer: { data: SignedTimerEvent, id: TimerEventId }, error: { data: TimerStreamError } },
        },
        400: {
          description: 'Invalid request: `errors` names the field',
          schema: Problem,
          refusals: [
            {
              field: '^(header\\.last-event-id|query\\.lastEventId)$',
              reason: 'an event id naming another number of shards than this deployment has',
            },
          ],
        },
        503: {
          description: 'The gateway holds its maximum of open streams; see Retry-After',
          schema: Problem,
        },
      },
      handler: timerEventStream(deps.events, deps.shards),
    });
  }

  api.route({
    method: 'get',
    path: '/timers/:id',
    operationId: 'getTimer',
    tag: TAG,
    summary: "A timer's record: state, due and fired time, lateness",
    access: ALL_ROLES,
    params: TimerIdParam,
    responses: { 200: { description: 'The timer', schema: TimerRecord }, 404: unknown },
    handler: h.get,
  });

  api.route({
    method: 'post',
    path: '/timers',
    operationId: 'createTimer',
    tag: TAG,
    summary: 'Create a timer (idempotent per id)',
    access: SCHEDULES,
    body: CreateTimerRequest,
    example: {
      id: 'review-reminder-42',
      delayMs: 3_600_000,
      action: { type: 'webhook', url: 'https://hooks.example.org/swoosh', payload: { ticket: 42 } },
      escalation: {
        afterMs: 900_000,
        action: { type: 'webhook', url: 'https://hooks.example.org/escalate' },
      },
    },
    responses: {
      201: { description: 'Created', schema: TimerCreated },
      200: { description: 'The same id and spec again: the existing timer', schema: TimerCreated },
      400: {
        description: 'Invalid request: the field and the reason',
        schema: Problem,
        refusals: [
          { field: '^body(\\.chain)*\\.dependsOn$', reason: 'must not include the timer itself' },
          {
            field: '^body(\\.chain)*(\\.id)?$',
            reason: 'a chain repeats an id, or holds more than 50 timers',
          },
          { field: '^body(\\.chain)*\\.escalation$', reason: 'an escalation ladder has at most 10 rungs' },
        ],
      },
      403: {
        description: 'The role may not create timers, or may not take one of the actions it names',
        schema: Problem,
        refusals: [
          {
            field: '^body(\\.chain)*(\\.escalation)*\\.action\\.(type|signalName|updateName|workflowId)$',
            reason:
              "a signal or update action must be on the timer-targetable allow-list (SWOOSH_TIMER_TARGETS) for the caller's role; owner, control, transition and vote messages never are",
          },
        ],
      },
      409: { description: 'The id is taken by a different spec', schema: Problem },
      503: { description: 'Every timer shard is full; see Retry-After', schema: Problem },
    },
    handler: h.create,
  });

  api.route({
    method: 'delete',
    path: '/timers/:id',
    operationId: 'cancelTimer',
    tag: TAG,
    summary: 'Cancel a timer that has not fired, or discard a dead letter',
    access: SCHEDULES,
    params: TimerIdParam,
    responses: { 200: { description: 'Cancelled', schema: TimerRecord }, 404: unknown, 409: conflict },
    handler: h.cancel,
  });

  api.route({
    method: 'post',
    path: '/timers/:id/ack',
    operationId: 'ackTimer',
    tag: TAG,
    summary: 'Acknowledge a fired or escalated timer: it settles',
    description:
      'The body is optional and empty: who acknowledged is the caller, recorded as `ackedBy` from the token.',
    access: SCHEDULES,
    params: TimerIdParam,
    body: AckRequest.optional(),
    example: {},
    responses: { 200: { description: 'Settled', schema: TimerRecord }, 404: unknown, 409: conflict },
    handler: h.ack,
  });

  api.route({
    method: 'post',
    path: '/timers/:id/replay',
    operationId: 'replayDeadLetter',
    tag: TAG,
    summary: 'Deliver a dead letter again; read the timer for the outcome',
    description: 'The body is optional and, when sent, an empty object.',
    access: SCHEDULES,
    params: TimerIdParam,
    body: ReplayRequest.optional(),
    example: {},
    responses: {
      202: { description: 'Delivery restarted', schema: TimerRecord },
      404: unknown,
      409: conflict,
    },
    handler: h.replay,
  });
}
