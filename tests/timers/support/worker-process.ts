/**
 * A timer worker in a process of its own, so a test can SIGKILL it mid-flight and start another.
 * Configured entirely by environment variables; prints `ready` once it polls.
 */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadSigner } from '../../../host/keys';
import { createFileDeadLetterStore, createTimerActivities } from '../../../activities/timers';
import { outboundPolicyFromEnv } from '../../../host/outbound';
import { createTimerEventLog } from '../../../host/timer-events';
import { dirname, join } from 'node:path';
import { FileLedger } from '../../../ledger';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

Runtime.install({ logger: new DefaultLogger('WARN') });
const address = required('TIMER_WORKER_ADDRESS');
const connection = await NativeConnection.connect({ address });
const clientConnection = await Connection.connect({ address });
const signer = await loadSigner(required('TIMER_WORKER_KEY_FILE'), 'orchestrator');
try {
  const worker = await Worker.create({
    connection,
    taskQueue: required('TIMER_WORKER_TASK_QUEUE'),
    workflowBundle: { codePath: required('TIMER_WORKER_BUNDLE') },
    activities: createTimerActivities({
      signer,
      deadLetters: createFileDeadLetterStore(required('TIMER_WORKER_DEAD_LETTERS')),
      ledger: new FileLedger({ dir: join(dirname(required('TIMER_WORKER_DEAD_LETTERS')), 'ledger'), signer }),
      events: createTimerEventLog(join(dirname(required('TIMER_WORKER_DEAD_LETTERS')), 'events'), signer),
      client: new Client({ connection: clientConnection }),
      outbound: outboundPolicyFromEnv(),
    }),
  });
  console.log('ready');
  // The SDK's SIGTERM handler drains the worker; SIGKILL is the crash under test.
  await worker.run();
} finally {
  await clientConnection.close();
  await connection.close();
}
