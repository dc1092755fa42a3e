/**
 * A real HTTP webhook target on a free loopback port. It verifies each delivery's ed25519
 * signature against the orchestrator key and records it; the test decides the status it answers.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WEBHOOK_HEADERS } from '../../../activities/timers';
import { verifySignature } from '../../../host/keys';

export interface ReceivedDelivery {
  timerId: string;
  deliveryId: string;
  attempt: number;
  escalationLevel: number;
  dueAt: string;
  firedAt: string;
  payload?: unknown;
  /** The signature verified against the expected key. */
  verified: boolean;
  /** Wall-clock time of arrival (epoch ms). */
  receivedAt: number;
  status: number;
}

export interface WebhookTarget {
  url: string;
  /** Every request, including those answered with a failure status. */
  readonly requests: ReceivedDelivery[];
  /** Requests answered 2xx. */
  delivered(): ReceivedDelivery[];
  /** The status the next requests get (default 204). */
  answerWith(status: number): void;
  /** How long the next requests wait for their answer (default 0 ms). */
  answerAfter(ms: number): void;
  close(): Promise<void>;
}

export async function startWebhookTarget(expectedKeyId: string): Promise<WebhookTarget> {
  const requests: ReceivedDelivery[] = [];
  let status = 204;
  let delayMs = 0;
  const server = createServer((req, res) => {
    readBody(req).then(
      (body) => {
        const keyId = header(req, WEBHOOK_HEADERS.keyId);
        const signature = header(req, WEBHOOK_HEADERS.signature);
        const parsed = JSON.parse(body.toString('utf8')) as Omit<
          ReceivedDelivery,
          'verified' | 'receivedAt' | 'status' | 'attempt'
        >;
        requests.push({
          ...parsed,
          attempt: Number(header(req, WEBHOOK_HEADERS.attempt)),
          verified: keyId === expectedKeyId && verifySignature(keyId, new Uint8Array(body), signature),
          receivedAt: Date.now(),
          status,
        });
        res.statusCode = status;
        setTimeout(() => res.end(), delayMs);
      },
      () => {
        res.statusCode = 400;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    delivered: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    answerWith: (next) => {
      status = next;
    },
    answerAfter: (ms) => {
      delayMs = ms;
    },
    close: () =>
      new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
