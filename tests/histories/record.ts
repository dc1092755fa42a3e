/**
 * `npm run record-histories`: runs each scenario on a real dev server and saves its event
 * history under tests/histories/, where the replay test picks it up. A fixture that already
 * exists is kept byte-identical (old histories are what prove new code still replays them);
 * set SWOOSH_RECORD_FORCE=1 to re-record, which is only right when a change is meant to be
 * incompatible (and then version it: see README). `npm run record-histories -- <name>...` records
 * only the scenarios named, whether or not their fixtures exist, and keeps every other one.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { createFileDeadLetterStore } from '../../activities/timers';
import { createFileParkedTimerStore } from '../../host/parked-timers';
import { createTimerEventLog, timerEventsDir } from '../../host/timer-events';
import { createSwooshWorker } from '../../workers/worker';
import { testDeps } from '../lifecycle/support/missions';
import { startDevServerEnv } from '../support/temporal';
import { scenarios } from './scenarios';

const force = process.env.SWOOSH_RECORD_FORCE === '1';
const named = process.argv.slice(2);
const unknown = named.filter((n) => !scenarios.some((s) => s.name === n));
if (unknown.length > 0) throw new Error(`no such scenario: ${unknown.join(', ')}`);
const pending = scenarios.filter((s) =>
  named.length > 0
    ? named.includes(s.name)
    : force || !existsSync(new URL(`./${s.name}.json`, import.meta.url)),
);
for (const s of scenarios) if (!pending.includes(s)) console.log(`kept ${s.name}.json`);
if (pending.length > 0) {
  const env = await startDevServerEnv();
  try {
    const base = await testDeps();
    // Every workflow type runs on the recording worker, timer shards included.
    const deps = {
      ...base,
      timers: {
        signer: base.orchestrator,
        deadLetters: createFileDeadLetterStore(join(base.dataDir, 'timer-dead-letters.jsonl')),
        ledger: base.ledger,
        client: env.client,
        events: createTimerEventLog(timerEventsDir(base.dataDir), base.orchestrator),
        outbound: base.outbound,
        parked: createFileParkedTimerStore(join(base.dataDir, 'timers', 'parked')),
      },
    };
    for (const scenario of pending) {
      const taskQueue = `record-${scenario.name}`;
      const worker = await createSwooshWorker({
        connection: env.nativeConnection,
        namespace: 'default',
        taskQueue,
        deps: scenario.deps ? { ...deps, ...(await scenario.deps(deps)) } : deps,
      });
      const history = await worker.runUntil(scenario.run(env.client, taskQueue, randomUUID()));
      const file = new URL(`./${scenario.name}.json`, import.meta.url);
      writeFileSync(file, historyToJSON(history));
      console.log(`recorded ${scenario.name}: ${history.events?.length ?? 0} events`);
    }
  } finally {
    await env.teardown();
  }
}
