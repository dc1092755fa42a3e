/**
 * Side effects of the timer shards: webhook delivery (an ed25519-signed body), update delivery to
 * another workflow, the dead letters, the timer event log, and starting a shard that a
 * message finds missing.
 *
 * Each delivery activity makes one attempt per delivery and reports outcomes as values; the shard
 * owns retries and backoff (docs/timers.md says why), so a failing target never holds a pending
 * activity open while it backs off. Webhooks go out through the outbound policy (host/outbound.ts):
 * a timer acts as its creator, and its creator may not reach SWOOSH's own network.
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { DeadLetter } from '../schemas/timer';
import { shardMessageSignal, TIMER_SHARD_WORKFLOW_TYPE } from '../schemas/timer-messages';
import type {
  ShardAlarm,
  ShardSignalWithStart,
  ShardBookkeeping,
  TimerEventBatch,
  UpdateDelivery,
  WebhookBatch,
  WebhookBatchResult,
  WebhookBatchWithBookkeeping,
  WebhookDelivery,
} from '../schemas/timer-activities';
import type { ArchivedTimer, AttemptOutcome } from '../schemas/timer-shard';
import type { LedgerWriter } from '../ledger';
import { callingWorkflow } from './ledger';
import type { LicenceVerdict } from '../schemas/licence';
import { canonicalJson } from '../schemas/canonical-json';
import { isErrno } from '../host/durable-fs';
import type { Signer } from '../host/keys';
import type { TimerEventLog } from '../host/timer-events';
import type { ParkedTimerStore } from '../host/parked-timers';
import type {
  PageInRequest,
  PageInResult,
  ParkedCancelRequest,
  ParkedCancelResult,
  ParkRequest,
  ParkResult,
  RetireRequest,
} from '../schemas/timer-parking';
import { OutboundRefusedError, type OutboundPolicy, outboundRequest } from '../host/outbound';

/** Where dead letters go by default: `<data dir>/timers/dead-letters.jsonl`. */
export function deadLetterFile(dataDir: string): string {
  return join(dataDir, 'timers', 'dead-letters.jsonl');
}

/**
 * Where the dead letters are kept (docs/ledger.md, "Evidence and dead letters"): a file in the data
 * folder (`createFileDeadLetterStore`) or rows in PostgreSQL (`PostgresDeadLetterStore`,
 * dead-letters-postgres.ts), chosen by configuration (activities/stores.ts). An append resolves
 * only once its record would survive a crash; an activity retried after a crash may append the
 * same record again, from this worker or another, and it is kept once.
 */
export interface DeadLetterStore {
  /** Where the records are, for messages: a file, a database. */
  readonly location: string;
  append(record: DeadLetter): Promise<void>;
  /** Every dead letter ever recorded, oldest first, each once (the first of its `deadLetterId`). */
  list(): Promise<DeadLetter[]>;
  /** Lets go of what the store holds (connections); a later call takes it again. */
  close(): Promise<void>;
}

/**
 * Dead letters as JSON lines, fsynced before the append returns, so an acknowledged record
 * survives a crash. A record appended twice is two lines; `list` keeps one per `deadLetterId`.
 */
export function createFileDeadLetterStore(path: string): DeadLetterStore {
  return {
    location: path,
    async append(record) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const handle = await open(path, 'a', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(DeadLetter.parse(record))}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    async list() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if (isErrno(error, 'ENOENT')) return [];
        throw error;
      }
      const byId = new Map<string, DeadLetter>();
      // A torn last line (a crash mid-append) is skipped; every complete line is a record.
      for (const line of text.split('\n')) {
        const parsed = DeadLetter.safeParse(parseLine(line));
        if (parsed.success && !byId.has(parsed.data.deadLetterId))
          byId.set(parsed.data.deadLetterId, parsed.data);
      }
      return [...byId.values()];
    },
    // Holds no file open between calls.
    async close() {},
  };
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

