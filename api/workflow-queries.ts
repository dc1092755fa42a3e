/**
 * Sends a workflow query, again if a worker refused it at a stale workflow clock
 * (workflows/stale-clock-guard.ts): that worker evicts the run, so the next attempt is answered
 * from the run replayed with the right clock. Any other failure is the caller's to handle.
 */
import { STALE_CLOCK_MESSAGE } from '../schemas/mission-messages';

const ATTEMPTS = 3;

export async function queryWorkflow<T>(query: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await query();
    } catch (error) {
      const stale = error instanceof Error && error.message.includes(STALE_CLOCK_MESSAGE);
      if (!stale || attempt === ATTEMPTS) throw error;
    }
  }
}
