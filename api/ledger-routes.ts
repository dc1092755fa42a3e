/**
 * The decision ledger over HTTP: pages of a mission's records and a server-sent event stream of
 * its accepted transitions. Both read the ledger files the workers write (ledger/, docs/ledger.md);
 * an event's id is the record's ledger index, so a client that reconnects with Last-Event-ID
 * gets exactly the records after the last one it saw.
 */
import { open } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { isErrno } from '../host/durable-fs';
import { parseRecordLine } from '../ledger';
import { Problem } from '../schemas/api';
import type { LedgerRecord } from '../schemas/decision-record';
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
import { LedgerTail, ledgerFile } from './ledger-tail';
import { sendProblem } from './problem';
import type { ApiRegistry, Refusal } from './routes';

/** Where a page starts: the index of its first record and that record's byte offset in the file. */
interface PagePosition {
  index: number;
  offset: number;
}

const encodePosition = ({ index, offset }: PagePosition): string =>
  Buffer.from(`i${index}@${offset}`).toString('base64url');
function decodePosition(token: string): PagePosition | undefined {
  const match = /^i(0|[1-9][0-9]{0,14})@(0|[1-9][0-9]{0,14})$/.exec(
    Buffer.from(token, 'base64url').toString('utf8'),
  );
  return match ? { index: Number(match[1]), offset: Number(match[2]) } : undefined;
}

/** Bytes read at a time while paging: a page costs about its own size, not the whole ledger's. */
const PAGE_CHUNK = 64 * 1024;

const TOKEN_REASON = 'must be a pageToken returned by a previous page';

/**
 * Up to `limit` records that pass `keep`, read from the start or from a page token's position, each
 * with the byte offset just after its line. A token's position must start the record it names, so
 * a forged or foreign token is refused rather than read from the middle of a line.
 */
async function readPage(
  path: string,
  token: PagePosition | undefined,
  keep: (r: LedgerRecord) => boolean,
  limit: number,
): Promise<{ record: LedgerRecord; end: number }[]> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
    if (token) throw new BadPageTokenError(TOKEN_REASON);
    return [];
  }
  try {
    const found: { record: LedgerRecord; end: number }[] = [];
    let carry = Buffer.alloc(0);
    let position = token?.offset ?? 0;
    let first = true;
    while (found.length < limit) {
      const chunk = Buffer.alloc(PAGE_CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const text = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      const textStart = position - text.length;
      let start = 0;
      for (let nl = text.indexOf(0x0a); nl !== -1 && found.length < limit; nl = text.indexOf(0x0a, start)) {
        const record = parseRecordLine(text.subarray(start, nl).toString('utf8'));
        if (first && token && record?.index !== token.index) throw new BadPageTokenError(TOKEN_REASON);
        if (!record)
          throw new Error(`ledger file ${path}: the line at byte ${textStart + start} is not a record`);
        first = false;
        if (keep(record)) found.push({ record, end: textStart + nl + 1 });
        start = nl + 1;
      }
      carry = Buffer.from(text.subarray(start));
    }
    if (first && token) throw new BadPageTokenError(TOKEN_REASON);
    return found;
  } finally {
    await handle.close();
  }
}

const unknownMission = { description: 'Unknown mission', schema: Problem };
const timeout = { description: 'The mission did not answer in time (is a worker running?)', schema: Problem };
const pageToken: Refusal = { field: '^query\\.pageToken$', reason: TOKEN_REASON };

export interface LedgerRouteDeps {
  client: Client;
  dataDir: string;
  /** Aborted when the gateway stops: open streams end so the server can close. */
  shutdown: AbortSignal;
  /** Streams held open at once; one more is refused with 503 rather than slowing every other. */
  maxStreams: number;
}

export function mountLedgerRoutes(
  api: ApiRegistry,
  { client, dataDir, shutdown, maxStreams }: LedgerRouteDeps,
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
      const token = query.pageToken === undefined ? undefined : decodePosition(query.pageToken);
      if (query.pageToken !== undefined && token === undefined) throw new BadPageTokenError(TOKEN_REASON);
      // One record past the page says whether there is a next one.
      const found = await readPage(
        ledgerFile(dataDir, params.id),
        token,
        (r) => query.kind === 'all' || r.kind === 'decision',
        query.pageSize + 1,
      );
      if (found.length === 0 && !token) await assertMissionExists(client, params.id);
      const page = found.slice(0, query.pageSize);
      const last = page.at(-1);
      const next = found.length > page.length && last && { index: last.record.index + 1, offset: last.end };
      res.json({ records: page.map((f) => f.record), ...(next && { nextPageToken: encodePosition(next) }) });
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
      const tail = new LedgerTail(ledgerFile(dataDir, params.id));
      const poll = async () =>
        (await tail.next())
          .filter((record) => record.kind === 'decision' && record.index > after)
          .map((record) => ({ id: String(record.index), event: 'transition', data: JSON.stringify(record) }));
      await gate.run(res, () => sendEventStream(res, poll, shutdown, 'the ledger could not be read'));
    },
  });
}
