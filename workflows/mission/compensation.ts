/** Compensation instead of failure (docs/design.md#compensation). */
import type { MissionEngine } from './engine';

/** Takes the mission to DEGRADED with `reason`; true once it is DEGRADED (already, or now). */
export async function degrade(m: MissionEngine, reason: string): Promise<boolean> {
  if (m.state.control.phase === 'DEGRADED') return true;
  if (m.state.control.phase !== 'RUNNING') return false;
  return (await m.take('Control_Degrade', { reason: reason.slice(0, 1000) })).accepted;
}
