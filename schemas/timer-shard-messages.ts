/**
 * Messages one timer shard sends another when a chain or a dependency crosses shards. They travel
 * as a signal (fire-and-forget, deduplicated by Temporal), so every one is idempotent: receiving
 * it twice changes nothing.
 */
import { z } from 'zod';
import { TimerId, TimerSpec } from './timer';
import { TimerCreator } from './timer-targets';

/** Who waits on a timer: `dependentId`, held by shard `shard`. */
export const Watcher = z.strictObject({ dependentId: TimerId, shard: z.int().min(0) });
export type Watcher = z.infer<typeof Watcher>;

export const ShardMessage = z.discriminatedUnion('type', [
  /**
   * Create a chained timer; `baseTime` is its predecessor's firing, which `delayMs` counts from.
   * The link acts as the chain's creator (absent for chains created before creators were recorded).
   */
  z.strictObject({
    type: z.literal('schedule'),
    spec: TimerSpec,
    baseTime: z.number(),
    from: TimerId,
    createdBy: TimerCreator.optional(),
    /** Relayed by the link's full home shard, which forwarded its id here. */
    placedFrom: z.int().min(0).optional(),
  }),
  /** Tell `watcher` when `timerId` fires (at once if it already has). */
  z.strictObject({ type: z.literal('watch'), timerId: TimerId, watcher: Watcher }),
  z.strictObject({
    type: z.literal('dependencyFired'),
    dependentId: TimerId,
    timerId: TimerId,
    firedAt: z.number(),
  }),
  z.strictObject({ type: z.literal('dependencyCancelled'), dependentId: TimerId, timerId: TimerId }),
  /**
   * A chain link its full home placed here did not fit here either (shard `shard` is full): the
   * home moves its forward on to the next shard and relays the link there.
   */
  z.strictObject({
    type: z.literal('placementFull'),
    spec: TimerSpec,
    baseTime: z.number(),
    from: TimerId,
    createdBy: TimerCreator.optional(),
    shard: z.int().min(0),
  }),
  /** A timer placed here from its full home shard was forgotten: the home drops its forward. */
  z.strictObject({ type: z.literal('unforward'), timerId: TimerId, shard: z.int().min(0) }),
]);
export type ShardMessage = z.infer<typeof ShardMessage>;
