/**
 * Owner commands (issue 6) on a running mission: pause and resume go the statechart's path
 * (Control_Pause / Control_Resume, the actor in the reason); reroute and latency change what the
 * next agent jobs and activities are scheduled with. A command is admitted only when it is signed
 * by one of the mission's controller keys, recently, for this mission or for every mission; any
 * other owner signal is refused, changes nothing and is only listed in the state query. Each
 * admitted command, applied or not, becomes an owner record in the decision ledger with its
 * verified signer, actor and reason, numbered apart from statechart decisions so the two can never
 * collide.
 */
import { log, patched } from '@temporalio/workflow';
import { hashCanonical } from '../../schemas/hash';
import { formatHlc, hlcSend, parseHlc } from '../../schemas/hlc';
import {
  DEFAULT_LATENCY_BUDGETS,
  LATENCY_CLASSES,
  OWNER_COMMAND_MAX_AGE_MS,
  OWNER_COMMAND_MAX_SKEW_MS,
  OWNER_CONTROL_HISTORY,
  OWNER_CONTROL_TRANSITIONS,
  OWNER_REFUSAL_HISTORY,
  SignedOwnerCommand,
  type AppliedOwnerControl,
  type MissionControls,
  type OwnerCommandProof,
  type OwnerControlCommand,
  type RefusedOwnerControl,
} from '../../schemas/owner-controls';
import { decisionId } from '../../schemas/decision-id';
import { decidedAt, type DecisionDraft } from '../../schemas/decision-record';
import { ownerCommandSigningBytes } from '../../schemas/signed-bytes';
import { verifyDetached, windowIdAt } from '../statechart';
import { ownerLedger } from './activities';
import { DEFERRED_APPEND_PATCH } from './decision-appends';
import type { MissionEngine } from './engine';

/**
 * Owner records share the decision ledger with statechart decisions, whose record ids derive from
 * (workflow id, seq); owner records number from here so the two sequences can never collide.
 */
export const OWNER_RECORD_SEQ_BASE = 2 ** 40;
/** What an unsigned command's record says: nothing vouches for its actor. */
export const UNVERIFIED_UNSIGNED =
  'UNVERIFIED: unsigned, accepted because the mission started before signed owner commands; actor as the sender reports it';

/** An owner command the mission admitted, and what vouches for it. */
export interface AdmittedCommand {
  command: OwnerControlCommand;
  /** The key whose signature was verified; null for an unsigned command. */
  signer: string | null;
  /** What the record's `inputs_hash` covers: the signed envelope, or the bare command. */
  inputs: unknown;
  /** Why the command was trusted, as its ledger record says. */
  provenance: string;
  /** A signed command's claim and signatures, kept in its ledger record (absent when unsigned). */
  proof?: OwnerCommandProof;
}

export type Admission = { ok: true; admitted: AdmittedCommand } | { ok: false; refusal: RefusedOwnerControl };

/** How each signal reads an unsigned payload (only missions without controllers accept one). */
export type UnsignedReader = (
  raw: unknown,
) => { ok: true; command: OwnerControlCommand } | { ok: false; why: string };

/**
 * Decides whether an owner signal may act, from nothing but its payload, the mission's controller
 * keys (pinned at start; undefined for a mission started before signed owner commands) and the
 * workflow clock, so replay gives the same verdict. `perMission` (the `control` signal) requires
 * the command to name this mission; a batch command may name none.
 */
