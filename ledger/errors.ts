/**
 * The ledger's refusals that no retry can cure, typed so that callers can tell them apart: the
 * activities fail without retry (activities/ledger.ts), the worker's job telemetry takes a
 * conflict as a record already written (workers/dependencies.ts), and a reader of pages refuses
 * a cursor it did not give.
 */
import { canonicalJson } from '../schemas/canonical-json';
import type { LedgerRecord } from '../schemas/decision-record';
import { identityOf } from './records';

/** A replayed append whose content differs from the record already written under its id. */
export class LedgerConflictError extends Error {
  constructor(readonly existing: LedgerRecord) {
    super(
      `ledger already holds ${existing.id} (${existing.kind} ${canonicalJson(identityOf(existing))}) ` +
        'with different content; a retried emission must be identical',
    );
    this.name = 'LedgerConflictError';
  }
}

/** The file on disk is not a chain this orchestrator wrote; nothing is appended to it. */
export class LedgerCorruptError extends Error {
  constructor(
    readonly mission: string,
    detail: string,
  ) {
    super(`ledger of mission ${mission} is corrupt: ${detail}; run "swoosh ledger verify ${mission}"`);
    this.name = 'LedgerCorruptError';
  }
}

/** A page cursor that no page of this mission in this store gave (forged, foreign or stale). */
export class LedgerCursorError extends Error {
  constructor(readonly mission: string) {
    super(`not a cursor a page of mission ${mission}'s ledger gave`);
    this.name = 'LedgerCursorError';
  }
}
