/**
 * Child process for the ledger's crash and cross-process tests: appends decisions seq 0..count-1
 * (of workflow `workflowId`, default the shared one) and prints `ack <id>` for each append the
 * ledger acknowledged, nothing earlier. With `--wait-for-go` it prints `ready` and starts only
 * when a line arrives on stdin, so that several writers start together.
 * Usage: writer.ts <ledgerDir | postgres://…> <keyFile> <count> [pauseMs] [workflowId] [--wait-for-go]
 * (a database URL writes to the PostgreSQL store, a folder to the files store).
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { FileLedger, PostgresLedger } from '../../../ledger';
import { loadSigner } from '../../../host/keys';
import { decisionEntry } from './entries';

const waitForGo = process.argv.includes('--wait-for-go');
const [dir, keyFile, count, pauseMs = '0', workflowId] = process.argv
  .slice(2)
  .filter((arg) => arg !== '--wait-for-go');
if (!dir || !keyFile || !count) throw new Error('usage: writer.ts <ledgerDir | url> <keyFile> <count>');
const signer = await loadSigner(keyFile, 'orchestrator');
const ledger = dir.startsWith('postgres://')
  ? new PostgresLedger({ url: dir, signer })
  : new FileLedger({ dir, signer });
if (waitForGo) {
  const input = createInterface({ input: process.stdin });
  process.stdout.write('ready\n');
  await once(input, 'line');
  input.close();
}
for (let seq = 0; seq < Number(count); seq++) {
  const entry = decisionEntry(signer.keyId, seq, workflowId ? { workflow_id: workflowId } : {});
  const record = await ledger.appendDecision(entry);
  process.stdout.write(`ack ${record.id}\n`);
  if (pauseMs !== '0') await delay(Number(pauseMs));
}
await ledger.close();
