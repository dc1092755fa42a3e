/** Ledger entries for ledger tests and the crash-test child process. */
import type { LegacyDecisionDraft } from '../../../activities/ledger';
import type {
  AgentDeploymentEntry,
  DecisionDraft,
  DecisionEntry,
  TimerClosedEntry,
} from '../../../schemas/decision-record';
import type { AgentLifecycleEvent } from '../../../schemas/evidence';

const digest = (n: number) => `sha256-${n.toString(16).padStart(64, '0')}`;

/** A decision as a workflow drafts it and hands it to the `recordDecision` activity. */
export function decisionDraft(
  signer: string,
  seq: number,
  overrides: Partial<DecisionDraft> = {},
): DecisionDraft {
  return {
    mission: 'm-1',
    seq,
    region: 'council',
    transition: seq % 2 === 0 ? 'Council_Elect' : 'Council_QuorumCert',
    guards: [{ guard: 'quorum', ok: true, reasons: [] }],
    signer,
    proposal_signature: `${'A'.repeat(85)}Q==`,
    signature_verified: true,
    pre_state_hash: digest(seq),
    post_state_hash: digest(seq + 1),
    inputs_hash: digest(1000 + seq),
    idem_key: `goal-1:${seq}:council:uuid-${seq}`,
    hlc: `2025-10-19T01:23:45.678+00:00#${seq}`,
    window_id: 'backbeat:W-2025-10-19-02',
    evidence: [`ucxl://evidence/${seq}`],
    decided_at: new Date(Date.UTC(2025, 9, 19, 1, 23, seq)).toISOString(),
    ...overrides,
  };
}

/** The same decision as the ledger is asked to append it: the draft and the workflow that made it. */
export function decisionEntry(
  signer: string,
  seq: number,
  overrides: Partial<DecisionEntry> = {},
): DecisionEntry {
  return { ...decisionDraft(signer, seq), workflow_id: 'mission-m-1', ...overrides };
}

/**
 * The same draft as workflows sent it before it took the record's names, `id` (which the activity
 * drops) and all: old histories hold it.
 */
export function legacyDecisionDraft(signer: string, seq: number): LegacyDecisionDraft & { id: string } {
  const entry = decisionEntry(signer, seq);
  return {
    id: `ucxl://swoosh:${entry.mission}@council/${entry.transition}/${seq}`,
    seq,
    mission_id: entry.mission,
    region: 'council',
    transition: seq % 2 === 0 ? 'Council_Elect' : 'Council_QuorumCert',
    pre_hash: entry.pre_state_hash,
    post_hash: entry.post_state_hash,
    inputs_hash: entry.inputs_hash,
    signer,
    signature: entry.proposal_signature,
    signature_verified: true,
    idem_key: entry.idem_key,
    hlc: entry.hlc,
    window_id: entry.window_id,
    evidence: entry.evidence,
    guards: [{ guard: 'quorum', ok: true, reasons: [] }],
    at_ms: Date.parse(entry.decided_at),
  };
}

export function deploymentEntry(
  seq: number,
  overrides: Partial<AgentDeploymentEntry> = {},
): AgentDeploymentEntry {
  return {
    mission: 'm-1',
    workflow_id: 'mission-m-1',
    seq,
    job_id: `agent-${seq}`,
    runner: 'local',
    started_at: '2025-10-19T01:00:00.000Z',
    finished_at: '2025-10-19T01:00:10.000Z',
    outcome: 'succeeded',
    ...overrides,
  };
}

export function lifecycleEvent(
  lifecycle: AgentLifecycleEvent['lifecycle'],
  overrides: Partial<AgentLifecycleEvent> = {},
): AgentLifecycleEvent {
  return {
    agentId: 'reviewer-1',
    missionId: 'm-1',
    lifecycle,
    capabilityProfile: { role: 'reviewer', capabilities: ['read'] },
    energyBudget: { wallClockSeconds: 600 },
    timestamp: '2025-10-19T01:00:00.000Z',
    jobId: 'agent-0',
    ...overrides,
  };
}

/** A timer its shard closed, as the shard's `archiveClosedTimers` activity appends it. */
export function timerClosedEntry(n: number, overrides: Partial<TimerClosedEntry> = {}): TimerClosedEntry {
  const closedAt = new Date(Date.UTC(2026, 11, 3, 12, 0, n)).toISOString();
  return {
    mission: 'timer-shard-0',
    timer_id: `job-${n}`,
    outcome: 'Settled',
    closed_at: closedAt,
    spec_hash: digest(n),
    timer: JSON.stringify({ id: `job-${n}`, shard: 0, state: 'Settled', settledAt: closedAt }),
    ...overrides,
  };
}
