/**
 * From a mission's resolved config to what the pure core runs with: the machine config, the
 * council it elects first and the signer registry. Derived once per run from the same config, so a
 * continued-as-new run authorises exactly the keys its predecessor did.
 */
import type { ResolvedMissionConfig } from '../../schemas/mission-config';
import type { SignerKey } from '../../schemas/signed-bytes';
import type { TransitionClass } from '../../schemas/transition-classes';
import { createSignerRegistry, defineConfig, type MachineConfig, type SignerRegistry } from '../statechart';

export function machineConfigOf(config: ResolvedMissionConfig, members: number): MachineConfig {
  return defineConfig({
    quorumSize: config.quorumSize ?? Math.max(1, Math.floor(members / 2) + 1),
    approvalsRequired: config.approvalsRequired,
    schedule: config.schedule,
  });
}

export function councilMembers(config: ResolvedMissionConfig): { id: string; key: string }[] {
  return config.council.members.length > 0
    ? config.council.members
    : [{ id: 'orchestrator', key: config.orchestratorKey }];
}

/** The orchestrator may sign every class; configured signers only theirs. */
export function signerRegistryOf(config: ResolvedMissionConfig): SignerRegistry {
  return createSignerRegistry([
    { key: config.orchestratorKey as SignerKey, classes: ['*'], label: 'orchestrator' },
    ...config.signers
      .filter((s) => s.key !== config.orchestratorKey)
      .map((s) => ({
        key: s.key as SignerKey,
        classes: s.classes as TransitionClass[],
        label: s.label ?? s.key,
      })),
  ]);
}
