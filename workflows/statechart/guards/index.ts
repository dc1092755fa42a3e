/**
 * The guard registry: one named guard per `GuardName`. Typed as a mapped type over the names, so a
 * guard named in the statechart without an implementation (or an implementation nobody names) is
 * caught — the former by the compiler, the latter by the registry test.
 */
import { GLOBAL_GUARDS, TRANSITIONS, type GuardName, type TransitionName } from '../../../schemas/statechart';
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
import type { Guard } from './types';
import { windowGuard } from './window';

export const GUARDS: { readonly [G in GuardName]: Guard } = {
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

export * from './types';
export { quorumRequired, checkQuorumCertificate } from './quorum';
export { licenceRefreshAt } from './licence';
