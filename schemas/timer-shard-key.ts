/**
 * Which shard holds a timer. Pure JavaScript (no Node crypto) so the shard workflows, the gateway
 * and the worker compute the same answer, in the sandbox and out of it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * The shard of `timerId` among `shardCount`: the first 32 bits of its SHA-256, modulo the count.
 * A cryptographic hash spreads caller-chosen ids evenly however similar they are (`job-1`,
 * `job-2`, …), which a simple string hash would not. The modulo bias is below 2^-20 for any
 * shard count up to 4096.
 */
export function shardOf(timerId: string, shardCount: number): number {
  const digest = sha256(utf8ToBytes(timerId));
  const word = ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 0;
  return word % shardCount;
}

export const DEFAULT_SHARD_ID_PREFIX = 'timer-shard';

/** Workflow id of shard `shard`: `timer-shard-<n>` with the default prefix. */
export function shardWorkflowId(idPrefix: string, shard: number): string {
  return `${idPrefix}-${shard}`;
}
