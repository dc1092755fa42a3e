/**
 * The BACKBEAT window guard: a time-gated transition runs only while its window class is open, and
 * its proposal must name the current window. REVIEW and REVERB therefore happen only inside their
 * windows (docs/design.md#what-must-always-hold), and a proposal prepared for one window cannot land in the next.
 */
import { TRANSITIONS } from '../../../schemas/statechart';
import { formatInstant } from '../../../schemas/hlc';
import { nextOpening, windowAt } from '../window';
import { PASS, verdict, type Guard } from './types';

export const windowGuard: Guard = (_state, gi, config) => {
  const cls = TRANSITIONS[gi.transition].window;
  if (cls === null) return PASS;
  const w = windowAt(config.schedule, gi.now);
  const reasons: string[] = [];
  if (w.opens !== cls) {
    const opens = nextOpening(config.schedule, cls, gi.now);
    reasons.push(
      `window '${cls}' is closed: ${w.id} is in ${w.phase} until ${formatInstant(w.phaseEnd)}; '${cls}' opens at ${formatInstant(opens)}`,
    );
  }
  if (gi.window_id !== w.id) reasons.push(`window_id ${gi.window_id} is not the current window ${w.id}`);
  return verdict(reasons);
};
