/**
 * The ledger's Temporal activities: thin wrappers over the ledger (ledger/, docs/ledger.md) that
 * take the emitting workflow's id from the activity context and turn the ledger's refusals into
 * non-retryable failures, typed for the workflow to branch on.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z, ZodError } from 'zod';
import { LedgerConflictError, LedgerCorruptError, type LedgerWriter } from '../ledger';
import type {
  AgentDeploymentEntry,
  AgentDeploymentRecord,
  AgentLifecycleRecord,
  DecisionDraft,
  DecisionReceipt,
} from '../schemas/decision-record';
import { type AgentLifecycleEvent, Evidence } from '../schemas/evidence';
import type { ContentStore } from '../ledger/evidence-store';

export interface LedgerActivityDeps {
  ledger: LedgerWriter;
  evidence: ContentStore;
}

/**
 * The decision draft as workflows sent it before it took the record's field names (docs/ledger.md,
 * "The decision draft"). A mission's history can hold a `recordDecision` task scheduled with it,
 * which reaches this worker as it was recorded, so it is read into today's draft with the renames
 * the ledger used to make: the record it makes is the same, byte for byte. Unknown fields (the old
 * `id`) are dropped, as they were then; the ledger validates the rest. Remove once no running
 * mission's history predates the change.
 */
const LegacyDecisionDraft = z
  .object({
    mission_id: z.string(),
    seq: z.number(),
    region: z.string(),
    transition: z.string(),
    guards: z.array(z.object({ guard: z.string(), ok: z.boolean(), reasons: z.array(z.string()) })),
    signer: z.string(),
    signature: z.string().nullable(),
    signature_verified: z.boolean(),
    pre_hash: z.string(),
    post_hash: z.string(),
    inputs_hash: z.string(),
    idem_key: z.string(),
    hlc: z.string(),
    window_id: z.string(),
    evidence: z.array(z.string()),
    at_ms: z.number(),
  })
  .transform(({ mission_id, signature, pre_hash, post_hash, at_ms, ...same }): DecisionDraft => ({
    ...same,
    mission: mission_id,
    proposal_signature: signature,
    pre_state_hash: pre_hash,
    post_state_hash: post_hash,
    decided_at: new Date(at_ms).toISOString(),
  }));
export type LegacyDecisionDraft = z.input<typeof LegacyDecisionDraft>;

/** Only the draft of before has `mission_id`; today's is passed on as it came. */
function currentDraft(draft: DecisionDraft | LegacyDecisionDraft): DecisionDraft {
  return 'mission_id' in draft ? LegacyDecisionDraft.parse(draft) : draft;
}

export function createLedgerActivities({ ledger, evidence }: LedgerActivityDeps) {
  return {
    /**
     * Records an accepted transition's decision (docs/lifecycle.md); safe to retry. The record id
     * derives from the calling workflow's id and the decision's seq, taken from the activity
     * context. Answers a receipt, not the record, to keep the mission's history small.
     */
    recordDecision: (draft: DecisionDraft | LegacyDecisionDraft): Promise<DecisionReceipt> =>
      asActivityFailure(() => appendDecision(ledger, callingWorkflow('recordDecision'), draft)),

    /**
     * Records decisions in the order given, each as `recordDecision` would; safe to retry (records
     * already written are answered, not written again). A mission appends what accumulated while
     * its previous append ran, off its transitions' path (docs/lifecycle.md#the-ledger-append).
     */
    recordDecisions: (drafts: DecisionDraft[]): Promise<DecisionReceipt[]> =>
      asActivityFailure(async () => {
        const workflowId = callingWorkflow('recordDecisions');
        const receipts: DecisionReceipt[] = [];
        for (const draft of drafts) receipts.push(await appendDecision(ledger, workflowId, draft));
        return receipts;
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

/** The id of the workflow the running activity acts for; the record ids derive from it. */
export function callingWorkflow(activity: string): string {
  const workflowId = Context.current().info.workflowExecution?.workflowId;
  if (workflowId === undefined)
    throw ApplicationFailure.nonRetryable(`${activity} runs only on behalf of a workflow`, 'NoWorkflow');
  return workflowId;
}

async function appendDecision(
  ledger: LedgerWriter,
  workflowId: string,
  draft: DecisionDraft | LegacyDecisionDraft,
): Promise<DecisionReceipt> {
  const { id, index, hash } = await ledger.appendDecision({
    ...currentDraft(draft),
    workflow_id: workflowId,
  });
  return { id, index, hash };
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
