/**
 * A decision's `decided_at` is part of its hashed record. The ledger used to make it with
 * `new Date(at_ms).toISOString()`; the workflow's core now drafts it without Date, and must spell
 * every instant exactly as that did, or the same decision would make a different record.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decidedAt } from '../../schemas/decision-record';

const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

describe('the time of a decision', () => {
  it('is spelled as the ledger spelled it', () => {
    expect(decidedAt(Date.UTC(2025, 9, 19, 1, 23, 45, 678))).toBe('2025-10-19T01:23:45.678Z');
    expect(decidedAt(0)).toBe('1970-01-01T00:00:00.000Z');
  });

  it('matches Date#toISOString for every instant from 1970 to the end of year 9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_MS }), (ms) => {
        expect(decidedAt(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 5_000 },
    );
    expect(decidedAt(MAX_MS)).toBe(new Date(MAX_MS).toISOString());
  });
});
