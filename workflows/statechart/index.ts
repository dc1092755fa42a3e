/**
 * The pure statechart core of SWOOSH (docs/design.md). Sandbox-safe: no Node built-ins, no clock
 * reads, no randomness; time and I/O verdicts come in as arguments. Workflows import from here.
 */
export {
  backoffMs,
  barLengthMs,
  defineSchedule,
  isOpen,
  isTransitionOpen,
  nextOpening,
  retryDelayMs,
  windowAt,
  windowIdAt,
  PHASES,
  PHASE_OPENS,
  ScheduleError,
  type Phase,
  type WindowInfo,
  type WindowSchedule,
} from './window';
export { DEFAULT_CONFIG, DEFAULT_SCHEDULE, defineConfig, ConfigError, type MachineConfig } from './config';
export {
  assetsHash,
  currentPlanLock,
  DEFINITION_HASH,
  deepFreeze,
  initialState,
  memberSetHash,
  parseStateDocument,
  samePlanLock,
  stateHash,
  StateDocumentError,
  type PlanLock,
  type StateDocument,
} from './state';
export {
  HANDLERS,
  type Handler,
  type HandlerEnv,
  type TransitionEvent,
  type TransitionRegistry,
} from './handlers';
export { enabledTransitions, isEnabled, phaseOf, reduce, reduceParsed } from './reducer';
export {
  GUARDS,
  guardsOf,
  checkQuorumCertificate,
  quorumRequired,
  licenceRefreshAt,
  type Escalation,
  type Guard,
  type GuardInputs,
  type GuardOutcome,
  type GuardResult,
} from './guards';
export {
  signDetached,
  signProposal,
  signVote,
  verifyDetached,
  verifyProposalSignature,
  type Verifier,
  type VerifyResult,
} from './signing';
export { verifyDetachedLegacy } from './legacy-signing';
export { createSignerRegistry, type SignerEntry, type SignerRegistry } from './registry';
export {
  EMPTY_IDEMPOTENCY,
  lookupIdempotency,
  parseIdempotencyTable,
  recordIdempotency,
  type IdemEntry,
  type IdempotencyTable,
} from './idempotency';
export {
  applyProposal,
  applyTrustedProposal,
  applyValidatedProposal,
  buildProposal,
  PROTOCOL_STAGES,
  type Accepted,
  type ApplyContext,
  type ApplyResult,
  type Duplicate,
  type FailingGuard,
  type ProposalDraft,
  type ProtocolStage,
  type Rejected,
} from './protocol';
export {
  checkStateInvariants,
  checkStepInvariants,
  isWorkTransition,
  INVARIANTS,
  type InvariantName,
  type InvariantViolation,
} from './invariants';
