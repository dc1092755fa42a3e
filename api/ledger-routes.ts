/**
 * The decision ledger over HTTP: pages of a mission's records and a server-sent event stream of
 * its accepted transitions. Both read the ledger files the workers write (activities/ledger.ts);
 * an event's id is the record's ledger index, so a client that reconnects with Last-Event-ID
 * gets exactly the records after the last one it saw.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Response } from 'express';
import { dataPaths } from '../activities/data-dir';
import { isErrno } from '../activities/durable-fs';
import { readLedger } from '../activities/ledger';
import { Problem } from '../schemas/api';
import { type LedgerRecord, LedgerRecord as LedgerRecordSchema } from '../schemas/decision-record';
import { MissionIdParam } from '../schemas/mission';
import {
  EventsQuery,
  LastEventId,
  LedgerPage,
  LedgerPageQuery,
  TransitionEvent,
} from '../schemas/ledger-page';
import { ALL_ROLES } from './auth';
import { assertMissionExists } from './missions';
import { sendProblem } from './problem';
import type { ApiRegistry } from './routes';

/** How often an open stream looks for new records. */
const POLL_MS = 250;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

function ledgerFile(dataDir: string, mission: string): string {
  return join(dataPaths(dataDir).ledgerDir, `${encodeURIComponent(mission)}.jsonl`);
}

/** All complete records, or none when the mission has not recorded anything yet. */
async function recordsOf(dataDir: string, mission: string): Promise<LedgerRecord[]> {
  try {
    return (await readLedger(dataPaths(dataDir).ledgerDir, mission)).records;
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('no ledger for mission')) return [];
    throw error;
  }
}

const encodeIndex = (index: number): string => Buffer.from(`i${index}`).toString('base64url');
function decodeIndex(token: string): number | undefined {
  const match = /^i(0|[1-9][0-9]{0,14})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}

/**
 * Follows a ledger file from a byte offset, yielding complete new lines only: a line without its
 * newline is an append in progress (or torn by a crash) and is read once it is whole.
 */
class LedgerTail {
  #offset = 0;
  #pending = Buffer.alloc(0);
  constructor(private readonly path: string) {}

  async next(): Promise<LedgerRecord[]> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
    if (size <= this.#offset) return [];
    const handle = await open(this.path, 'r');
    let chunk: Buffer;
    try {
      chunk = Buffer.alloc(size - this.#offset);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, this.#offset);
      chunk = chunk.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    this.#offset += chunk.length;
    const text = Buffer.concat([this.#pending, chunk]);
    const end = text.lastIndexOf(0x0a) + 1;
    this.#pending = Buffer.from(text.subarray(end));
    if (end === 0) return [];
    return text
      .subarray(0, end - 1)
      .toString('utf8')
      .split('\n')
      .map((line) => LedgerRecordSchema.parse(JSON.parse(line)));
  }
}

export interface LedgerRouteDeps {
  client: Client;
  dataDir: string;
  /** Aborted when the gateway stops: open streams end so the server can close. */
  shutdown: AbortSignal;
}

export function mountLedgerRoutes(api: ApiRegistry, { client, dataDir, shutdown }: LedgerRouteDeps): void {
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
      404: { description: 'Unknown mission', schema: Problem },
    },
    handler: async ({ params, query }, res) => {
      const after = query.pageToken === undefined ? 0 : decodeIndex(query.pageToken);
      if (after === undefined) {
        return sendProblem(res, {
          status: 400,
          title: 'Invalid request',
          detail: 'query.pageToken: must be a pageToken returned by a previous page',
          errors: [{ field: 'query.pageToken', reason: 'must be a pageToken returned by a previous page' }],
        });
      }
      const records = await recordsOf(dataDir, params.id);
      if (records.length === 0) await assertMissionExists(client, params.id);
      const wanted = records.filter(
        (r) => r.index >= after && (query.kind === 'all' || r.kind === 'decision'),
      );
      const page = wanted.slice(0, query.pageSize);
      const last = page.at(-1);
      const more = wanted.length > page.length;
      res.json({ records: page, ...(more && last && { nextPageToken: encodeIndex(last.index + 1) }) });
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
        description: 'An event stream (`text/event-stream`)',
        schema: TransitionEvent,
        contentType: 'text/event-stream',
      },
      404: { description: 'Unknown mission', schema: Problem },
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
      await stream(res, new LedgerTail(ledgerFile(dataDir, params.id)), after, shutdown);
    },
  });
}

async function stream(res: Response, tail: LedgerTail, after: number, shutdown: AbortSignal): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  res.write('retry: 2000\n\n');
  let closed = false;
  const finish = (): void => {
    closed = true;
  };
  res.on('close', finish);
  shutdown.addEventListener('abort', finish, { once: true });
  let lastBeat = Date.now();
  try {
    while (!closed && !shutdown.aborted) {
      for (const record of await tail.next()) {
        if (record.kind !== 'decision' || record.index <= after) continue;
        res.write(`id: ${record.index}\nevent: transition\ndata: ${JSON.stringify(record)}\n\n`);
      }
      if (Date.now() - lastBeat >= HEARTBEAT_MS) {
        res.write(': keep-alive\n\n');
        lastBeat = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } catch {
    // Headers are gone: tell the client in-band; it reconnects with Last-Event-ID.
    res.write('event: error\ndata: {"detail":"the ledger could not be read"}\n\n');
  } finally {
    shutdown.removeEventListener('abort', finish);
    res.end();
  }
}
