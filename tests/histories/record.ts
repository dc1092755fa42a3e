/**
 * `npm run record-histories`: runs each scenario on a real dev server and saves its event
 * history under tests/histories/, where the replay test picks it up. Re-record only when a
 * workflow change is meant to be incompatible (and then version it: see README).
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { createSwooshWorker } from '../../workers/worker';
import { startDevServerEnv } from '../support/temporal';
import { scenarios } from './scenarios';

const env = await startDevServerEnv();
try {
  for (const scenario of scenarios) {
    const taskQueue = `record-${scenario.name}`;
    const worker = await createSwooshWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue,
    });
    const history = await worker.runUntil(scenario.run(env.client, taskQueue, randomUUID()));
    const file = new URL(`./${scenario.name}.json`, import.meta.url);
    writeFileSync(file, historyToJSON(history));
    console.log(`recorded ${scenario.name}: ${history.events?.length ?? 0} events`);
  }
} finally {
  await env.teardown();
}
