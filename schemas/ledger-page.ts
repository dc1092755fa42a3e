/**
 * Reading a mission's decision ledger over the gateway: pages of records (GET
 * /missions/:id/ledger) and the server-sent event stream of accepted transitions (GET
 * /missions/:id/events), whose event ids are ledger indexes so a client resumes with Last-Event-ID.
 */
import { z } from 'zod';
import { DecisionRecord, LedgerRecord } from './decision-record';
import { Sha256Schema } from './proposal';
import { PageToken } from './api';

export const LedgerPageQuery = z.strictObject({
  /** `decision` (default): accepted transitions only; `all`: agent deployments and lifecycle too. */
  kind: z.enum(['decision', 'all']).default('decision'),
  pageSize: z.coerce.number().int().min(1).max(500).default(100),
  pageToken: PageToken.optional(),
});
export type LedgerPageQuery = z.output<typeof LedgerPageQuery>;

export const LedgerPage = z.object({
  records: z.array(LedgerRecord),
  nextPageToken: PageToken.optional(),
});

/** The index of the last event the client saw; the stream resumes after it. */
export const LastEventId = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14})$/, 'must be the id of an event this stream sent');

export const EventsQuery = z.strictObject({
  /** For clients that cannot set the Last-Event-ID header; the header wins when both are given. */
  lastEventId: LastEventId.optional(),
});

/** The `data` of a `transition` event: the decision record as the ledger holds it. */
export const TransitionEvent = DecisionRecord;

/** The `data` of an `error` event: the stream ends after it; reconnect with Last-Event-ID. */
export const StreamError = z.object({ detail: z.string() });

/** `GET /missions/:id/evidence/:checksum`: one piece of evidence the mission's ledger cites. */
export const EvidenceParams = z.strictObject({ id: z.uuid(), checksum: Sha256Schema });
