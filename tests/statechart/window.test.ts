import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE } from '../../workflows/statechart/config';
import {
  backoffMs,
  barLengthMs,
  defineSchedule,
  isOpen,
  isTransitionOpen,
  nextOpening,
  retryDelayMs,
  ScheduleError,
  windowAt,
  windowIdAt,
  type WindowSchedule,
} from '../../workflows/statechart/window';
import { WINDOW_CLASSES } from '../../schemas/statechart';

const at = (h: number, m: number, s = 0): number => Date.UTC(2025, 9, 19, h, m, s);
const S = DEFAULT_SCHEDULE;

describe('BACKBEAT window schedule', () => {
  it("derives the seed's window id from tempo and bar length (30-minute bars)", () => {
    expect(barLengthMs(S)).toBe(30 * 60_000);
    expect(windowIdAt(S, Date.UTC(2025, 9, 19, 1, 23, 45, 678))).toBe('backbeat:W-2025-10-19-02');
    expect(windowIdAt(S, at(0, 0))).toBe('backbeat:W-2025-10-19-00');
    expect(windowIdAt(S, at(23, 59, 59))).toBe('backbeat:W-2025-10-19-47');
    expect(windowIdAt(S, Date.UTC(2025, 9, 20))).toBe('backbeat:W-2025-10-20-00');
  });

  it('splits each bar into PLAN, WORK, REVIEW and REVERB by the phase fractions', () => {
    // fractions 0.2 / 0.5 / 0.2 / 0.1 of 30 minutes: 6 / 15 / 6 / 3 minutes
    expect(windowAt(S, at(1, 0)).phase).toBe('PLAN');
    expect(windowAt(S, at(1, 5, 59)).phase).toBe('PLAN');
    expect(windowAt(S, at(1, 6)).phase).toBe('WORK');
    expect(windowAt(S, at(1, 20, 59)).phase).toBe('WORK');
    expect(windowAt(S, at(1, 21)).phase).toBe('REVIEW');
    expect(windowAt(S, at(1, 27)).phase).toBe('REVERB');
    expect(windowAt(S, at(1, 29, 59)).phase).toBe('REVERB');
    const w = windowAt(S, at(1, 22));
    expect(w).toMatchObject({
      start: at(1, 0),
      end: at(1, 30),
      phaseStart: at(1, 21),
      phaseEnd: at(1, 27),
      opens: 'review',
    });
  });

  it('opens exactly one window class at any instant', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), (t) => {
        expect(WINDOW_CLASSES.filter((c) => isOpen(S, c, t))).toHaveLength(1);
      }),
    );
  });

  it('finds the next opening of a class, and it is open there and not before', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.constantFrom(...WINDOW_CLASSES),
        (t, cls) => {
          const opens = nextOpening(S, cls, t);
          expect(opens).toBeGreaterThanOrEqual(t);
          expect(isOpen(S, cls, opens)).toBe(true);
          if (opens > t) {
            expect(isOpen(S, cls, opens - 1)).toBe(false);
            expect(isOpen(S, cls, t)).toBe(false);
          }
        },
      ),
    );
  });

  it('is a pure function of schedule and time', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), (t) => {
        expect(windowAt(S, t)).toEqual(windowAt(defineSchedule({ ...S }), t));
      }),
    );
  });

  it('cuts the last bar of a day short at midnight when bars do not divide the day', () => {
    const seven = defineSchedule({ ...S, tempoBpm: 1, barBeats: 7 }); // 7-minute bars
    const lastStart = Date.UTC(2025, 9, 19) + 205 * 7 * 60_000; // bar 205 starts 23:55
    const w = windowAt(seven, lastStart + 1000);
    expect(w.index).toBe(205);
    expect(w.end).toBe(Date.UTC(2025, 9, 20));
    expect(windowAt(seven, Date.UTC(2025, 9, 20)).id).toBe('backbeat:W-2025-10-20-00');
    // Every class still has a next opening, even past a truncated bar.
    for (const cls of WINDOW_CLASSES)
      expect(isOpen(seven, cls, nextOpening(seven, cls, lastStart))).toBe(true);
  });

  it('answers per transition: gated ones follow their window (approvals the review window), others are always open', () => {
    const work = at(1, 7);
    const review = at(1, 22);
    expect(isTransitionOpen(S, 'Execution_Work', work)).toBe(true);
    expect(isTransitionOpen(S, 'Execution_Review', work)).toBe(false);
    expect(isTransitionOpen(S, 'Execution_Approve', work)).toBe(false);
    expect(isTransitionOpen(S, 'Execution_Approve', review)).toBe(true);
    expect(isTransitionOpen(S, 'Execution_Replan', review)).toBe(true);
    expect(isTransitionOpen(S, 'Control_Pause', work)).toBe(true);
  });

  it('refuses schedules that cannot define windows', () => {
    const bad: Partial<WindowSchedule>[] = [
      { tempoBpm: 0 },
      { barBeats: -1 },
      { phases: { PLAN: 0.5, WORK: 0.5, REVIEW: 0.2, REVERB: 0.1 } },
      { phases: { PLAN: 0, WORK: 0.8, REVIEW: 0.1, REVERB: 0.1 } },
      { amplitude: 1.5 },
      { name: 'Back Beat' },
      { backoffBaseMs: 0 },
      { backoffMaxMs: 10 },
      { tempoBpm: 0.001 },
    ];
    for (const patch of bad)
      expect(() => defineSchedule({ ...S, ...patch }), JSON.stringify(patch)).toThrow(ScheduleError);
  });
});

describe('amplitude-scaled backoff', () => {
  it('grows exponentially to the cap and scales by 1 + amplitude', () => {
    const calm = defineSchedule({ ...S, amplitude: 0 });
    const pressed = defineSchedule({ ...S, amplitude: 1 });
    expect([0, 1, 2, 3].map((n) => backoffMs(calm, n))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(calm, 20)).toBe(60_000);
    expect(backoffMs(pressed, 2)).toBe(8000);
    expect(backoffMs(pressed, 40)).toBe(120_000);
    expect(backoffMs(S, 0)).toBe(1250);
  });

  it('never decreases with pressure or with attempts', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(backoffMs(defineSchedule({ ...S, amplitude: hi }), n)).toBeGreaterThanOrEqual(
            backoffMs(defineSchedule({ ...S, amplitude: lo }), n),
          );
          expect(backoffMs(S, n + 1)).toBeGreaterThanOrEqual(backoffMs(S, n));
        },
      ),
    );
  });

  it('waits for the window of a time-gated transition rather than retrying into a closed one', () => {
    const t = at(1, 7); // WORK phase
    expect(retryDelayMs(S, 'review', 0, t)).toBe(at(1, 21) - t);
    expect(retryDelayMs(S, 'work', 0, t)).toBe(backoffMs(S, 0));
    expect(retryDelayMs(S, null, 3, t)).toBe(backoffMs(S, 3));
  });
});
