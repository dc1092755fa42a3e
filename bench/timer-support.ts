/**
 * What both timer benchmark modes share (bench/timers.ts, bench/timers-live.ts): the webhook
 * receiver that records each timer's delivery once, progress while waiting, and percentiles.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export const log = (message: string) => console.log(`[bench:timers] ${message}`);

export interface Delivery {
  dueAt: number;
  firedAt: number;
  receivedAt: number;
}

export interface Receiver {
  url: string;
  received: Map<string, Delivery>;
  /** Called with each timer's first delivery, for counts the map would take a scan to give. */
  onDelivery?: (delivery: Delivery) => void;
  close(): Promise<void>;
}

/** Counts each timer once (a retried attempt repeats its delivery id); answers 204. */
export async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = new Map();
  const receiver: Receiver = { url: '', received, close: () => Promise.resolve() };
  const server = createServer((req, res) => {
    const receivedAt = Date.now();
    readBody(req).then(
      (text) => {
        const body = JSON.parse(text) as { timerId: string; dueAt: string; firedAt: string };
        if (!received.has(body.timerId)) {
          const delivery = { dueAt: Date.parse(body.dueAt), firedAt: Date.parse(body.firedAt), receivedAt };
          received.set(body.timerId, delivery);
          receiver.onDelivery?.(delivery);
        }
        res.statusCode = 204;
        res.end();
      },
      () => {
        res.statusCode = 400;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  receiver.close = () =>
    new Promise((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    });
  return receiver;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Waits until `count()` reaches `target` or time runs out, printing progress every 5 s. */
export async function waitFor(
  count: () => number,
  target: number,
  timeoutMs: number,
  label: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let reported = Date.now();
  while (count() < target && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    if (Date.now() - reported >= 5_000) {
      reported = Date.now();
      log(`${label} ${count()}/${target}`);
    }
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function summary(values: number[] | undefined): string[] {
  if (!values) return ['—', '—', '—', '—'];
  const sorted = [...values].sort((a, b) => a - b);
  return [50, 95, 99, 100].map((p) => `${percentile(sorted, p)} ms`);
}
