/**
 * BACKBEAT / tidal windows (docs/design.md#guards). Time is cut into bars whose length follows from the tempo
 * (beats per minute) and the bar length (beats per bar); every bar is split into PLAN, WORK,
 * REVIEW and REVERB phases by fixed fractions, and each phase opens one window class. Bars are
 * numbered within each UTC day, which gives window ids like `backbeat:W-2025-10-19-02` that mean
 * the same to every replica; a bar that would cross midnight is cut short there.
 *
 * Everything is a pure function of the schedule and a time in milliseconds passed in by the
 * caller: the workflow passes its deterministic clock, tests pass whatever instant they need.
 */
import { TRANSITIONS, type TransitionName, type WindowClass } from '../../schemas/statechart';
import { scheduleBarLengthMs, scheduleProblems } from '../../schemas/mission-config';
import { utcDate } from '../../schemas/hlc';

export const PHASES = ['PLAN', 'WORK', 'REVIEW', 'REVERB'] as const;
export type Phase = (typeof PHASES)[number];

/** Which window class each phase opens. */
export const PHASE_OPENS: Readonly<Record<Phase, WindowClass>> = {
  PLAN: 'plan',
  WORK: 'work',
  REVIEW: 'review',
  REVERB: 'reverb',
};

/** A BACKBEAT schedule. Validate with `defineSchedule` before use. */
export interface WindowSchedule {
  /** Prefix of window ids, e.g. `backbeat`. */
  readonly name: string;
  /** Beats per minute. */
  readonly tempoBpm: number;
  /** Beats per bar; one bar is one window. */
  readonly barBeats: number;
  /** The share of each bar given to each phase, in bar order; they sum to 1. */
  readonly phases: Readonly<Record<Phase, number>>;
  /** Pressure amplitude in [0, 1]: 0 is calm, 1 doubles every retry backoff. */
  readonly amplitude: number;
  /** First retry delay in milliseconds before amplitude scaling. */
  readonly backoffBaseMs: number;
  /** Upper bound of the exponential part of a retry delay, before amplitude scaling. */
  readonly backoffMaxMs: number;
}

/** One bar and the phase a given instant falls in. */
export interface WindowInfo {
  readonly id: string;
  /** Bar index within its UTC day. */
  readonly index: number;
  readonly start: number;
  /** Exclusive end of the bar. */
  readonly end: number;
  readonly phase: Phase;
  readonly phaseStart: number;
  readonly phaseEnd: number;
  readonly opens: WindowClass;
}

/** Raised for a schedule that cannot define windows (non-positive tempo, fractions not summing to 1…). */
export class ScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

const DAY_MS = 86_400_000;

/**
 * Validates a schedule and returns it frozen. Problems are reported here, once, as a
 * `ScheduleError`: a malformed schedule is a configuration mistake, not a reason to reject one
 * proposal, and the window functions below can then assume a sound schedule.
 */
export function defineSchedule(schedule: WindowSchedule): WindowSchedule {
  // The same checks the gateway runs on a mission's config (schemas/mission-config.ts).
  const problems = scheduleProblems(schedule).map((p) => p.message);
  if (problems.length > 0) throw new ScheduleError(`invalid window schedule: ${problems.join('; ')}`);
  return Object.freeze({ ...schedule, phases: Object.freeze({ ...schedule.phases }) });
}

/** Bar length in whole milliseconds (rounded, so window edges are integers on every machine). */
export function barLengthMs(schedule: WindowSchedule): number {
  return scheduleBarLengthMs(schedule);
}

