/**
 * GET /health (docs/design.md#interfaces): `{ status, consensus, lastSnapshotHLC, walLag }` plus the checks they are
 * made of. docs/api.md defines every value; in short:
 * - `status`: `ok` when Temporal answers, a worker polls the task queue and the ledger folder is
 *   writable; `degraded` when Temporal answers but another check fails; `unavailable` otherwise.
 * - `consensus`: whether the two records of each sampled running mission agree — the workflow's
 *   HEAD (its state query) and the decision ledger's last record: `agreed`, `lagging` (the ledger
 *   is behind by records still being written), `diverged` (the ledger holds a decision the
 *   workflow does not, or a different one), `unknown` (nothing could be compared).
 * - `lastSnapshotHLC`: the HLC of the newest decision record in the ledger folder (null if none).
 * - `walLag`: accepted transitions of the sampled missions whose decision records are not yet in
 *   the ledger (null when unknown); the gauge `swoosh_wal_lag_records` (docs/design.md#observability).
 * - `checks.missions`: running missions whose workflow task keeps failing (they answer nothing
 *   until fixed, so status is `degraded`), and missions that failed in the last day.
 */
import { z } from 'zod';

export const HealthStatus = z.enum(['ok', 'degraded', 'unavailable']);
export const Consensus = z.enum(['agreed', 'lagging', 'diverged', 'unknown']);

export const HealthCheck = z.object({ ok: z.boolean(), detail: z.string() });

export const Health = z.object({
  status: HealthStatus,
  consensus: Consensus,
  lastSnapshotHLC: z.string().nullable(),
  walLag: z.int().nonnegative().nullable(),
  checks: z.object({
    temporal: HealthCheck,
    worker: HealthCheck.extend({ pollers: z.int().nonnegative() }),
    ledger: HealthCheck,
    missions: HealthCheck.extend({
      /** Running missions whose workflow task has failed at least twice in a row (ids). */
      failingTasks: z.array(z.string()),
      /** Missions that failed (ExecutionStatus Failed) in the last 24 hours (ids, newest first). */
      failedRecently: z.array(z.string()),
    }),
  }),
  /** Running missions whose HEAD was compared with their ledger. */
  sampledMissions: z.int().nonnegative(),
  checkedAt: z.iso.datetime(),
});
export type Health = z.infer<typeof Health>;
