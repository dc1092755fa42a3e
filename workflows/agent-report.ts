/**
 * Records what an agent reports over A2A — an AgentLifecycleEvent in the mission's ledger, an
 * ArtifactEvidence or ValidationReport in the evidence store — through the worker's activities,
 * so the gateway never holds the orchestrator's signing key. Both writes are idempotent, so a
 * retried report records once; a report that contradicts an earlier one fails `LedgerConflict`.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { SwooshActivities } from '../activities';
import type { AgentReport, AgentReportResult } from '../schemas/a2a';

const { recordAgentLifecycle, storeEvidence } = proxyActivities<SwooshActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 },
});

export async function agentReportWorkflow(report: AgentReport): Promise<AgentReportResult> {
  if (report.kind === 'lifecycle') {
    const record = await recordAgentLifecycle(report.event);
    return { recordId: record.id, index: record.index };
  }
  return storeEvidence(report.item);
}