export interface TimerActivityDeps {
  /** The orchestrator key; webhook bodies are signed with it. */
  signer: Signer;
  deadLetters: DeadLetterStore;
  /** Where shards archive the timers they closed: each shard's ledger `<its workflow id>`. */
  ledger: Pick<LedgerWriter, 'appendTimersClosed'>;
  /** Where shards' timer events go (host/timer-events.ts; GET /timers/events streams them). */
  events: TimerEventLog;
  /** For update actions and for starting missing shards. */
  client: Client;
  /** Which addresses webhooks may reach beyond public ones (SWOOSH_OUTBOUND_ALLOW). */
  outbound: OutboundPolicy;
  /** Per-attempt HTTP deadline; below the activity's start-to-close timeout. */
  webhookTimeoutMs?: number;
  /**
   * The deployment's licence: while it is DENIED (past any grace) no webhook is sent
   * (docs/timers.md#licence). `createActivities` passes the worker's own checker.
   */
  licence?: { check(): Promise<LicenceVerdict> };
  /**
   * Where shards park the timers due later than their park-after setting
   * (docs/timers.md#parked-timers); a worker without one configures its shards not to park.
   */
  parked?: ParkedTimerStore;
}

/** The headers a webhook target reads to verify, deduplicate and judge the freshness of a delivery. */
export const WEBHOOK_HEADERS = {
  deliveryId: 'x-swoosh-delivery-id',
  timerId: 'x-swoosh-timer-id',
  attempt: 'x-swoosh-attempt',
  keyId: 'x-swoosh-key-id',
  /** Over the body alone: the same on every attempt (what receivers written before checked). */
  signature: 'x-swoosh-signature',
  /** When this attempt was signed, in milliseconds since the Unix epoch. */
  timestamp: 'x-swoosh-timestamp',
  /** Over `<delivery id>.<timestamp>.<body>`: a captured request verifies only while it is fresh. */
  requestSignature: 'x-swoosh-request-signature',
} as const;

/**
 * What `x-swoosh-request-signature` signs: the delivery id and the attempt's timestamp, each
 * followed by a dot, then the body. Neither a uuid nor a decimal holds a dot, so the parts cannot
 * be shifted into one another.
 */
export function webhookRequestContent(deliveryId: string, timestamp: string, body: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from(`${deliveryId}.${timestamp}.`, 'utf8'), body]);
}

/**
 * The signed body. It holds nothing attempt-specific, so every attempt and every replay of one
 * delivery is byte-identical and a target deduplicates on `deliveryId` alone.
 */
export function webhookBody(delivery: WebhookDelivery): string {
  return canonicalJson({
    deliveryId: delivery.deliveryId,
    timerId: delivery.timerId,
    escalationLevel: delivery.escalationLevel,
    dueAt: delivery.dueAt,
    firedAt: delivery.firedAt,
    ...(delivery.payload !== undefined && { payload: delivery.payload }),
  });
}

