import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalHlc,
  civilFromDays,
  compareHlc,
  compareOrder,
  daysFromCivil,
  formatHlc,
  hlcReceive,
  hlcSend,
  parseHlc,
  tryParseHlc,
  HlcFormatError,
  type Hlc,
} from '../../schemas/hlc';

const MAX_WALL = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const hlcArb = fc.record({
  wall: fc.integer({ min: 0, max: MAX_WALL - 10_000_000 }),
  counter: fc.nat({ max: 1_000_000 }),
});

describe('HLC text form', () => {
  it("parses the seed's example and formats it back", () => {
    const hlc = parseHlc('2025-10-19T01:23:45.678+00:00#1234');
    expect(hlc).toEqual({ wall: Date.UTC(2025, 9, 19, 1, 23, 45, 678), counter: 1234 });
    expect(formatHlc(hlc)).toBe('2025-10-19T01:23:45.678+00:00#1234');
  });

  it('round-trips every representable HLC', () => {
    fc.assert(
      fc.property(hlcArb, (hlc) => {
        expect(parseHlc(formatHlc(hlc))).toEqual(hlc);
      }),
    );
  });

  it('agrees with Date on the calendar for any instant', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_WALL }), (wall) => {
        expect(formatHlc({ wall, counter: 0 })).toBe(
          `${new Date(wall).toISOString().replace('Z', '+00:00')}#0`,
        );
      }),
    );
  });

  it('normalises offsets to UTC, so one instant has one canonical spelling', () => {
    const utc = parseHlc('2025-10-19T01:23:45.678+00:00#7');
    expect(parseHlc('2025-10-19T03:23:45.678+02:00#7')).toEqual(utc);
    expect(parseHlc('2025-10-18T20:53:45.678-04:30#7')).toEqual(utc);
    expect(parseHlc('2025-10-19T01:23:45.678Z#7')).toEqual(utc);
  });

  it('canonicalHlc gives what formatting the parsed instant gives, for any accepted spelling', () => {
    const spelling = fc.record({
      hlc: hlcArb,
      offset: fc.constantFrom('+00:00', '-00:00', 'Z', '+02:00', '-04:30', '+00:01'),
      zeros: fc.nat({ max: 2 }),
    });
    fc.assert(
      fc.property(spelling, ({ hlc, offset, zeros }) => {
        const utc = formatHlc(hlc);
        const [stamp, counter] = utc.split('#') as [string, string];
        const local = offset.startsWith('+00:00') ? stamp : shiftedStamp(hlc.wall, offset);
        const text = `${local}#${'0'.repeat(zeros)}${counter}`;
        expect(canonicalHlc(text)).toBe(formatHlc(parseHlc(text)));
        expect(canonicalHlc(text)).toBe(utc);
      }),
    );
    expect(canonicalHlc('2025-10-19T01:23:45.678+00:00#x')).toBeNull();
    expect(canonicalHlc('2025-04-31T01:23:45.678+00:00#1')).toBeNull();
  });

  it('reads text exactly as the grammar says, on valid stamps and on every kind of near miss', () => {
    const valid = fc
      .record({
        hlc: fc.record({
          wall: hlcArb.map((h) => h.wall),
          // Up to 16 digits: the grammar allows 15.
          counter: fc.oneof(
            fc.nat({ max: 1_000_000 }),
            fc.integer({ min: 1e13, max: Number.MAX_SAFE_INTEGER }),
          ),
        }),
        offset: fc.constantFrom('+00:00', '-00:00', 'Z', '+02:00', '-04:30', '+23:59'),
      })
      .map(({ hlc, offset }) => formatHlc(hlc).replace('+00:00', offset));
    const edit = fc.record({
      at: fc.nat({ max: 40 }),
      kind: fc.constantFrom('replace', 'insert', 'delete'),
      char: fc.constantFrom(...'0123456789-:.+#TZz /\u0660x'.split(''), '', '99', '#1', '12345678'),
    });
    const text = fc.tuple(valid, fc.array(edit, { maxLength: 3 })).map(([stamp, edits]) =>
      edits.reduce((t, { at, kind, char }) => {
        const i = Math.min(at, t.length);
        if (kind === 'insert') return t.slice(0, i) + char + t.slice(i);
        if (kind === 'delete') return t.slice(0, i) + t.slice(i + 1);
        return t.slice(0, i) + char + t.slice(i + 1);
      }, stamp),
    );
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ maxLength: 40 })), (t) => {
        expect(tryParseHlc(t)).toEqual(grammarHlc(t));
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['no counter', '2025-10-19T01:23:45.678+00:00'],
    ['no offset', '2025-10-19T01:23:45.678#1'],
    ['no milliseconds', '2025-10-19T01:23:45+00:00#1'],
    ['month 13', '2025-13-19T01:23:45.678+00:00#1'],
    ['31 April', '2025-04-31T01:23:45.678+00:00#1'],
    ['29 February in a common year', '2025-02-29T01:23:45.678+00:00#1'],
    ['hour 24', '2025-10-19T24:00:00.000+00:00#1'],
    ['a leap second', '2025-10-19T23:59:60.000+00:00#1'],
    ['offset minutes 60', '2025-10-19T01:23:45.678+01:60#1'],
    ['a negative counter', '2025-10-19T01:23:45.678+00:00#-1'],
    ['before the Unix epoch', '1969-12-31T23:59:59.999+00:00#0'],
    ['trailing text', '2025-10-19T01:23:45.678+00:00#1 '],
  ])('refuses %s', (_label, text) => {
    expect(tryParseHlc(text)).toBeNull();
    expect(() => parseHlc(text)).toThrow(HlcFormatError);
  });

  it('accepts 29 February in a leap year', () => {
    expect(tryParseHlc('2024-02-29T00:00:00.000+00:00#0')).not.toBeNull();
  });

  it('converts days and civil dates both ways', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1_000_000, max: 2_900_000 }), (days) => {
        const { year, month, day } = civilFromDays(days);
        expect(daysFromCivil(year, month, day)).toBe(days);
      }),
    );
  });
});

