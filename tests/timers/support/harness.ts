/**
 * What every timer test needs around the shards: a worker with the real timer activities on its
 * own task queue, the timer routes declared on a route registry of their own express app (every
 * caller authenticated as `TIMER_TEST_CALLER`), a signing key made in a temp folder, and clean-up
 * that terminates the test's shards and stops every server it started.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileParkedTimerStore, type ParkedTimerStore } from '../../../host/parked-timers';
import { createTimerEventLog, type TimerEventLog } from '../../../host/timer-events';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import express from 'express';
import { Authenticator, newToken } from '../../../api/auth';
import { ApiRegistry } from '../../../api/routes';
import { declareTimerRoutes } from '../../../api/timer-routes';
import type { TimerApiDeps } from '../../../api/timers';
import { ensureKeyFile, loadSigner, type Signer } from '../../../host/keys';
import {
  createFileDeadLetterStore,
  createTimerActivities,
  type DeadLetterStore,
} from '../../../activities/timers';
import type { TimerTargetRule } from '../../../schemas/timer-targets';
import { parseOutboundAllow } from '../../../schemas/outbound';
import type { ShardSettings } from '../../../schemas/timer-shard';
import { shardWorkflowId } from '../../../schemas/timer-shard-key';
import { serve } from '../../support/http';
import { startTimeSkippingEnv, taskQueueFor } from '../../support/temporal';
import { FileLedger } from '../../../ledger';

/**
 * The Java test server, tried up to three times: the SDK gives it a fixed 5 s to start, which a
 * 2-core machine starting a dev server for the next test file at the same time can miss.
 */
export async function startTimeSkippingEnvPatiently(): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startTimeSkippingEnv();
    } catch (error) {
      const slow = error instanceof Error && error.message.includes('did not start within');
      if (!slow || attempt === 3) throw error;
    }
  }
}

export const workflowsPath = fileURLToPath(new URL('../workflows.ts', import.meta.url));

/** A fresh orchestrator key in a temp folder (mode 0600, as in production), loaded as a signer. */
export async function makeSigner(): Promise<{ signer: Signer; keyFile: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'swoosh-timers-'));
  const keyFile = join(dir, 'keys', 'orchestrator.key.json');
  await ensureKeyFile(keyFile, 'orchestrator');
  return { signer: await loadSigner(keyFile, 'orchestrator'), keyFile, dir };
}

/** What the timer tests' webhooks may reach: their targets, on loopback ports. */
export const TEST_OUTBOUND = { allow: parseOutboundAllow('127.0.0.1') };

/** Who calls the test timer API: an operator, so its timers act with an operator's authority. */
export const TIMER_TEST_CALLER = { name: 'timer-test-operator', role: 'operator' } as const;

/**
 * The timer API as the gateway declares it (api/timer-routes.ts), alone on an app: the same role
 * checks, parsing and handlers, with every request carrying `TIMER_TEST_CALLER`'s token.
 */
export function timerApi(deps: TimerApiDeps): express.Express {
  const token = newToken();
  const app = express();
  // Ahead of the registry's checks, as a client of the gateway would send it.
  app.use((req, _res, next) => {
    req.headers.authorization = `Bearer ${token}`;
    next();
  });
  const auth = new Authenticator({ tokens: [{ ...TIMER_TEST_CALLER, token }] });
  declareTimerRoutes(new ApiRegistry(app, auth), deps);
  return app;
}

/**
 * The test workflows' messages a timer may send (as a deployment would list its own workflows'
 * in SWOOSH_TIMER_TARGETS): only to workflows of the test's own task queue.
 */
export function testTimerTargets(taskQueue: string): TimerTargetRule[] {
  const roles: TimerTargetRule['roles'] = ['agent', 'operator', 'owner'];
  return [
    { kind: 'signal', name: 'approvalDeadline', workflowIdPrefix: `${taskQueue}-`, roles },
    { kind: 'update', name: 'expireApproval', workflowIdPrefix: `${taskQueue}-`, roles },
  ];
}

