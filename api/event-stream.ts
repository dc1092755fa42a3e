/**
 * Server-sent event streams of the gateway (GET /missions/:id/events, GET /timers/events): the
 * headers, the reconnect delay, polling a source for new events, heartbeats, and ending the
 * stream when the client goes, the gateway stops, or the source fails. A source reads durable
 * files, so each event's `id` is something a client can resume from with Last-Event-ID.
 */
import type { Response } from 'express';
import { sendProblem } from './problem';

/** How often an open stream looks for new events. */
const POLL_MS = 250;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

export interface StreamedEvent {
  id: string;
  event: string;
  /** JSON text, on one line. */
  data: string;
}

/**
 * Streams what `poll` returns until the client leaves or `shutdown` aborts. A `poll` that throws
 * ends the stream with an `error` event (`data` `{ detail }`): the headers are gone by then, so
 * the client learns it in-band and reconnects with Last-Event-ID.
 */
export async function sendEventStream(
  res: Response,
  poll: () => Promise<StreamedEvent[]>,
  shutdown: AbortSignal,
  failure: string,
): Promise<void> {
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
      for (const { id, event, data } of await poll())
        res.write(`id: ${id}\nevent: ${event}\ndata: ${data}\n\n`);
      if (Date.now() - lastBeat >= HEARTBEAT_MS) {
        res.write(': keep-alive\n\n');
        lastBeat = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } catch {
    res.write(`event: error\ndata: ${JSON.stringify({ detail: failure })}\n\n`);
  } finally {
    shutdown.removeEventListener('abort', finish);
    res.end();
  }
}

/** Streams held open at once by one route; one more is refused with 503 rather than slowing every other. */
export class StreamGate {
  #open = 0;
  constructor(private readonly max: number) {}

  /** Runs `stream` if there is room, else answers 503 with Retry-After. */
  async run(res: Response, stream: () => Promise<void>): Promise<void> {
    if (this.#open >= this.max) {
      res.setHeader('Retry-After', '5');
      return sendProblem(res, {
        status: 503,
        title: 'Too many event streams',
        detail: `this gateway holds ${this.max} event streams open; retry later`,
      });
    }
    this.#open += 1;
    try {
      await stream();
    } finally {
      this.#open -= 1;
    }
  }
}
