/**
 * Owner commands (issue 6) on a running mission: pause and resume go the statechart's path
 * (Control_Pause / Control_Resume, the actor in the reason); reroute and latency change what the
 * next agent jobs and activities are scheduled with. Each command, applied or refused, becomes an
 * owner record in the decision ledger with its actor and reason, numbered apart from statechart
 * decisions so the two can never collide.
 */
import { hashCanonical } from '../../schemas/hash';
import { formatHlc, hlcSend, parseHlc } from '../../schemas/hlc';
import {
  DEFAULT_LATENCY_BUDGETS,
  LATENCY_CLASSES,
  OWNER_CONTROL_HISTORY,
  OWNER_CONTROL_TRANSITIONS,
  type AppliedOwnerControl,
  type MissionControls,
  type OwnerControlCommand,
} from '../../schemas/owner-controls';
import { decisionId } from '../../schemas/decision-id';
import { decidedAt } from '../../schemas/decision-record';
import { windowIdAt } from '../statechart';
import { localLedger } from './activities';
import type { MissionEngine } from './engine';

/**
 * Owner records share the decision ledger with statechart decisions, whose record ids derive from
 * (workflow id, seq); owner records number from here so the two sequences can never collide.
 */
export const OWNER_RECORD_SEQ_BASE = 2 ** 40;
/** Owner commands are unsigned: their actor is as reported by the sender, which is not verified. */
export const ACTOR_AS_REPORTED = 'actor as reported by the gateway; owner commands are not signed';

/** Owner controls in force, with the count of owner records written (it numbers the next one). */
export type HeldControls = MissionControls & { recorded: number };

/** What a mission starts with before any owner command. */
export function initialControls(): HeldControls {
  return { agentTaskQueue: null, latency: { ...DEFAULT_LATENCY_BUDGETS }, applied: [], recorded: 0 };
}

/** What the state query reports about owner controls. */
export function controlsView(controls: HeldControls): MissionControls {
  const { agentTaskQueue, latency, applied } = controls;
  return { agentTaskQueue, latency: { ...latency }, applied: [...applied] };
}

/**
 * Applies an owner command to future work and records it in the decision ledger with its actor
 * and reason, under the engine's mutex. A command id seen before (a retried batch) is ignored.
 */
export function applyOwnerControl(m: MissionEngine, cmd: OwnerControlCommand): Promise<void> {
  return m.exclusive(async () => {
    if (m.controls.applied.some((a) => a.id === cmd.id)) return;
    const pre = m.hash;
    const evidence: string[] = [];
    let applied = true;
    let detail: string;
    if (cmd.action === 'pause' || cmd.action === 'resume') {
      const transition = cmd.action === 'pause' ? 'Control_Pause' : 'Control_Resume';
      const r = await m.takeLocked(transition, { reason: `${cmd.actor}: ${cmd.reason}`.slice(0, 1024) });
      applied = r.accepted;
      if (r.accepted) {
        evidence.push(decisionId(r.decision));
        detail = `${transition}: control is ${m.state.control.phase}`;
      } else detail = `${transition} refused by ${r.failing_guard}: ${r.reasons.join('; ')}`;
    } else if (cmd.action === 'reroute') {
      const before = m.controls.agentTaskQueue;
      m.controls = { ...m.controls, agentTaskQueue: cmd.taskQueue };
      detail = `agent task queue ${before ?? '(mission queue)'} -> ${cmd.taskQueue ?? '(mission queue)'}`;
    } else {
      const before = m.controls.latency;
      m.controls = { ...m.controls, latency: { ...before, ...cmd.budgets } };
      detail = LATENCY_CLASSES.filter((c) => cmd.budgets[c] !== undefined)
        .map((c) => `${c} ${before[c]}s -> ${cmd.budgets[c]}s`)
        .join(', ');
    }
    const now = Date.now();
    const seq = OWNER_RECORD_SEQ_BASE + m.controls.recorded;
    const transition = OWNER_CONTROL_TRANSITIONS[cmd.action];
    const record = decisionId({ mission: m.missionId, region: 'control', transition, seq });
    const entry: AppliedOwnerControl = {
      id: cmd.id,
      action: cmd.action,
      actor: cmd.actor,
      reason: cmd.reason,
      at_ms: now,
      applied,
      detail,
      record,
    };
    m.controls = {
      ...m.controls,
      recorded: m.controls.recorded + 1,
      applied: [...m.controls.applied, entry].slice(-OWNER_CONTROL_HISTORY),
    };
    const last = m.state.hlc_last === null ? { wall: 0, counter: 0 } : parseHlc(m.state.hlc_last);
    await localLedger(`record ${transition} by ${cmd.actor}`).recordDecision({
      mission: m.missionId,
      seq,
      region: 'control',
      transition,
      proposal_signature: null,
      pre_state_hash: pre,
      post_state_hash: m.hash,
      inputs_hash: hashCanonical(cmd),
      signer: m.config.orchestratorKey,
      signature_verified: false,
      idem_key: `owner:${cmd.id}`,
      hlc: formatHlc(hlcSend(last, now)),
      window_id: windowIdAt(m.machine.schedule, now),
      evidence,
      guards: [
        {
          guard: 'owner-control',
          ok: applied,
          // The actor is what the sender says (the gateway: the caller's token name); an owner
          // command carries no signature yet, so the record says so (docs/api.md, trust boundary).
          reasons: [`actor: ${cmd.actor}`, `reason: ${cmd.reason}`, detail, ACTOR_AS_REPORTED],
        },
      ],
      decided_at: decidedAt(now),
    });
  });
}
