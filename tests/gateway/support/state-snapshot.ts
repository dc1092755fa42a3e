/**
 * What a refused request must leave alone, as one comparable snapshot: the held mission's HEAD
 * and the updates and signals its history admitted, the workflows on the test's task queue, and
 * every file under the data folder's ledger and evidence. Fuzzers take one before and after.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dataPaths } from '../../../host/data-dir';
import { missionWorkflowId } from '../../../schemas/mission';
import { type GatewayFixture, ledgerAtHead, type OwnedMission } from './gateway';

/**
 * Every file under `dir` with its size, health probes and the ledger's lock files aside: a writer
 * keeps a mission's lock for a while after its last append and lets it go on its own, so a lock
 * coming or going is not a write.
 */
async function files(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.health-') || name.endsWith('.lock') || name.endsWith('.lock.wanted')) continue;
      const path = join(d, name);
      const s = await stat(path).catch(() => undefined);
      if (!s) continue;
      if (s.isDirectory()) await walk(path);
      else out[path] = s.size;
    }
  };
  await walk(dir);
  return out;
}

export interface Snapshot {
  head: string;
  files: Record<string, number>;
  /** Updates admitted and signals received by the held mission. */
  messages: number;
  workflows: number;
}

export async function snapshot(fx: GatewayFixture, held: OwnedMission): Promise<Snapshot> {
  const paths = dataPaths(fx.dataDir);
  await ledgerAtHead(fx, held.id);
  const history = await fx.env.client.workflow.getHandle(missionWorkflowId(held.id)).fetchHistory();
  const messages = (history.events ?? []).filter(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionSignaledEventAttributes,
  ).length;
  const count = await fx.env.client.workflowService.countWorkflowExecutions({
    namespace: 'default',
    query: `TaskQueue = '${fx.taskQueue}'`,
  });
  return {
    head: await held.head(),
    files: { ...(await files(paths.ledgerDir)), ...(await files(paths.evidenceDir)) },
    messages,
    workflows: Number(count.count),
  };
}
