/**
 * The gateway's owner-command key: every owner command the gateway sends on a caller's behalf is
 * signed with it, and every mission started through the gateway lists its public key (and the
 * deployment's registered owner keys) as the keys it accepts owner commands from. The key file is
 * created on first use in the data folder (0600, never overwritten, never logged), like the
 * orchestrator's; the gateway alone reads it, since a holder can steer every mission.
 */
import { ensureKeyFile, loadSigner, type Signer } from '../host/keys';
import { OwnerControlCommand, type SignedOwnerCommand } from '../schemas/owner-controls';
import { signOwnerCommand } from '../schemas/signed-bytes';

export interface OwnerCommandSigning {
  /** The keys a mission started here accepts owner commands from: the gateway's, then owners'. */
  controllers(): Promise<string[]>;
  /** Signs `command` as the gateway, for one mission or (null) for every mission. */
  sign(command: OwnerControlCommand, missionId: string | null): Promise<SignedOwnerCommand>;
}

/** Signs with the key in `keyFile` (created if absent); `ownerKeys` are people's own owner keys. */
export function ownerCommandSigning(
  keyFile: string,
  ownerKeys: readonly string[] = [],
  now: () => number = Date.now,
): OwnerCommandSigning {
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
  return {
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
  };
}
