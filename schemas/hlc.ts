/**
 * Hybrid Logical Clock (Kulkarni et al.) in the seed's textual form
 * `2025-10-19T01:23:45.678+00:00#1234`: an ISO-8601 instant with millisecond precision and an
 * explicit offset, then `#` and a logical counter.
 *
 * Transitions are ordered by HLC rather than by wall clock alone so that proposals from several
 * machines with skewed clocks still form one total order that respects causality. Calendar
 * arithmetic is done by hand (days-from-civil) instead of through `Date`, so nothing here can read
 * the clock by accident and results never depend on the host's time zone.
 */

/** A parsed HLC: physical component in Unix milliseconds (UTC) and logical counter. */
export interface Hlc {
  readonly wall: number;
  readonly counter: number;
}

/** Raised by `parseHlc` for text that is not a valid HLC. */
export class HlcFormatError extends Error {
  constructor(readonly text: string) {
    super(`not an HLC timestamp: ${JSON.stringify(text)}`);
    this.name = 'HlcFormatError';
  }
}

const DAY_MS = 86_400_000;
/** Year 9999 is the largest the four-digit ISO form can carry. */
const MAX_WALL = daysFromCivil(9999, 12, 31) * DAY_MS + DAY_MS - 1;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** Inverse of `daysFromCivil`. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

function daysInMonth(year: number, month: number): number {
  return (
    daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1) -
    daysFromCivil(year, month, 1)
  );
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** `YYYY-MM-DD` of the UTC day containing `wallMs`. */
export function utcDate(wallMs: number): string {
  const { year, month, day } = civilFromDays(Math.floor(wallMs / DAY_MS));
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

/**
 * Parses an HLC, or returns `null` when the text is malformed or names an impossible instant
 * (month 13, 31 April, an offset beyond ±23:59, a year outside 0000–9999 after normalising to UTC).
 */
export function tryParseHlc(text: string): Hlc | null {
  // `YYYY-MM-DDTHH:MM:SS.mmm` is fixed-width, so it is read by position: the reducer parses an HLC
  // on every transition, and a regular expression's captures cost more than the rest of the parse.
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  const ms = digitsAt(text, 20, 3);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || ms < 0) return null;
  if (
    text.charCodeAt(4) !== DASH ||
    text.charCodeAt(7) !== DASH ||
    text.charCodeAt(10) !== LETTER_T ||
    text.charCodeAt(13) !== COLON ||
    text.charCodeAt(16) !== COLON ||
    text.charCodeAt(19) !== DOT
  )
    return null;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  // Then `Z` or `±HH:MM`, `#`, and a counter of 1 to 15 digits that ends the text.
  let at = 23;
  let offsetMin = 0;
  const sign = text.charCodeAt(at);
  if (sign === LETTER_Z) at += 1;
  else if (sign === PLUS || sign === DASH) {
    const oh = digitsAt(text, at + 1, 2);
    const om = digitsAt(text, at + 4, 2);
    if (oh < 0 || om < 0 || text.charCodeAt(at + 3) !== COLON || oh > 23 || om > 59) return null;
    offsetMin = (sign === PLUS ? 1 : -1) * (oh * 60 + om);
    at += 6;
  } else return null;
  const counterDigits = text.length - at - 1;
  if (text.charCodeAt(at) !== HASH || counterDigits < 1 || counterDigits > 15) return null;
  const counter = digitsAt(text, at + 1, counterDigits);
  if (counter < 0) return null;
  const wall =
    daysFromCivil(year, month, day) * DAY_MS + ((hour * 60 + minute - offsetMin) * 60 + second) * 1000 + ms;
  if (wall < 0 || wall > MAX_WALL) return null;
  return { wall, counter };
}

const DASH = 0x2d;
const PLUS = 0x2b;
const COLON = 0x3a;
const DOT = 0x2e;
const HASH = 0x23;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;