/** The window (bar and phase) that contains instant `timeMs`. */
export function windowAt(schedule: WindowSchedule, timeMs: number): WindowInfo {
  if (!Number.isSafeInteger(timeMs) || timeMs < 0)
    throw new RangeError(`window time must be a non-negative integer ms: ${timeMs}`);
  const bar = barLengthMs(schedule);
  const dayStart = Math.floor(timeMs / DAY_MS) * DAY_MS;
  const index = Math.floor((timeMs - dayStart) / bar);
  const start = dayStart + index * bar;
  const end = Math.min(start + bar, dayStart + DAY_MS);
  const length = end - start;
  let acc = 0;
  let phaseStart = start;
  for (let i = 0; i < PHASES.length; i++) {
    const phase = PHASES[i]!;
    acc += schedule.phases[phase];
    // Rounded, not floored: 0.2 + 0.5 + 0.2 is 0.8999999999999999 in binary floating point, and
    // flooring would move a phase edge by a millisecond. The last phase always ends at the bar's end.
    const phaseEnd = i === PHASES.length - 1 ? end : start + Math.round(acc * length);
    if (timeMs < phaseEnd) {
      return {
        id: `${schedule.name}:W-${utcDate(start)}-${String(index).padStart(2, '0')}`,
        index,
        start,
        end,
        phase,
        phaseStart,
        phaseEnd,
        opens: PHASE_OPENS[phase],
      };
    }
    phaseStart = phaseEnd;
  }
  // Unreachable: the last phase ends at `end` and timeMs < end.
  throw new RangeError(`no phase contains ${timeMs}`);
}

/** The window id of instant `timeMs`. */
export function windowIdAt(schedule: WindowSchedule, timeMs: number): string {
  return windowAt(schedule, timeMs).id;
}

/**
 * Whether window class `windowClass` is open at `timeMs`. Time-gated transitions (REVIEW and REVERB
 * among them) call this through the `window` guard; a transition without a window class is never
 * gated, so this function is only asked about the four window classes.
 */
export function isOpen(schedule: WindowSchedule, windowClass: WindowClass, timeMs: number): boolean {
  return windowAt(schedule, timeMs).opens === windowClass;
}

/**
 * Whether transition `name` may run at `timeMs` as far as windows go: its window class is open, or
 * it has none. Workflows use this to decide whether to propose now or wait (see `retryDelayMs`).
 */
export function isTransitionOpen(schedule: WindowSchedule, name: TransitionName, timeMs: number): boolean {
  const cls = TRANSITIONS[name].window;
  return cls === null || isOpen(schedule, cls, timeMs);
}

/**
 * The earliest instant at or after `timeMs` when `windowClass` is open. A bar cut short at midnight
 * can squeeze a phase to nothing, so the search walks forward bar by bar (a bounded number of bars:
 * every full bar contains every phase).
 */
export function nextOpening(schedule: WindowSchedule, windowClass: WindowClass, timeMs: number): number {
  let t = timeMs;
  for (let guard = 0; guard < 8; guard++) {
    const w = windowAt(schedule, t);
    if (w.opens === windowClass) return t;
    const target = PHASES.indexOf(phaseOpening(windowClass));
    const current = PHASES.indexOf(w.phase);
    if (target > current) {
      // Skip ahead phase by phase inside this bar.
      t = w.phaseEnd;
    } else {
      t = w.end;
    }
  }
  throw new RangeError(`window class ${windowClass} never opens near ${timeMs}`);
}

function phaseOpening(windowClass: WindowClass): Phase {
  for (const phase of PHASES) if (PHASE_OPENS[phase] === windowClass) return phase;
  throw new RangeError(`unknown window class ${windowClass}`);
}

/**
 * Retry backoff for attempt `attempt` (0-based): exponential from `backoffBaseMs`, capped at
 * `backoffMaxMs`, then scaled by `1 + amplitude`. Under pressure (high amplitude) callers back off
 * further, which sheds load instead of piling retries onto a busy system.
 */
export function backoffMs(schedule: WindowSchedule, attempt: number): number {
  const n = Math.max(0, Math.floor(attempt));
  const exp = Math.min(schedule.backoffMaxMs, schedule.backoffBaseMs * 2 ** Math.min(n, 52));
  return Math.round(exp * (1 + schedule.amplitude));
}

/**
 * How long to wait before retrying a transition of window class `windowClass` (or null for an
 * ungated transition): the amplitude-scaled backoff, or longer if the window only opens later —
 * retrying a REVIEW before the REVIEW window opens can only be rejected again.
 */
export function retryDelayMs(
  schedule: WindowSchedule,
  windowClass: WindowClass | null,
  attempt: number,
  timeMs: number,
): number {
  const backoff = backoffMs(schedule, attempt);
  if (windowClass === null) return backoff;
  return Math.max(backoff, nextOpening(schedule, windowClass, timeMs + backoff) - timeMs);
}
