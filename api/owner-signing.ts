/**
 * Owner-command signatures at the gateway. People sign broadcast owner commands with their own
 * owner keys (`SWOOSH_OWNER_KEYS`), as many distinct ones as the deployment's owner quorum
 * (`SWOOSH_OWNER_QUORUM`) asks; a bearer token alone never gives one. The gateway checks those
 * signatures, then countersigns the same bytes with its own key, which every mission started here
 * accepts owner commands from, and passes the owners' signatures on as endorsements that each
 * mission verifies again and keeps in its ledger record.
 *
 * The gateway's key file is created on first use in the data folder (0600, never overwritten,
 * never logged), like the orchestrator's; the gateway alone reads it, since a holder can steer
 * every mission. It also signs single-mission pause and resume (`/missions/:id/control`) for
 * operators, as before.
 */
import { ensureKeyFile, loadSigner, type Signer, verifySignature } from '../host/keys';
import {
  OWNER_COMMAND_MAX_AGE_MS,
  OWNER_COMMAND_MAX_SKEW_MS,
  OwnerControlCommand,
  type OwnerCommandRequest,
  type SignedOwnerCommand,
} from '../schemas/owner-controls';
import { ownerCommandSigningBytes, signOwnerCommand } from '../schemas/signed-bytes';

export interface OwnerCommandSigning {
  /** People's registered owner keys. */
  readonly ownerKeys: readonly string[];
  /** Distinct owner signatures a broadcast command needs. */
  readonly quorum: number;
  /** The keys a mission started here accepts owner commands from: the gateway's, then owners'. */
  controllers(): Promise<string[]>;
  /** Signs `command` as the gateway, for one mission or (null) for every mission. */
  sign(command: OwnerControlCommand, missionId: string | null): Promise<SignedOwnerCommand>;
  /** Checks owners' signatures on a broadcast command against the owner keys and the quorum. */
  check(request: OwnerCommandRequest): OwnerSignatureCheck;
  /** Countersigns a checked broadcast command as the gateway, its owners' signatures as endorsements. */
  countersign(request: OwnerCommandRequest): Promise<SignedOwnerCommand>;
  /** The registered owner keys whose signatures on a stored command verify now. */
  verifiedOwners(command: SignedOwnerCommand): string[];
}

/** Why a broadcast command is refused, naming the field; or the owners who signed it. */
export type OwnerSignatureCheck =
  | { ok: true; signers: string[] }
  | { ok: false; status: 400 | 403; title: string; field: string; reason: string; signers: string[] };

export interface OwnerSigningOptions {
  /** People's own owner keys (`ed25519:<base64>`). */
  ownerKeys?: readonly string[];
  /** Distinct owner signatures a broadcast command needs (default 1). */
  quorum?: number;
  now?: () => number;
}

/** Signs with the key in `keyFile` (created if absent). */
export function ownerCommandSigning(keyFile: string, options: OwnerSigningOptions = {}): OwnerCommandSigning {
  const ownerKeys = options.ownerKeys ?? [];
  const quorum = options.quorum ?? 1;
  const now = options.now ?? Date.now;
  let loading: Promise<Signer> | undefined;
  const signer = (): Promise<Signer> => {
    loading ??= ensureKeyFile(keyFile, 'gateway')
      .then(() => loadSigner(keyFile, 'gateway'))
      .catch((error: unknown) => {
        // A failed load (a full disk, a bad mode) is tried again on the next request.
        loading = undefined;
        throw error;
      });
    return loading;
  };
  const claimOf = (r: OwnerCommandRequest) => ({
    command: r.command,
    mission_id: null,
    issued_at_ms: r.issued_at_ms,
  });
  return {
    ownerKeys,
    quorum,
    async controllers() {
      const own = (await signer()).keyId;
      return [own, ...ownerKeys.filter((k) => k !== own)];
    },
    async sign(command, missionId) {
      // Signed as the mission will parse it (trimmed), so the signed bytes are the checked bytes.
      return signOwnerCommand(
        OwnerControlCommand.parse(command),
        { missionId, issuedAtMs: now() },
        await signer(),
      );
    },
    check(request) {
      const refuse = (
        status: 400 | 403,
        title: string,
        field: string,
        reason: string,
        signers: string[] = [],
      ) => ({ ok: false, status, title, field, reason, signers }) as const;
      if (ownerKeys.length === 0)
        return refuse(
          403,
          'No owner keys registered',
          'body.signatures',
          'this deployment registers no owner keys (SWOOSH_OWNER_KEYS), so no owner command can be signed',
        );
      const age = now() - request.issued_at_ms;
      if (age > OWNER_COMMAND_MAX_AGE_MS)
        return refuse(
          400,
          'Stale owner command',
          'body.issued_at_ms',
          `issued ${Math.round(age / 1000)} s ago; owners must sign within ${OWNER_COMMAND_MAX_AGE_MS / 1000} s of issuing`,
        );
      if (-age > OWNER_COMMAND_MAX_SKEW_MS)
        return refuse(
          400,
          'Owner command from the future',
          'body.issued_at_ms',
          `issued ${Math.round(-age / 1000)} s from now`,
        );
      const bytes = ownerCommandSigningBytes(claimOf(request));
      const signers: string[] = [];
      for (const [i, s] of request.signatures.entries()) {
        const field = `body.signatures.${i}`;
        if (!ownerKeys.includes(s.signer))
          return refuse(
            403,
            'Not an owner key',
            `${field}.signer`,
            `${s.signer} is not a registered owner key`,
          );
        if (!verifySignature(s.signer, bytes, s.signature))
          return refuse(
            403,
            'Owner signature does not verify',
            `${field}.signature`,
            `not ${s.signer}'s signature over this command (command, issued_at_ms and mission_id null)`,
          );
        if (!signers.includes(s.signer)) signers.push(s.signer);
      }
      if (signers.length < quorum)
        return refuse(
          403,
          'Owner quorum not met',
          'body.signatures',
          `${signers.length} of ${quorum} distinct owner signatures: another owner must sign the same command and issued_at_ms`,
          signers,
        );
      return { ok: true, signers };
    },
    async countersign(request) {
      const signed = signOwnerCommand(
        request.command,
        { missionId: null, issuedAtMs: request.issued_at_ms },
        await signer(),
      );
      return { ...signed, endorsements: request.signatures };
    },
    verifiedOwners(command) {
      const bytes = ownerCommandSigningBytes(command);
      const keys = (command.endorsements ?? [])
        .filter((e) => ownerKeys.includes(e.signer) && verifySignature(e.signer, bytes, e.signature))
        .map((e) => e.signer);
      return [...new Set(keys)];
    },
  };
}