/** The number the `count` ASCII digits at `text[at]` write, or -1 when one of them is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    // charCodeAt past the end is NaN, which fails this test too.
    if (!(digit >= 0 && digit <= 9)) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/**
 * The one UTC spelling `formatHlc` gives of the instant `text` names, or `null` when `tryParseHlc`
 * refuses it. Text already in that spelling (a `+00:00` offset, a counter without leading zeros) is
 * returned as it is: the reducer stores an HLC on every transition, and nearly all arrive spelled
 * that way, so most of them skip the formatting.
 */
export function canonicalHlc(text: string): string | null {
  const hlc = tryParseHlc(text);
  if (hlc === null) return null;
  const hash = text.length - String(hlc.counter).length - 1;
  return text.charCodeAt(hash) === HASH && text.startsWith('+00:00', hash - 6) ? text : formatHlc(hlc);
}

/** Parses an HLC; throws `HlcFormatError` on malformed text. */
export function parseHlc(text: string): Hlc {
  const hlc = tryParseHlc(text);
  if (!hlc) throw new HlcFormatError(text);
  return hlc;
}

/**
 * Formats an HLC in UTC as `YYYY-MM-DDTHH:MM:SS.mmm+00:00#counter`. Always UTC and always the
 * `+00:00` offset, so a timestamp the core writes has exactly one spelling.
 */
export function formatHlc(hlc: Hlc): string {
  if (!Number.isSafeInteger(hlc.wall) || hlc.wall < 0 || hlc.wall > MAX_WALL) {
    throw new RangeError(`HLC wall time out of range: ${hlc.wall}`);
  }
  if (!Number.isSafeInteger(hlc.counter) || hlc.counter < 0) {
    throw new RangeError(`HLC counter out of range: ${hlc.counter}`);
  }
  const days = Math.floor(hlc.wall / DAY_MS);
  let rest = hlc.wall - days * DAY_MS;
  const ms = rest % 1000;
  rest = (rest - ms) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  return `${utcDate(hlc.wall)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(ms, 3)}+00:00#${hlc.counter}`;
}

/** Orders two HLCs by physical time, then counter: negative, zero or positive like a comparator. */
export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  return 0;
}

/**
 * The HLC to stamp on a local or send event: never behind the last HLC, and at least the physical
 * clock `nowMs`. Used by proposers so that each proposal they make sorts after everything they saw.
 */
export function hlcSend(last: Hlc, nowMs: number): Hlc {
  if (nowMs > last.wall) return { wall: nowMs, counter: 0 };
  return { wall: last.wall, counter: last.counter + 1 };
}

/**
 * The HLC after receiving `remote` at physical time `nowMs`: strictly after both the local and the
 * remote clock, which is what lets causally related proposals from different machines stay in order.
 */
export function hlcReceive(local: Hlc, remote: Hlc, nowMs: number): Hlc {
  const wall = Math.max(local.wall, remote.wall, nowMs);
  if (wall === local.wall && wall === remote.wall) {
    return { wall, counter: Math.max(local.counter, remote.counter) + 1 };
  }
  if (wall === local.wall) return { wall, counter: local.counter + 1 };
  if (wall === remote.wall) return { wall, counter: remote.counter + 1 };
  return { wall, counter: 0 };
}

/** The position of an applied proposal in the total order: HLC, then signer, then idem_key. */
export interface OrderKey {
  readonly hlc: Hlc;
  readonly signer: string;
  readonly idem_key: string;
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Total order over proposals (docs/design.md#proposals): the design requires `hlc ≥` the last applied HLC with ties broken by
 * `(signer, idem_key)`: two proposals with the same HLC therefore still have a fixed order that
 * every replica computes the same way, so no replica depends on arrival order to break the tie.
 */
export function compareOrder(a: OrderKey, b: OrderKey): number {
  return compareHlc(a.hlc, b.hlc) || compareText(a.signer, b.signer) || compareText(a.idem_key, b.idem_key);
}

/** ISO-8601 UTC text of a millisecond instant, for human-readable reasons. */
export function formatInstant(wallMs: number): string {
  return formatHlc({ wall: wallMs, counter: 0 }).slice(0, -'#0'.length);
}
