/**
 * The timer API (api/timers.ts) as the gateway mounts it: reads for every role, changes for the
 * roles that schedule work, each route documented in /openapi.json from schemas/timer.ts.
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
import { ALL_ROLES } from './auth';
import type { MountedRouter } from './routes';
import { createTimerRouter, type TimerRouterDeps } from './timers';

/** Agents and operators schedule work; viewers only read. */
const SCHEDULES = ['agent', 'operator', 'owner'] as const;

const TAG = 'Timers';
const invalid = { description: 'Invalid request: the field and the reason', schema: Problem };
const unknown = { description: 'No such timer', schema: Problem };
const conflict = { description: 'The timer is in a state that refuses this', schema: Problem };

export function timerRouters(deps: TimerRouterDeps): MountedRouter[] {
  const router = createTimerRouter(deps);
  return [
    {
      router,
      access: ALL_ROLES,
      routes: [
        {
          method: 'get',
          path: '/timers',
          operationId: 'listTimers',
          tag: TAG,
          summary: 'List timers by due time, optionally in one state (paged)',
          query: TimerListQuery,
          responses: { 200: { description: 'A page of timers', schema: TimerPage }, 400: invalid },
        },
        {
          method: 'get',
          path: '/timers/dead-letters',
          operationId: 'listDeadLetters',
          tag: TAG,
          summary: 'List dead letters: deliveries given up after their retries (paged)',
          query: DeadLetterListQuery,
          responses: { 200: { description: 'A page of dead letters', schema: DeadLetterPage }, 400: invalid },
        },
        {
          method: 'get',
          path: '/timers/:id',
          operationId: 'getTimer',
          tag: TAG,
          summary: "A timer's record: state, due and fired time, lateness",
          params: TimerIdParam,
          responses: { 200: { description: 'The timer', schema: TimerRecord }, 400: invalid, 404: unknown },
        },
      ],
    },
    {
      router,
      access: SCHEDULES,
      routes: [
        {
          method: 'post',
          path: '/timers',
          operationId: 'createTimer',
          tag: TAG,
          summary: 'Create a timer (idempotent per id)',
          body: CreateTimerRequest,
          responses: {
            201: { description: 'Created', schema: TimerCreated },
            200: { description: 'The same id and spec again: the existing timer', schema: TimerCreated },
            400: invalid,
            409: { description: 'The id is taken by a different spec', schema: Problem },
            503: { description: 'The shard holds as many timers as it may', schema: Problem },
          },
        },
        {
          method: 'delete',
          path: '/timers/:id',
          operationId: 'cancelTimer',
          tag: TAG,
          summary: 'Cancel a timer that has not fired, or discard a dead letter',
          params: TimerIdParam,
          responses: {
            200: { description: 'Cancelled', schema: TimerRecord },
            400: invalid,
            404: unknown,
            409: conflict,
          },
        },
        {
          method: 'post',
          path: '/timers/:id/ack',
          operationId: 'ackTimer',
          tag: TAG,
          summary: 'Acknowledge a fired or escalated timer: it settles',
          params: TimerIdParam,
          body: AckRequest,
          responses: {
            200: { description: 'Settled', schema: TimerRecord },
            400: invalid,
            404: unknown,
            409: conflict,
          },
        },
        {
          method: 'post',
          path: '/timers/:id/replay',
          operationId: 'replayDeadLetter',
          tag: TAG,
          summary: 'Deliver a dead letter again; read the timer for the outcome',
          params: TimerIdParam,
          body: ReplayRequest,
          responses: {
            202: { description: 'Delivery restarted', schema: TimerRecord },
            400: invalid,
            404: unknown,
            409: conflict,
          },
        },
      ],
    },
  ];
}
