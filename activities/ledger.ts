/**
 * The ledger's Temporal activities: thin wrappers over the ledger (ledger/, docs/ledger.md) that
 * take the emitting workflow's id from the activity context and turn the ledger's refusals into
 * non-retryable failures, typed for the workflow to branch on.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ZodError } from 'zod';
import { type FileLedger, LedgerConflictError, LedgerCorruptError } from '../ledger';
import type {
  AgentDeploymentEntry,
  AgentDeploymentRecord,
  AgentLifecycleRecord,
  DecisionDraft,
  DecisionEntry,
  DecisionReceipt,
} from '../schemas/decision-record';
import { type AgentLifecycleEvent, Evidence } from '../schemas/evidence';
import type { ContentStore } from './evidence-store';

export interface LedgerActivityDeps {
  ledger: FileLedger;
  evidence: ContentStore;
}

/** A statechart decision draft as a ledger entry; the emitting workflow's id makes it idempotent. */
export function decisionEntryFromDraft(draft: DecisionDraft, workflowId: string): DecisionEntry {
  return {
    mission: draft.mission_id,
    workflow_id: workflowId,
    seq: draft.seq,
    region: draft.region,
    transition: draft.transition,
    guards: draft.guards.map((g) => ({ guard: g.guard, ok: g.ok, reasons: [...g.reasons] })),
    signer: draft.signer,
    proposal_signature: draft.signature,
    signature_verified: draft.signature_verified,
    pre_state_hash: draft.pre_hash,
    post_state_hash: draft.post_hash,
    inputs_hash: draft.inputs_hash,
    idem_key: draft.idem_key,
    hlc: draft.hlc,
    window_id: draft.window_id,
    evidence: [...draft.evidence],
    decided_at: new Date(draft.at_ms).toISOString(),
  };
}

export function createLedgerActivities({ ledger, evidence }: LedgerActivityDeps) {
  return {
    /**
     * Records an accepted transition's decision (docs/lifecycle.md); safe to retry. The record id
     * derives from the calling workflow's id and the decision's seq, taken from the activity
     * context. Answers a receipt, not the record, to keep the mission's history small.
     */
    recordDecision: (draft: DecisionDraft): Promise<DecisionReceipt> =>
      asActivityFailure(async () => {
        const workflowId = Context.current().info.workflowExecution?.workflowId;
        if (workflowId === undefined) {
          throw ApplicationFailure.nonRetryable(
            'recordDecision runs only on behalf of a workflow',
            'NoWorkflow',
          );
        }
        const { id, index, hash } = await ledger.appendDecision(decisionEntryFromDraft(draft, workflowId));
        return { id, index, hash };
      }),

    /** Records one agent run's execution time and outcome; safe to retry. */
    recordAgentDeployment: (entry: AgentDeploymentEntry): Promise<AgentDeploymentRecord> =>
      asActivityFailure(() => ledger.appendAgentDeployment(entry)),

    /** Records an agent's spawn, escalation or retirement; safe to retry. */
    recordAgentLifecycle: (event: AgentLifecycleEvent): Promise<AgentLifecycleRecord> =>
      asActivityFailure(() => ledger.appendAgentLifecycle(event)),

    /** Stores an ArtifactEvidence or ValidationReport; records reference it by the checksum. */
    storeEvidence: async (item: Evidence): Promise<{ checksum: string }> => ({
      checksum: await asActivityFailure(() => evidence.putJson(Evidence.parse(item))),
    }),
  };
}

/** Failures retrying cannot fix become non-retryable, typed for the workflow to branch on. */
async function asActivityFailure<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ZodError) {
      throw ApplicationFailure.nonRetryable(`invalid ledger input: ${error.message}`, 'InvalidLedgerEntry');
    }
    if (error instanceof LedgerConflictError)
      throw ApplicationFailure.nonRetryable(error.message, 'LedgerConflict');
    if (error instanceof LedgerCorruptError)
      throw ApplicationFailure.nonRetryable(error.message, 'LedgerCorrupt');
    throw error;
  }
}
