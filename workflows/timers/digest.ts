/**
 * What a shard keeps of a closed timer (docs/timers.md#compact-shards), packed for its snapshot:
 * a tuple rather than named fields, the spec hash without its prefix, and times as offsets from
 * the closing. A digest is about half the size of the simplest whole timer this way, where with
 * named fields it was larger.
 */
import type { DigestRest, PackedDigest, TimerDigest } from '../../schemas/timer-shard';

const HASH_PREFIX = 'sha256-';

export function packDigest(d: TimerDigest): PackedDigest {
  const rest: DigestRest = {
    ...(d.createdBy !== undefined && { createdBy: d.createdBy }),
    ...(d.settledBy !== undefined && { settledBy: d.settledBy }),
    ...(d.ackedBy !== undefined && { ackedBy: d.ackedBy }),
    ...(d.cancelReason !== undefined && { cancelReason: d.cancelReason }),
    ...(d.placedFrom !== undefined && { placedFrom: d.placedFrom }),
    ...(d.chainedFrom !== undefined && { chainedFrom: d.chainedFrom }),
    ...(d.chainsTo !== undefined && { chainsTo: d.chainsTo }),
    ...(d.readyAt !== undefined && { readyAt: d.readyAt }),
    ...(d.heldBy !== undefined && { heldBy: d.heldBy }),
  };
  return [
    d.id,
    d.specHash.slice(HASH_PREFIX.length),
    d.state === 'Settled' ? 'S' : 'C',
    d.closedAt,
    d.closedAt - d.createdAt,
    d.dueAt - d.closedAt,
    [d.escalationLevel, d.attempts, d.replays],
    d.firedAt === undefined ? null : d.closedAt - d.firedAt,
    d.deliveredAt === undefined ? null : d.closedAt - d.deliveredAt,
    d.latenessMs ?? null,
    d.deliveryId ?? null,
    Object.keys(rest).length > 0 ? rest : null,
  ];
}

export function unpackDigest(packed: PackedDigest): TimerDigest {
  const [
    id,
    hash,
    state,
    closedAt,
    createdBefore,
    dueAfter,
    counters,
    fired,
    delivered,
    lateness,
    deliveryId,
    rest,
  ] = packed;
  const [escalationLevel, attempts, replays] = counters;
  return {
    id,
    specHash: `${HASH_PREFIX}${hash}`,
    state: state === 'S' ? 'Settled' : 'Cancelled',
    createdAt: closedAt - createdBefore,
    dueAt: closedAt + dueAfter,
    closedAt,
    escalationLevel,
    attempts,
    replays,
    ...(fired !== null && { firedAt: closedAt - fired }),
    ...(delivered !== null && { deliveredAt: closedAt - delivered }),
    ...(lateness !== null && { latenessMs: lateness }),
    ...(deliveryId !== null && { deliveryId }),
    ...rest,
  };
}