describe('HLC clock', () => {
  it('send never goes backwards and follows the physical clock when it is ahead', () => {
    fc.assert(
      fc.property(hlcArb, fc.integer({ min: 0, max: MAX_WALL - 10_000_000 }), (last, now) => {
        const next = hlcSend(last, now);
        expect(compareHlc(next, last)).toBeGreaterThan(0);
        expect(next.wall).toBe(Math.max(last.wall, now));
      }),
    );
  });

  it('receive is after both the local and the remote clock', () => {
    fc.assert(
      fc.property(
        hlcArb,
        hlcArb,
        fc.integer({ min: 0, max: MAX_WALL - 10_000_000 }),
        (local, remote, now) => {
          const next = hlcReceive(local, remote, now);
          expect(compareHlc(next, local)).toBeGreaterThan(0);
          expect(compareHlc(next, remote)).toBeGreaterThan(0);
          expect(next.wall).toBe(Math.max(local.wall, remote.wall, now));
        },
      ),
    );
  });

  it('receive resets the counter when the physical clock is strictly ahead', () => {
    expect(hlcReceive({ wall: 10, counter: 5 }, { wall: 20, counter: 9 }, 30)).toEqual({
      wall: 30,
      counter: 0,
    });
    expect(hlcReceive({ wall: 20, counter: 5 }, { wall: 20, counter: 9 }, 10)).toEqual({
      wall: 20,
      counter: 10,
    });
    expect(hlcReceive({ wall: 20, counter: 5 }, { wall: 10, counter: 9 }, 10)).toEqual({
      wall: 20,
      counter: 6,
    });
    expect(hlcReceive({ wall: 10, counter: 5 }, { wall: 20, counter: 9 }, 10)).toEqual({
      wall: 20,
      counter: 10,
    });
  });

  it('compares by physical time first, then counter', () => {
    const a: Hlc = { wall: 1, counter: 9 };
    const b: Hlc = { wall: 2, counter: 0 };
    expect(compareHlc(a, b)).toBeLessThan(0);
    expect(compareHlc(b, a)).toBeGreaterThan(0);
    expect(compareHlc({ wall: 2, counter: 1 }, b)).toBeGreaterThan(0);
    expect(compareHlc(b, { ...b })).toBe(0);
  });

  it('breaks HLC ties by signer, then idem_key, giving a total order', () => {
    const hlc = { wall: 5, counter: 1 };
    expect(
      compareOrder({ hlc, signer: 'ed25519:A', idem_key: 'z' }, { hlc, signer: 'ed25519:B', idem_key: 'a' }),
    ).toBeLessThan(0);
    expect(
      compareOrder({ hlc, signer: 'ed25519:B', idem_key: 'a' }, { hlc, signer: 'ed25519:B', idem_key: 'b' }),
    ).toBeLessThan(0);
    expect(
      compareOrder(
        { hlc: { wall: 4, counter: 9 }, signer: 'z', idem_key: 'z' },
        { hlc, signer: 'a', idem_key: 'a' },
      ),
    ).toBeLessThan(0);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ hlc: hlcArb, signer: fc.constantFrom('a', 'b'), idem_key: fc.constantFrom('x', 'y') }),
          {
            minLength: 2,
            maxLength: 20,
          },
        ),
        (keys) => {
          const sorted = [...keys].sort(compareOrder);
          for (let i = 1; i < sorted.length; i++)
            expect(compareOrder(sorted[i - 1]!, sorted[i]!)).toBeLessThanOrEqual(0);
          expect([...keys].reverse().sort(compareOrder)).toEqual(sorted);
        },
      ),
    );
  });
});

/** `wall` written in the local time of `offset` (`Z`, or `±HH:MM`), the spelling an HLC may arrive in. */
function shiftedStamp(wall: number, offset: string): string {
  if (offset === 'Z') return new Date(wall).toISOString();
  const minutes =
    (offset[0] === '-' ? -1 : 1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  return new Date(wall + minutes * 60_000).toISOString().replace('Z', offset);
}

/**
 * The HLC grammar as a regular expression with the same checks, the way `tryParseHlc` was first
 * written: the position-by-position reader must agree with it on every input.
 */
function grammarHlc(text: string): Hlc | null {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})(?:([+-])(\d{2}):(\d{2})|Z)#(\d{1,15})$/.exec(
      text,
    );
  if (!m) return null;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, ms = 0] = m.slice(1, 8).map(Number);
  const [sign, oh, om, counter] = [m[8], Number(m[9]), Number(m[10]), Number(m[11])];
  const monthEnd = new Date(0);
  monthEnd.setUTCFullYear(year, month, 0);
  const lastDay = monthEnd.getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > lastDay) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  if (sign !== undefined && (oh > 23 || om > 59)) return null;
  const offset = sign === undefined ? 0 : (sign === '+' ? 1 : -1) * (oh * 60 + om);
  const stamp = new Date(0);
  stamp.setUTCFullYear(year, month - 1, day);
  stamp.setUTCHours(hour, minute - offset, second, ms);
  const wall = stamp.getTime();
  if (wall < 0 || wall > MAX_WALL) return null;
  return { wall, counter };
}
