/**
 * The pure statechart core of SWOOSH (SPEC §2–§4, §10). Sandbox-safe: no Node built-ins, no clock
 * reads, no randomness; time and I/O verdicts come in as arguments. Workflows import from here.
 */
export * from './definition';
export { canonicalJson, CanonicalJsonError, type JsonValue } from './canonical';
export { hashCanonical, sha256Text, isSha256, toHex, SHA256_PREFIX, type Sha256 } from './hash';
export { base64Decode, base64Encode } from './base64';
export {
  compareHlc,
  compareOrder,
  formatHlc,
  formatInstant,
  hlcReceive,
  hlcSend,
  parseHlc,
  tryParseHlc,
  HlcFormatError,
  type Hlc,
  type OrderKey,
} from './hlc';
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
export { INPUT_SCHEMAS, parseInputs, ToolStatusSchema, type InputOf } from './inputs';
export { VoteSchema, type Vote } from '../../schemas/proposal';
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
  GuardIOSchema,
  LicenceVerdictSchema,
  PolicyVerdictSchema,
  type Escalation,
  type Guard,
  type GuardInputs,
  type GuardIO,
  type GuardOutcome,
  type GuardResult,
  type LicenceVerdict,
  type PolicyVerdict,
} from './guards';
export {
  proposalSigningBytes,
  publicKeyOf,
  signDetached,
  signerKeyFromPublicKey,
  signProposal,
  signVote,
  verifyDetached,
  verifyProposalSignature,
  voteSigningBytes,
  type SignerKey,
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
  decisionId,
  PROTOCOL_STAGES,
  type Accepted,
  type ApplyContext,
  type ApplyResult,
  type DecisionDraft,
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