export function admitOwnerCommand(
  raw: unknown,
  ctx: {
    missionId: string;
    controllers: readonly string[] | undefined;
    nowMs: number;
    perMission: boolean;
    readUnsigned: UnsignedReader;
    /**
     * The halt a mission was started under (workflow.ts): part of its start input, not a signal,
     * and a halt stands until lifted, so its age is not held against it.
     */
    atStart?: boolean;
  },
): Admission {
  const refuse = (why: string): Admission => ({
    ok: false,
    refusal: { ...claimedBy(raw), at_ms: ctx.nowMs, why },
  });
  const signed = SignedOwnerCommand.safeParse(raw);
  if (!signed.success) {
    const unsigned = ctx.readUnsigned(raw);
    if (!unsigned.ok) return refuse(`does not parse: ${unsigned.why}`.slice(0, 1024));
    if (ctx.controllers !== undefined)
      return refuse('unsigned: this mission accepts only owner commands signed by one of its controllers');
    return {
      ok: true,
      admitted: {
        command: unsigned.command,
        signer: null,
        inputs: unsigned.command,
        provenance: UNVERIFIED_UNSIGNED,
      },
    };
  }
  const envelope = signed.data;
  if (envelope.mission_id === null ? ctx.perMission : envelope.mission_id !== ctx.missionId)
    return refuse(
      `signed for ${envelope.mission_id === null ? 'no particular mission' : `mission ${envelope.mission_id}`}, not for this one`,
    );
  if (ctx.controllers !== undefined && !ctx.controllers.includes(envelope.signer))
    return refuse(`signer ${envelope.signer} is not a controller of this mission`);
  const age = ctx.atStart === true ? 0 : ctx.nowMs - envelope.issued_at_ms;
  if (age > OWNER_COMMAND_MAX_AGE_MS)
    return refuse(
      `stale: issued ${Math.round(age / 1000)} s before it arrived (at most ${OWNER_COMMAND_MAX_AGE_MS / 1000} s)`,
    );
  if (-age > OWNER_COMMAND_MAX_SKEW_MS)
    return refuse(
      `issued ${Math.round(-age / 1000)} s in the future (at most ${OWNER_COMMAND_MAX_SKEW_MS / 1000} s)`,
    );
  const check = verifyDetached(ownerCommandSigningBytes(envelope), envelope.signature, envelope.signer);
  if (!check.ok) return refuse(`forged: ${check.reason}`);
  const endorsements = envelope.endorsements ?? [];
  for (const e of endorsements) {
    const endorsed = verifyDetached(ownerCommandSigningBytes(envelope), e.signature, e.signer);
    if (!endorsed.ok) return refuse(`forged endorsement by ${e.signer}: ${endorsed.reason}`);
  }
  const signedBy =
    ctx.controllers === undefined
      ? `signed by ${envelope.signer}; not checked against controllers: the mission started before signed owner commands`
      : `signed by ${envelope.signer}, a controller of this mission`;
  const { command, mission_id, issued_at_ms } = envelope;
  return {
    ok: true,
    admitted: {
      command,
      signer: envelope.signer,
      inputs: envelope,
      provenance:
        endorsements.length === 0
          ? signedBy
          : `${signedBy}; endorsed by owner key(s) ${endorsements.map((e) => e.signer).join(', ')}`,
      proof: {
        command,
        mission_id,
        issued_at_ms,
        signatures: [{ signer: envelope.signer, signature: envelope.signature }, ...endorsements],
      },
    },
  };
}

/** What a refused signal claimed to be, cut to length; none of it is trusted. */
function claimedBy(raw: unknown): Omit<RefusedOwnerControl, 'at_ms' | 'why'> {
  const record = (v: unknown): Record<string, unknown> =>
    typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  const text = (v: unknown): string | null => (typeof v === 'string' ? v.slice(0, 200) : null);
  const outer = record(raw);
  const command = 'command' in outer ? record(outer.command) : outer;
  return {
    id: text(command.id),
    action: text(command.action),
    actor: text(command.actor),
    signer: text(outer.signer),
  };
}

/** Lists a refused owner signal in the state query; nothing else changes. */
export function refuseOwnerCommand(m: MissionEngine, refusal: RefusedOwnerControl): void {
  log.warn('owner command refused', { id: refusal.id, signer: refusal.signer, why: refusal.why });
  m.controls = {
    ...m.controls,
    refused: [...(m.controls.refused ?? []), refusal].slice(-OWNER_REFUSAL_HISTORY),
  };
}

/** Owner controls in force, with the count of owner records written (it numbers the next one). */
export type HeldControls = MissionControls & { recorded: number };

/** What a mission starts with before any owner command. */
export function initialControls(): HeldControls {
  return {
    agentTaskQueue: null,
    latency: { ...DEFAULT_LATENCY_BUDGETS },
    applied: [],
    refused: [],
    recorded: 0,
  };
}

/** What the state query reports about owner controls. */
export function controlsView(controls: HeldControls): MissionControls {
  const { agentTaskQueue, latency, applied, refused } = controls;
  return { agentTaskQueue, latency: { ...latency }, applied: [...applied], refused: [...(refused ?? [])] };
}

/**
 * Applies an admitted owner command to future work and records it in the decision ledger with
 * its signer, actor and reason, under the engine's mutex. A command id seen before (a retried
 * batch) is ignored.
 */
export function applyOwnerControl(m: MissionEngine, admitted: AdmittedCommand): Promise<void> {
  const cmd = admitted.command;
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
      signer: admitted.signer,
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
    const draft: DecisionDraft = {
      mission: m.missionId,
      seq,
      region: 'control',
      transition,
      proposal_signature: null,
      pre_state_hash: pre,
      post_state_hash: m.hash,
      inputs_hash: hashCanonical(admitted.inputs),
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
          // The signer vouches for the actor (the gateway signs its caller's token name); an
          // unsigned command's record says nothing does (docs/api.md, trust boundary).
          reasons: [`actor: ${cmd.actor}`, `reason: ${cmd.reason}`, detail, admitted.provenance],
        },
      ],
      decided_at: decidedAt(now),
      ...(admitted.proof && { owner_command: admitted.proof }),
    };
    if (patched(DEFERRED_APPEND_PATCH)) m.appends.push(draft);
    else await ownerLedger(`record ${transition} by ${cmd.actor}`).recordDecision(draft);
  });
}
