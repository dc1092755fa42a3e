/**
 * Reports (docs/ledger.md, "Reports"): what a mission's agents cost and how well they did, from
 * the agent deployments, lifecycle events and decisions in its ledger. Reads only.
 */
import type { AgentDeploymentRecord, AgentOutcome } from '../schemas/decision-record';
import { readerOf, readLedger } from './read';
import type { LedgerReader } from './store';

export interface MissionReport {
  mission: string;
  records: number;
  decisions: number;
  deployments: number;
  outcomes: Record<AgentOutcome, number>;
  /** Agents whose failure or timeout handed their work back to the orchestrator. */
  escalations: number;
  /** Sum of agent execution time: what the mission's agents cost in run time. */
  agentTimeMs: number;
  meanAgentTimeMs: number | null;
  maxAgentTimeMs: number | null;
  /** Share of deployments that succeeded: the mission's efficiency. */
  successRate: number | null;
  firstAt: string | null;
  lastAt: string | null;
  /** Elapsed time from the first to the last record. */
  wallClockMs: number;
}

/**
 * Cost and efficiency per mission, from the agent deployments and decisions in the ledger, in a
 * ledger folder or any store.
 */
export async function ledgerReport(
  source: string | LedgerReader,
  missions?: string[],
): Promise<MissionReport[]> {
  const reader = readerOf(source);
  const names = missions ?? (await reader.listMissions());
  return Promise.all(
    names.map(async (mission) => {
      const { records } = await readLedger(reader, mission);
      const deployments = records.filter((r): r is AgentDeploymentRecord => r.kind === 'agent-deployment');
      const outcomes: Record<AgentOutcome, number> = {
        succeeded: 0,
        failed: 0,
        'timed-out': 0,
        cancelled: 0,
      };
      for (const d of deployments) outcomes[d.outcome] += 1;
      const times = deployments.map((d) => d.duration_ms);
      const agentTimeMs = times.reduce((a, b) => a + b, 0);
      const firstAt = records[0]?.timestamp ?? null;
      const lastAt = records.at(-1)?.timestamp ?? null;
      return {
        mission,
        records: records.length,
        decisions: records.filter((r) => r.kind === 'decision').length,
        deployments: deployments.length,
        outcomes,
        escalations: records.filter((r) => r.kind === 'agent-lifecycle' && r.event === 'escalated').length,
        agentTimeMs,
        meanAgentTimeMs: times.length ? Math.round(agentTimeMs / times.length) : null,
        maxAgentTimeMs: times.length ? Math.max(...times) : null,
        successRate: times.length ? outcomes.succeeded / times.length : null,
        firstAt,
        lastAt,
        wallClockMs: firstAt && lastAt ? Date.parse(lastAt) - Date.parse(firstAt) : 0,
      };
    }),
  );
}
