/**
 * The decision ledger over HTTP: pages of a mission's records and a server-sent event stream of
 * its accepted transitions. Both read the store the workers write, through the ledger's reading
 * contract (ledger/store.ts, docs/ledger.md), whichever store it is; an event's id is the record's
 * ledger index, so a client that reconnects with Last-Event-ID gets exactly the records after the
 * last one it saw.
 */
import type { Client } from '@temporalio/client';
import { LedgerCursorError, type LedgerReader, type PageRequest } from '../ledger';
import { Problem } from '../schemas/api';
import { MissionIdParam } from '../schemas/mission';
import {
  EventsQuery,
  LastEventId,
  LedgerPage,
  LedgerPageQuery,
  StreamError,
  TransitionEvent,
} from '../schemas/ledger-page';
import { ALL_ROLES } from './auth';
import { assertMissionExists, BadPageTokenError } from './missions';
import { sendEventStream, StreamGate } from './event-stream';
import { sendProblem } from './problem';
import type { ApiRegistry, Refusal } from './routes';

const TOKEN_REASON = 'must be a pageToken returned by a previous page';

const unknownMission = { description: 'Unknown mission', schema: Problem };
const timeout = { description: 'The mission did not answer in time (is a worker running?)', schema: Problem };
const pageToken: Refusal = { field: '^query\\.pageToken$', reason: TOKEN_REASON };

export interface LedgerRouteDeps {
  client: Client;
  /** The ledger the workers write (SWOOSH_STORE), read only. */
  ledger: LedgerReader;
  /** Aborted when the gateway stops: open streams end so the server can close. */
  shutdown: AbortSignal;
  /** Streams held open at once; one more is refused with 503 rather than slowing every other. */
  maxStreams: number;
}

export function mountLedgerRoutes(
  api: ApiRegistry,
  { client, ledger, shutdown, maxStreams }: LedgerRouteDeps,
): void {
  const gate = new StreamGate(maxStreams);
  api.route({
    method: 'get',
    path: '/missions/:id/ledger',
    operationId: 'listLedgerRecords',
    tag: 'Ledger',
    summary: "A page of the mission's decision records, oldest first",
    description:
      'Reads the mission’s hash-chained ledger. `kind=all` adds agent deployments and lifecycle events. ' +
      'Follow `nextPageToken` for the next page; a page shorter than `pageSize` without a token is the end for now.',
    access: ALL_ROLES,
    params: MissionIdParam,
    query: LedgerPageQuery,
    responses: {
      200: { description: 'Records', schema: LedgerPage },
      400: {
        description: 'Invalid request: `errors` names each field',
        schema: Problem,
        refusals: [pageToken],
      },
      404: unknownMission,
      504: timeout,
    },
    handler: async ({ params, query }, res) => {
      const request: PageRequest = {
        limit: query.pageSize,
        ...(query.kind !== 'all' && { kind: 'decision' }),
        ...(query.pageToken !== undefined && { cursor: query.pageToken }),
      };
      let page;
      try {
        page = await ledger.page(params.id, request);
      } catch (error) {
        if (error instanceof LedgerCursorError) throw new BadPageTokenError(TOKEN_REASON);
        throw error;
      }
      if (page.records.length === 0 && query.pageToken === undefined)
        await assertMissionExists(client, params.id);
      res.json({ records: page.records, ...(page.next && { nextPageToken: page.next }) });
    },
  });

  api.route({
    method: 'get',
    path: '/missions/:id/events',
    operationId: 'streamTransitions',
    tag: 'Ledger',
    summary: 'Server-sent events of accepted transitions (resumable)',
    description:
      'Each accepted transition is one `transition` event whose `id` is its ledger index and whose `data` is its ' +
      'decision record. Reconnect with `Last-Event-ID` (or `?lastEventId=`) to resume after that event; without ' +
      'either the stream starts at the first transition.',
    access: ALL_ROLES,
    params: MissionIdParam,
    query: EventsQuery,
    headers: [{ name: 'Last-Event-ID', description: 'Resume after this event id', schema: LastEventId }],
    responses: {
      200: {
        description:
          'An event stream (`text/event-stream`): `retry: 2000`, then one `transition` event per decision ' +
          'record (`id` its ledger index, `data` the record as JSON text) and a comment line every 15 s; an ' +
          '`error` event (`data` `{ detail }`) ends it when the ledger cannot be read.',
        contentType: 'text/event-stream',
        events: { transition: { data: TransitionEvent, id: LastEventId }, error: { data: StreamError } },
      },
      404: unknownMission,
      503: { description: 'The gateway holds its maximum of open streams; see Retry-After', schema: Problem },
      504: timeout,
    },
    handler: async ({ params, query, req }, res) => {
      const header = req.headers['last-event-id'];
      let resumeAfter = query.lastEventId;
      if (header !== undefined) {
        const parsed = LastEventId.safeParse(header);
        if (!parsed.success) {
          return sendProblem(res, {
            status: 400,
            title: 'Invalid request',
            detail: 'header.last-event-id: must be the id of an event this stream sent',
            errors: [
              { field: 'header.last-event-id', reason: 'must be the id of an event this stream sent' },
            ],
          });
        }
        resumeAfter = parsed.data;
      }
      await assertMissionExists(client, params.id);
      const after = resumeAfter === undefined ? -1 : Number(resumeAfter);
      const tail = ledger.tail(params.id, after);
      const poll = async () =>
        (await tail.next())
          .filter((record) => record.kind === 'decision')
          .map((record) => ({ id: String(record.index), event: 'transition', data: JSON.stringify(record) }));
      await gate.run(res, () => sendEventStream(res, poll, shutdown, 'the ledger could not be read'));
    },
  });
}
