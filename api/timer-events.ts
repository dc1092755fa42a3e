/**
 * GET /timers/events (docs/timers.md#timer-events): the shards' event logs as one server-sent
 * event stream. Each shard's file is followed on its own (host/timer-events.ts); an event's id is
 * the position reached in every shard, so a client that reconnects with Last-Event-ID resumes
 * exactly after the last event it saw, whichever gateway serves it and however often it restarted.
 */
import type { Request, Response } from 'express';
import { TimerEventTail, timerEventFile } from '../host/timer-events';
import {
  encodeTimerEventCursor,
  TIMER_EVENT_CURSOR_REASON,
  TimerEventCursor,
  type TimerEventsQuery,
} from '../schemas/timer-events';
import { sendEventStream, StreamGate, type StreamedEvent } from './event-stream';
import { sendProblem } from './problem';

export interface TimerEventStreamDeps {
  /** The folder the workers write the event logs to (`timerEventsDir(dataDir)`). */
  dir: string;
  /** Aborted when the gateway stops: open streams end so the server can close. */
  shutdown: AbortSignal;
  /** Timer event streams held open at once. */
  maxStreams: number;
}

export function timerEventStream(
  { dir, shutdown, maxStreams }: TimerEventStreamDeps,
  shards: number,
): (input: { query: TimerEventsQuery; req: Request }, res: Response) => Promise<void> {
  const gate = new StreamGate(maxStreams);
  return async ({ query, req }, res) => {
    const header = req.headers['last-event-id'];
    let cursor = query.lastEventId;
    let field = 'query.lastEventId';
    if (header !== undefined) {
      const parsed = TimerEventCursor.safeParse(header);
      if (!parsed.success) return refuse(res, 'header.last-event-id', TIMER_EVENT_CURSOR_REASON);
      cursor = parsed.data;
      field = 'header.last-event-id';
    }
    if (cursor !== undefined && cursor.length !== shards) {
      return refuse(res, field, `names ${cursor.length} shards; this deployment has ${shards}`);
    }
    await gate.run(res, async () => {
      const tails = await Promise.all(
        Array.from({ length: shards }, async (_, shard) => {
          const path = timerEventFile(dir, shard);
          if (cursor) return new TimerEventTail(path, cursor[shard]!);
          return query.from === 'start' ? new TimerEventTail(path, 0) : await TimerEventTail.atEnd(path);
        }),
      );
      const reached = tails.map((tail) => tail.lastSeq);
      const wanted = (state: string, timerId: string): boolean =>
        (query.state === undefined || (query.state as string[]).includes(state)) &&
        (query.idPrefix === undefined || timerId.startsWith(query.idPrefix));
      const poll = async (): Promise<StreamedEvent[]> => {
        const out: StreamedEvent[] = [];
        for (const [shard, tail] of tails.entries()) {
          for (const event of await tail.next()) {
            reached[shard] = event.seq;
            if (!wanted(event.state, event.timerId)) continue;
            out.push({ id: encodeTimerEventCursor(reached), event: 'timer', data: JSON.stringify(event) });
          }
        }
        return out;
      };
      await sendEventStream(res, poll, shutdown, 'the timer event log could not be read');
    });
  };
}

function refuse(res: Response, field: string, reason: string): void {
  sendProblem(res, {
    status: 400,
    title: 'Invalid request',
    detail: `${field}: ${reason}`,
    errors: [{ field, reason }],
  });
}