export interface TimerContext {
  api: string;
  client: Client;
  taskQueue: string;
  idPrefix: string;
  deadLetters: DeadLetterStore;
  deadLetterPath: string;
  /** The shards' timer ledgers (one per shard, named by its workflow id). */
  ledgerDir: string;
  /** Where the shards park timers (they park only with `parkAfterMs` in their settings). */
  parked: ParkedTimerStore;
  /** The settings a shard is started with here, for a test that starts one itself. */
  shardSettings: Partial<ShardSettings>;
}

export interface HarnessOptions {
  env: TestWorkflowEnvironment;
  bundle: WorkflowBundle;
  signer: Signer;
  dataDir: string;
  shards: number;
  settings?: Partial<ShardSettings>;
  /** Wraps the worker's timer event log, to make its writes fail. */
  wrapEvents?: (log: TimerEventLog) => TimerEventLog;
}

/** Runs `body` with a worker and a gateway for test `name`; stops both and terminates its shards. */
export async function withTimers(
  name: string,
  options: HarnessOptions,
  body: (ctx: TimerContext) => Promise<void>,
): Promise<void> {
  const { env, bundle, signer, dataDir, shards, settings, wrapEvents = (log) => log } = options;
  const taskQueue = taskQueueFor(name);
  const idPrefix = `${taskQueue}-shard`;
  const deadLetterPath = join(dataDir, taskQueue, 'dead-letters.jsonl');
  const deadLetters = createFileDeadLetterStore(deadLetterPath);
  const ledgerDir = join(dataDir, taskQueue, 'ledger');
  const parked = createFileParkedTimerStore(join(dataDir, taskQueue, 'parked'));
  // The time-skipping server's clock stands still while an activity runs: no alarms there.
  const shardSettings = { ...(env.supportsTimeSkipping && { alarmWithinMs: 0 }), ...settings };
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createTimerActivities({
      signer,
      deadLetters,
      ledger: new FileLedger({ dir: ledgerDir, signer }),
      events: wrapEvents(createTimerEventLog(join(dataDir, taskQueue, 'events'), signer)),
      client: env.client,
      outbound: TEST_OUTBOUND,
      parked,
    }),
  });
  const gateway = await serve(
    timerApi({
      client: env.client,
      taskQueue,
      shards,
      shardIdPrefix: idPrefix,
      shardSettings,
      timerTargets: testTimerTargets(taskQueue),
      parked,
    }),
  );
  try {
    await worker.runUntil(async () => {
      try {
        await body({
          api: gateway.baseUrl,
          client: env.client,
          taskQueue,
          idPrefix,
          deadLetters,
          deadLetterPath,
          ledgerDir,
          parked,
          shardSettings,
        });
      } finally {
        // While the worker still runs, and once no activity is under way: a shard's activity left
        // scheduled with no worker to take it, or running when its shard is terminated, holds the
        // time-skipping server's clock for good. The last change a test makes (an ack, a cancel)
        // still has its event-log write to finish.
        await waitForIdleShards(env.client, idPrefix, shards);
        await terminateShards(env.client, idPrefix, shards);
      }
    });
  } finally {
    await gateway.close();
    await parked.close();
  }
}

/** Waits (up to 10 s) until no shard has a workflow task or an activity outstanding. */
export async function waitForIdleShards(client: Client, idPrefix: string, shards: number): Promise<void> {
  for (let look = 0; look < 200; look++) {
    const busy = await Promise.all(
      Array.from({ length: shards }, async (_, shard) => {
        try {
          const { raw } = await client.workflow.getHandle(shardWorkflowId(idPrefix, shard)).describe();
          return raw.pendingWorkflowTask != null || (raw.pendingActivities?.length ?? 0) > 0;
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) return false;
          throw error;
        }
      }),
    );
    if (!busy.includes(true)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Shards live forever; a finished test ends its own so their timers cannot fire into the next. */
export async function terminateShards(client: Client, idPrefix: string, shards: number): Promise<void> {
  for (let shard = 0; shard < shards; shard++) {
    try {
      await client.workflow.getHandle(shardWorkflowId(idPrefix, shard)).terminate('test finished');
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}
