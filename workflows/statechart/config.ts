/**
 * Machine configuration: the settings guards are checked against (quorum size, window schedule,
 * licence grace, approvals required) and the bounds that keep the protocol's bookkeeping small.
 * A deployment fixes one configuration per mission; replaying a mission with a different one can
 * legitimately produce a different history, so it belongs to the mission's inputs.
 */
import { defineSchedule, type WindowSchedule } from './window';

export interface MachineConfig {
  /** Minimum valid votes for a quorum certificate; a strict majority of the set is always required too. */
  readonly quorumSize: number;
  /** The BACKBEAT schedule that gates time-gated transitions. */
  readonly schedule: WindowSchedule;
  /** How long the licence grace substate lasts before the hard stop. */
  readonly licenceGraceMs: number;
  /** Approvals needed before REVERB. */
  readonly approvalsRequired: number;
  /** How far a proposal's HLC may run ahead of the orchestrator's clock. */
  readonly hlcMaxDriftMs: number;
  /** Idempotency entries remembered per op class (oldest forgotten first). */
  readonly idempotencyCapacity: number;
}

/** 30-minute bars (120 beats at 4 bpm): the seed example `01:23:45` falls in window `-02`. */
export const DEFAULT_SCHEDULE: WindowSchedule = defineSchedule({
  name: 'backbeat',
  tempoBpm: 4,
  barBeats: 120,
  phases: { PLAN: 0.2, WORK: 0.5, REVIEW: 0.2, REVERB: 0.1 },
  amplitude: 0.25,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
});

export const DEFAULT_CONFIG: MachineConfig = Object.freeze({
  quorumSize: 3,
  schedule: DEFAULT_SCHEDULE,
  licenceGraceMs: 15 * 60_000,
  approvalsRequired: 1,
  hlcMaxDriftMs: 60_000,
  idempotencyCapacity: 128,
});

/** Raised for a configuration no mission could run under. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates a configuration (including its schedule) and returns it frozen; throws `ConfigError`
 * or `ScheduleError`. Checking once here keeps guards free of defensive code for impossible configs.
 */
export function defineConfig(overrides: Partial<MachineConfig> = {}): MachineConfig {
  const config = { ...DEFAULT_CONFIG, ...overrides };
  const problems: string[] = [];
  const positiveInt = (name: keyof MachineConfig, value: number): void => {
    if (!Number.isSafeInteger(value) || value < 1) problems.push(`${name} must be a positive integer`);
  };
  positiveInt('quorumSize', config.quorumSize);
  positiveInt('approvalsRequired', config.approvalsRequired);
  positiveInt('idempotencyCapacity', config.idempotencyCapacity);
  if (!Number.isSafeInteger(config.licenceGraceMs) || config.licenceGraceMs < 0) {
    problems.push('licenceGraceMs must be a non-negative integer');
  }
  if (!Number.isSafeInteger(config.hlcMaxDriftMs) || config.hlcMaxDriftMs < 0) {
    problems.push('hlcMaxDriftMs must be a non-negative integer');
  }
  if (problems.length > 0) throw new ConfigError(`invalid machine config: ${problems.join('; ')}`);
  return Object.freeze({ ...config, schedule: defineSchedule(config.schedule) });
}
