/**
 * Bounded fan-out for node-side code that asks many timer shards at once (the gateway's listings,
 * the worker's shard starts): each call is an RPC, so hundreds of shards must not mean hundreds
 * of calls in flight.
 */

/** `map` with at most `limit` calls of `fn` in flight; results keep the order of `items`. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