export function createTimerActivities({
  signer,
  deadLetters,
  ledger,
  events,
  client,
  outbound,
  webhookTimeoutMs = 10_000,
  licence,
  parked,
}: TimerActivityDeps) {
  /** The parked-timer store; a shard parks only when its worker configured it to, with one. */
  function parkedStore(): ParkedTimerStore {
    if (parked) return parked;
    throw ApplicationFailure.nonRetryable(
      'this worker has no parked-timer store, and a shard asked it to park or page in timers',
      'TimerParkingUnavailable',
    );
  }

  /** Every delivery's outcome when the licence forbids sending; undefined when it allows. */
  async function licenceRefusal(): Promise<AttemptOutcome | undefined> {
    if (licence === undefined) return undefined;
    const verdict = await licence.check();
    if (verdict.status !== 'DENIED') return undefined;
    // Retryable: the timer's own retry policy decides how long to wait for the licence to return.
    return {
      ok: false,
      retryable: true,
      error: `not sent: the licence is DENIED (${verdict.reasons.join('; ')})`.slice(0, 1024),
    };
  }

  /**
   * Appends closed timers to the calling shard's ledger, in order, in one write. A retried attempt
   * finds the records its first attempt wrote (their ids derive from shard, timer and closing time).
   */
  async function archive(mission: string, timers: ArchivedTimer[]): Promise<void> {
    await ledger.appendTimersClosed(
      timers.map(({ specHash, closedAt, record }) => ({
        mission,
        timer_id: record.id,
        outcome: record.state === 'Settled' ? 'Settled' : 'Cancelled',
        closed_at: new Date(closedAt).toISOString(),
        spec_hash: specHash,
        timer: canonicalJson(record),
      })),
    );
  }

  /** A shard's events, then its closed timers; each skips what an earlier attempt wrote. */
  async function writeBookkeeping(
    activity: string,
    { shard, events: batch, archived }: ShardBookkeeping,
  ): Promise<void> {
    if (batch.length > 0) await events.append(shard, batch);
    if (archived.length > 0) await archive(callingWorkflow(activity), archived);
  }

  /**
   * All at once: a batch costs its slowest request, not the sum. Signing (synchronous CPU work)
   * comes first, so no request's deadline runs while the thread signs the others.
   */
  async function deliverBatch(deliveries: WebhookDelivery[]): Promise<AttemptOutcome[]> {
    const refused = await licenceRefusal();
    if (refused !== undefined) return deliveries.map(() => refused);
    return Promise.all(deliveries.map(signed).map(post));
  }

  /**
   * A delivery's body and its signatures, computed before any request of the batch starts. The
   * body's signature is the same on every attempt; the request's covers this attempt's timestamp.
   */
  function signed(delivery: WebhookDelivery): {
    delivery: WebhookDelivery;
    body: Uint8Array;
    signature: string;
    timestamp: string;
    requestSignature: string;
  } {
    const body = new TextEncoder().encode(webhookBody(delivery));
    const timestamp = String(Date.now());
    return {
      delivery,
      body,
      signature: signer.sign(body),
      timestamp,
      requestSignature: signer.sign(webhookRequestContent(delivery.deliveryId, timestamp, body)),
    };
  }

  /**
   * One signed POST. 2xx delivers; 408, 429, 5xx and network errors are worth retrying. An address
   * the policy refuses never will be reachable by retrying, so it dead-letters at once.
   */
  async function post({
    delivery,
    body,
    signature,
    timestamp,
    requestSignature,
  }: ReturnType<typeof signed>): Promise<AttemptOutcome> {
    let status: number;
    try {
      ({ status } = await outboundRequest(outbound, {
        url: delivery.url,
        method: 'POST',
        headers: {
          ...delivery.headers,
          'content-type': 'application/json',
          [WEBHOOK_HEADERS.deliveryId]: delivery.deliveryId,
          [WEBHOOK_HEADERS.timerId]: delivery.timerId,
          [WEBHOOK_HEADERS.attempt]: String(delivery.attempt),
          [WEBHOOK_HEADERS.keyId]: signer.keyId,
          [WEBHOOK_HEADERS.signature]: signature,
          [WEBHOOK_HEADERS.timestamp]: timestamp,
          [WEBHOOK_HEADERS.requestSignature]: requestSignature,
        },
        body,
        timeoutMs: webhookTimeoutMs,
        // The answer's body is not needed: the status is the outcome.
        maxBytes: 0,
        // A redirect would resend a signed body to a host nobody configured: it is the outcome too.
        maxRedirects: 0,
        // Webhooks go out by the hundred a second, mostly to a few receivers.
        reuseConnection: true,
      }));
    } catch (error) {
      if (error instanceof OutboundRefusedError) {
        return { ok: false, retryable: false, error: `refused: ${error.message}` };
      }
      return { ok: false, retryable: true, error: `request failed: ${(error as Error).message}` };
    }
    if (status >= 200 && status < 300) return { ok: true };
    const retryable = status === 408 || status === 429 || status >= 500;
    return { ok: false, retryable, error: `HTTP ${status}` };
  }

  return {
    deliverTimerWebhooks: async ({ deliveries }: WebhookBatch): Promise<AttemptOutcome[]> =>
      deliverBatch(deliveries),

    /**
     * A batch of webhooks and, beside it, the shard's bookkeeping (TIMER_BOOKKEEPING_PATCH): one
     * activity where there were two. A bookkeeping write that fails does not hold the webhooks
     * back; the shard is told and writes it again.
     */
    deliverTimerWebhooksWithBookkeeping: async ({
      deliveries,
      bookkeeping,
    }: WebhookBatchWithBookkeeping): Promise<WebhookBatchResult> => {
      const [written, outcomes] = await Promise.all([
        writeBookkeeping('deliverTimerWebhooksWithBookkeeping', bookkeeping).then(
          () => undefined,
          (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 500),
        ),
        deliverBatch(deliveries),
      ]);
      return { outcomes, ...(written !== undefined && { bookkeepingError: written }) };
    },

    /**
     * Delivered once the target workflow has run the update. A rejection (or a failure in its
     * handler) is final. Waiting for completion rather than acceptance is what surfaces a
     * rejection; an attempt that outlives the activity timeout is retried under the same update
     * id, which Temporal answers with the first attempt's outcome instead of running it twice.
     */
    deliverTimerUpdate: async (delivery: UpdateDelivery): Promise<AttemptOutcome> => {
      try {
        // The update's arity is the target's business; the action's args are passed as given.
        await client.workflow.getHandle(delivery.workflowId).executeUpdate(delivery.updateName, {
          args: delivery.args as [unknown, ...unknown[]],
          updateId: delivery.updateId,
        });
        return { ok: true };
      } catch (error) {
        if (error instanceof WorkflowUpdateFailedError) {
          return {
            ok: false,
            retryable: false,
            error: `update rejected: ${error.cause?.message ?? error.message}`,
          };
        }
        if (error instanceof WorkflowNotFoundError) {
          return { ok: false, retryable: true, error: `workflow ${delivery.workflowId} not found` };
        }
        throw error;
      }
    },

    /** Parks a create's far timers, and checks the others against the ids parked already. */
    parkTimers: async (request: ParkRequest): Promise<ParkResult> => await parkedStore().park(request),

    /** The parked timers due within the shard's page-ahead window, in order. */
    pageInParkedTimers: async (request: PageInRequest): Promise<PageInResult> =>
      await parkedStore().pageIn(request),

    cancelParkedTimer: async (request: ParkedCancelRequest): Promise<ParkedCancelResult> =>
      await parkedStore().cancel(request),

    /** Hands the store the digests of closed timers, so they leave the shard's state. */
    retireTimerDigests: async (request: RetireRequest): Promise<void> => await parkedStore().retire(request),

    recordTimerDeadLetter: async (record: DeadLetter): Promise<void> => {
      await deadLetters.append(record);
    },

    /** Closed timers to the calling shard's ledger (shards recorded before TIMER_BOOKKEEPING_PATCH). */
    archiveClosedTimers: async ({ timers }: { timers: ArchivedTimer[] }): Promise<void> => {
      await archive(callingWorkflow('archiveClosedTimers'), timers);
    },

    /**
     * Signed and appended in the shard's order; events already in the log are skipped (shards
     * recorded before TIMER_BOOKKEEPING_PATCH).
     */
    recordTimerEvents: async ({ shard, events: batch }: TimerEventBatch): Promise<void> => {
      await events.append(shard, batch);
    },

    /**
     * Both of the above in one activity, as shards write them since TIMER_BOOKKEEPING_PATCH. Each
     * half skips what a failed attempt already wrote, so a retry writes nothing twice.
     */
    recordShardBookkeeping: async (bookkeeping: ShardBookkeeping): Promise<void> =>
      writeBookkeeping('recordShardBookkeeping', bookkeeping),

    /**
     * Sleeps in the worker until `at` and returns: the shard's wake-up by way of an activity's
     * completion rather than Temporal's timer queue (docs/timers.md#alarms). Never longer than
     * `at` is after the server scheduled it: a server whose clock runs ahead of this one (the
     * time-skipping test server) times the alarm out itself, and the slot is not held for the
     * difference. Cancelled (a worker shutting down), it ends at once.
     */
    ringShardAlarm: async ({ at }: ShardAlarm): Promise<void> => {
      const context = Context.current();
      const wait = Math.min(at - Date.now(), at - context.info.scheduledTimestampMs);
      if (wait > 0) await context.sleep(wait);
    },

    /** Signal-with-start: the message reaches the shard whether or not it was running. */
    signalTimerShard: async ({
      workflowId,
      taskQueue,
      input,
      message,
    }: ShardSignalWithStart): Promise<void> => {
      await client.workflow.signalWithStart(TIMER_SHARD_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [input],
        signal: shardMessageSignal,
        signalArgs: [message],
      });
    },
  };
}
