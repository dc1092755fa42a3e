/**
 * A tiny workflow that drives the observability helpers exactly as the mission workflow will:
 * accepted transitions from an update handler (after an activity, like the decision record),
 * rejections from the update validator (so they never reach history), and the mission-level
 * gauges and histograms at the end. Bundled only by the observability tests.
 */
import { condition, defineSignal, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type { AgentOutcome } from '../../../schemas/decision-record';
import {
  observeAcceptedTransition,
  observeInvariantViolations,
  observeRecoveryTime,
  observeRejectedTransition,
  observeTimerLateness,
} from '../../../workflows/observability';
import type { FailingGuard, InvariantViolation } from '../../../workflows/statechart';
import { decidedAt, type StatechartDecisionDraft } from '../../../schemas/decision-record';
import type { GuardName, TransitionName } from '../../../schemas/statechart';
import { TRANSITIONS } from '../../../schemas/statechart';
import { sha256Text } from '../../../schemas/hash';
import type { createProbeActivities } from './probe-activities';

export interface ProbeProposal {
  transition: TransitionName;
  hlc: string;
  window_id: string;
  evidence: string[];
  retries: number;
  job: { outcome: AgentOutcome; durationMs: number };
  /** When set, the validator rejects the proposal with this guard. */
  reject?: { guard: FailingGuard; reasons: string[] };
}

export interface ProbeFinish {
  recoverySeconds: number;
  timerLatenessSeconds: number;
  timerAction: string;
  /** Reported against the last decision, as a mission's engine reports what its checker finds. */
  invariantViolations: InvariantViolation[];
}

export const probeTransitionUpdate = defineUpdate<string, [ProbeProposal]>('probeTransition');
export const probeFinishSignal = defineSignal<[ProbeFinish]>('probeFinish');

const { runProbeJob } = proxyActivities<ReturnType<typeof createProbeActivities>>({
  startToCloseTimeout: '10 seconds',
});

export async function observabilityProbeWorkflow(mission: string): Promise<number> {
  let head = sha256Text(`genesis:${mission}`);
  let seq = 0;
  let finish: ProbeFinish | undefined;
  let last: StatechartDecisionDraft | undefined;

  setHandler(
    probeTransitionUpdate,
    async (proposal) => {
      const requestedAtMs = Date.now();
      await runProbeJob(proposal.job);
      const def = TRANSITIONS[proposal.transition];
      const post = sha256Text(`${head}:${proposal.transition}`);
      const decision: StatechartDecisionDraft = {
        mission,
        seq,
        region: def.region,
        transition: proposal.transition,
        guards: def.guards.map((guard: GuardName) => ({ guard, ok: true, reasons: [`${guard} held`] })),
        signer: 'ed25519:probe',
        proposal_signature: null,
        signature_verified: false,
        pre_state_hash: head,
        post_state_hash: post,
        inputs_hash: sha256Text('{}'),
        idem_key: `${mission}:${seq}:${def.class}:probe`,
        hlc: proposal.hlc,
        window_id: proposal.window_id,
        evidence: [...proposal.evidence],
        decided_at: decidedAt(Date.now()),
      };
      head = post;
      seq += 1;
      last = decision;
      observeAcceptedTransition(decision, { requestedAtMs, retries: proposal.retries });
      return post;
    },
    {
      validator: (proposal: ProbeProposal) => {
        if (!proposal.reject) return;
        observeRejectedTransition(
          {
            accepted: false,
            rejected: true,
            failing_guard: proposal.reject.guard,
            reasons: proposal.reject.reasons,
            outcomes: [],
          },
          { mission, head, proposal },
        );
        throw new Error(`rejected by ${proposal.reject.guard}: ${proposal.reject.reasons.join('; ')}`);
      },
    },
  );
  setHandler(probeFinishSignal, (f) => {
    finish = f;
  });

  await condition(() => finish !== undefined);
  const f = finish!;
  observeRecoveryTime(f.recoverySeconds);
  observeTimerLateness(f.timerLatenessSeconds, f.timerAction);
  if (last && f.invariantViolations.length > 0) observeInvariantViolations(last, f.invariantViolations);
  return seq;
}
