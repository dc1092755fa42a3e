/**
 * Whether a timer shard takes an owner halt or lift (docs/timers.md#owner-halt). Decided from the
 * command alone, the shard's owner keys and the workflow clock, so replay gives the same verdict.
 * The shard trusts no countersignature it cannot check: only the owners' own signatures (the
 * command's endorsements) count, as many distinct configured owner keys as the quorum asks.
 */
import {
  OWNER_COMMAND_MAX_AGE_MS,
  OWNER_COMMAND_MAX_SKEW_MS,
  type OwnerQuorum,
  SignedOwnerCommand,
} from '../../schemas/owner-controls';
import { ownerCommandSigningBytes } from '../../schemas/signed-bytes';
import type { TimerHalt } from '../../schemas/timer-shard';
import { verifyDetached } from '../statechart/signing';

export type HaltCheck =
  { ok: true; command: SignedOwnerCommand; signers: string[] } | { ok: false; why: string };

export function checkHaltCommand(
  raw: unknown,
  action: 'pause' | 'resume',
  ctx: { owners: OwnerQuorum | undefined; nowMs: number; halt: TimerHalt | null },
): HaltCheck {
  const parsed = SignedOwnerCommand.safeParse(raw);
  if (!parsed.success) return { ok: false, why: 'not a signed owner command' };
  const envelope = parsed.data;
  if (envelope.command.action !== action || envelope.mission_id !== null)
    return { ok: false, why: `expected a ${action} for every mission, got a ${envelope.command.action}` };
  const owners = ctx.owners;
  if (owners === undefined || owners.keys.length === 0)
    return { ok: false, why: 'this shard has no owner keys (the worker configures SWOOSH_OWNER_KEYS)' };
  const age = ctx.nowMs - envelope.issued_at_ms;
  if (age > OWNER_COMMAND_MAX_AGE_MS)
    return { ok: false, why: `stale: issued ${Math.round(age / 1000)} s ago` };
  if (-age > OWNER_COMMAND_MAX_SKEW_MS)
    return { ok: false, why: `issued ${Math.round(-age / 1000)} s in the future` };
  // A halt stands until a later command replaces or lifts it: an older one copied from history must not.
  if (
    ctx.halt !== null &&
    envelope.issued_at_ms < ctx.halt.issuedAtMs &&
    envelope.command.id !== ctx.halt.commandId
  )
    return { ok: false, why: `issued before the halt in force (${ctx.halt.commandId})` };
  const bytes = ownerCommandSigningBytes(envelope);
  const signers = new Set<string>();
  for (const e of envelope.endorsements ?? []) {
    if (!owners.keys.includes(e.signer)) continue;
    if (!verifyDetached(bytes, e.signature, e.signer).ok)
      return { ok: false, why: `the signature of owner ${e.signer} does not verify` };
    signers.add(e.signer);
  }
  if (signers.size < owners.quorum)
    return {
      ok: false,
      why: `signed by ${signers.size} owner key(s) of this deployment, ${owners.quorum} needed`,
    };
  return { ok: true, command: envelope, signers: [...signers] };
}
