/**
 * The guard registry: one named guard per `GuardName`. Typed as a mapped type over the names, so a
 * guard named in the statechart without an implementation (or an implementation nobody names) is
 * caught — the former by the compiler, the latter by the registry test — and each guard must accept
 * the parsed inputs of every transition that names it (`GuardFor`).
 */
import { GLOBAL_GUARDS, TRANSITIONS, type GuardName, type TransitionName } from '../../../schemas/statechart';
import type { StateDocument } from '../../../schemas/state-document';
import type { MachineConfig } from '../config';
import { activeGuard, controlGuard, notQuarantinedGuard, policyScanGuard } from './common';
import {
  approvalsGuard,
  approvalUniqueGuard,
  evidenceGuard,
  nextWindowGuard,
  planCurrentGuard,
  planLockGuard,
  regionsReadyGuard,
} from './execution';
import { graceExpiredGuard, licenceGuard, licenceLapseGuard, licenceVerdictGuard } from './licence';
import {
  healthFailureGuard,
  healthGuard,
  membershipGuard,
  quarantineExitGuard,
  validationGuard,
  validationViolationGuard,
} from './lifecycle';
import { confirmedBlockGuard, policyBreachGuard, policyUpdateGuard } from './policy';
import { quorumGuard } from './quorum';
import { toolingGuard } from './tooling';
import type { Guard, GuardFor, GuardInputs, GuardResult } from './types';
import { windowGuard } from './window';

export const GUARDS: { readonly [G in GuardName]: GuardFor<G> } = {
  active: activeGuard,
  licence: licenceGuard,
  control: controlGuard,
  'not-quarantined': notQuarantinedGuard,
  'policy-scan': policyScanGuard,
  window: windowGuard,
  'licence-verdict': licenceVerdictGuard,
  'licence-lapse': licenceLapseGuard,
  'grace-expired': graceExpiredGuard,
  validation: validationGuard,
  'validation-violation': validationViolationGuard,
  'quarantine-exit': quarantineExitGuard,
  quorum: quorumGuard,
  tooling: toolingGuard,
  membership: membershipGuard,
  health: healthGuard,
  'health-failure': healthFailureGuard,
  'regions-ready': regionsReadyGuard,
  'plan-lock': planLockGuard,
  'plan-current': planCurrentGuard,
  evidence: evidenceGuard,
  'approval-unique': approvalUniqueGuard,
  approvals: approvalsGuard,
  'next-window': nextWindowGuard,
  'policy-breach': policyBreachGuard,
  'policy-update': policyUpdateGuard,
  'confirmed-block': confirmedBlockGuard,
};

/** The guards transition `name` runs, in order: the global guards, then its own. */
export function guardsOf(name: TransitionName): readonly GuardName[] {
  return [...GLOBAL_GUARDS, ...TRANSITIONS[name].guards];
}

/**
 * Evaluates guard `name` on a proposal whose inputs the protocol parsed for `gi.transition`, which
 * runs that guard (`guardsOf`). `GUARDS` types every guard for all the transitions that name it, so
 * widening it to `Guard` here cannot hand it inputs of a transition it does not know.
 */
export function evaluateGuard(
  name: GuardName,
  state: StateDocument,
  gi: GuardInputs,
  config: MachineConfig,
): GuardResult {
  return (GUARDS[name] as Guard)(state, gi, config);
}

export * from './types';
export { quorumRequired, checkQuorumCertificate } from './quorum';
export { licenceRefreshAt } from './licence';
