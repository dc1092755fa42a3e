/**
 * Child process for the ledger's crash and cross-process tests: appends decisions seq 0..count-1
 * and prints `ack <id>` for each append the ledger acknowledged, nothing earlier.
 * Usage: ledger-writer.ts <ledgerDir> <keyFile> <count> [pauseMs]
 */
import { setTimeout as delay } from 'node:timers/promises';
import { FileLedger } from '../../../activities/ledger';
import { loadSigner } from '../../../activities/keys';
import { decisionEntry } from './ledger-entries';

const [dir, keyFile, count, pauseMs = '0'] = process.argv.slice(2);
if (!dir || !keyFile || !count) throw new Error('usage: ledger-writer.ts <ledgerDir> <keyFile> <count>');
const signer = await loadSigner(keyFile, 'orchestrator');
const ledger = new FileLedger({ dir, signer });
for (let seq = 0; seq < Number(count); seq++) {
  const record = await ledger.appendDecision(decisionEntry(signer.keyId, seq));
  process.stdout.write(`ack ${record.id}\n`);
  if (pauseMs !== '0') await delay(Number(pauseMs));
}
