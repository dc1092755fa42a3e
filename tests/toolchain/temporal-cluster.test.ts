/**
 * The Temporal cluster on PostgreSQL (temporal-dev/temporal-cluster.ts): the server and its SQL
 * tool built from Go modules, the schema applied to a PostgreSQL of the test's own, SWOOSH's
 * search attributes registered in SQL visibility, a SWOOSH worker process running a mission on it,
 * and the mission still there, and still going, after the server process is restarted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startMission } from '../../api/missions';
import { queryWorkflow } from '../../api/workflow-queries';
import { MissionConfigInput } from '../../schemas/mission-config';
import { missionWorkflowId, type MissionView } from '../../schemas/mission';
import { stateQuery } from '../../schemas/mission-messages';
import { runCaptured } from '../../temporal-dev/postgres';
import {
  conventionalPorts,
  DATABASES,
  freeClusterPorts,
  serverConfig,
  SQL_PLUGIN,
  startTemporalCluster,
  type TemporalCluster,
} from '../../temporal-dev/temporal-cluster';
import { ensureTemporalServer } from '../../temporal-dev/toolchain';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { eventually } from '../support/temporal';
import { FAST_SCHEDULE } from '../lifecycle/support/missions';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('the server configuration', () => {
  test("Temporal's port layout moves with the frontend's port, within a smallint", () => {
    expect(conventionalPorts(7233)).toEqual({
      frontend: { grpc: 7233, membership: 6933 },
      history: { grpc: 7234, membership: 6934 },
      matching: { grpc: 7235, membership: 6935 },
      worker: { grpc: 7239, membership: 6939 },
    });
    expect(conventionalPorts(17233).worker).toEqual({ grpc: 17239, membership: 16939 });
    // Temporal keeps membership ports in a smallint column.
    expect(() => conventionalPorts(40000)).toThrow(/smallint/);
  });

  test('both stores are PostgreSQL databases of their own on the given server, every service on loopback', () => {
    const config = serverConfig({
      ports: conventionalPorts(7233),
      postgres: { host: '127.0.0.1', port: 5544, role: 'swoosh' },
      dynamicConfigFile: '/d/dynamicconfig.yaml',
      logFile: '/d/temporal-server.log',
    }) as {
      persistence: {
        defaultStore: string;
        visibilityStore: string;
        datastores: Record<string, { sql: Record<string, unknown> }>;
      };
      services: Record<string, { rpc: { grpcPort: number; bindOnLocalHost: boolean } }>;
    };
    const { persistence } = config;
    const stores = [persistence.defaultStore, persistence.visibilityStore].map(
      (name) => persistence.datastores[name]!.sql,
    );
    expect(stores.map((s) => s.databaseName)).toEqual(DATABASES.map((d) => d.name));
    for (const sql of stores) {
      expect(sql).toMatchObject({ pluginName: SQL_PLUGIN, connectAddr: '127.0.0.1:5544', user: 'swoosh' });
    }
    expect(Object.keys(config.services).sort()).toEqual(['frontend', 'history', 'matching', 'worker']);
    expect(Object.values(config.services).every((s) => s.rpc.bindOnLocalHost)).toBe(true);
  });
});

test('npm run dev refuses an option it does not know, naming it', async () => {
  const result = await runCaptured(process.execPath, ['--import', 'tsx', 'temporal-dev/dev.ts', '--clustre']);
  expect(result.code).toBe(2);
  expect(result.output).toContain("Unknown option '--clustre'");
  expect(result.output).toContain('usage: npm run dev [-- --cluster]');
}, 60_000);

describe('a cluster on PostgreSQL', () => {
  let postgres: TestPostgres;
  let cluster: TemporalCluster | undefined;
  let folder: string;
  let worker: ChildProcess | undefined;
  const connections: Connection[] = [];

  beforeAll(async () => {
    // Built on first use, like the other toolchain tests' binaries (npm run setup builds it first).
    const binaries = await ensureTemporalServer();
    folder = mkdtempSync(join(tmpdir(), 'swoosh-cluster-'));
    postgres = await startPostgres();
    cluster = await startTemporalCluster({
      binaries,
      folder: join(folder, 'server'),
      postgres,
      ports: await freeClusterPorts(),
      namespace: 'default',
    });
  }, 1_800_000);

  afterAll(async () => {
    for (const connection of connections) await connection.close();
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve));
      worker.kill('SIGTERM');
      const timer = setTimeout(() => worker!.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await cluster?.stop();
    await postgres?.stop();
    rmSync(folder, { recursive: true, force: true });
  }, 90_000);

  async function client(): Promise<Client> {
    const connection = await Connection.connect({ address: cluster!.address });
    connections.push(connection);
    return new Client({ connection, namespace: 'default' });
  }

  async function psql(database: string, sql: string): Promise<string> {
    const url = `postgres://${postgres.role}@${postgres.host}:${postgres.port}/${database}`;
    const result = await runCaptured(postgres.binaries.psql, [url, '-v', 'ON_ERROR_STOP=1', '-tAc', sql]);
    if (result.code !== 0) throw new Error(`psql failed: ${result.output}`);
    return result.output.trim();
  }

  /** A SWOOSH worker process, as `npm run worker` starts it; ready once it says it polls. */
  async function startWorker(taskQueue: string): Promise<void> {
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        SWOOSH_TEMPORAL_ADDRESS: cluster!.address,
        SWOOSH_NAMESPACE: 'default',
        SWOOSH_TASK_QUEUE: taskQueue,
        SWOOSH_DATA_DIR: join(folder, 'data'),
        SWOOSH_METRICS_ADDRESS: 'off',
        // A worker given no licence settings refuses to start; this one issues itself a
        // development licence, as `npm run dev -- --cluster` lets its worker do.
        SWOOSH_DEV_LICENCE: 'true',
      },
    });
    worker = child;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const polling = await eventually(
      () => Promise.resolve(output),
      (out) => out.includes('[swoosh worker] polling task queue') || child.exitCode !== null,
      120_000,
    );
    if (!polling.includes('[swoosh worker] polling task queue')) {
      throw new Error(`the worker did not start polling:\n${output}`);
    }
  }

  test('runs a mission, finds it by its search attributes, and keeps it across a server restart', async () => {
    const taskQueue = 'swoosh-cluster';
    await startWorker(taskQueue);
    const temporal = await client();
    const id = randomUUID();
    const workflowId = missionWorkflowId(id);
    await startMission(
      temporal,
      taskQueue,
      {
        id,
        objective: 'Run on a cluster with SQL persistence',
        priority: 'P2',
        originatingSpec: 'https://specs.example.org/cluster',
        createdAt: '2026-12-02T20:00:00.000Z',
      },
      // 4-second bars and the orchestrator's own approval: beats follow each other without a person.
      MissionConfigInput.parse({ autoApprove: true, schedule: FAST_SCHEDULE }),
    );
    // As the gateway reads a mission: asked again if a worker refused it at a stale clock.
    const view = (c: Client) => queryWorkflow(() => c.workflow.getHandle(workflowId).query(stateQuery));
    const phaseOf = (v: MissionView) => (v.state?.ingestion as { phase?: string } | undefined)?.phase;
    const beatOf = (v: MissionView) => (v.state?.execution as { beat?: number } | undefined)?.beat ?? -1;

    const ready = await eventually(
      () => view(temporal),
      (v) => phaseOf(v) === 'READY',
      90_000,
    );
    expect(phaseOf(ready)).toBe('READY');

    // SQL visibility answers a query on SWOOSH's own attributes, and only for the value it holds.
    const ids = async (query: string) => {
      const found: string[] = [];
      for await (const execution of temporal.workflow.list({ query })) found.push(execution.workflowId);
      return found;
    };
    const byPhase = `SwooshMissionId = '${id}' AND SwooshIngestionPhase = 'READY'`;
    expect(
      await eventually(
        () => ids(byPhase),
        (found) => found.length > 0,
        30_000,
      ),
    ).toEqual([workflowId]);
    expect(await ids(`SwooshMissionId = '${id}' AND SwooshIngestionPhase = 'QUARANTINED'`)).toEqual([]);
    // What answered is PostgreSQL: the run is a row of the main store and of the visibility store.
    expect(
      await psql('temporal', `SELECT count(*) FROM executions WHERE workflow_id = '${workflowId}'`),
    ).toBe('1');
    expect(
      await psql(
        'temporal_visibility',
        `SELECT count(*) FROM executions_visibility WHERE workflow_id = '${workflowId}'`,
      ),
    ).toBe('1');

    const beatBefore = await eventually(
      async () => beatOf(await view(temporal)),
      (beat) => beat >= 1,
      90_000,
    );
    expect(beatBefore).toBeGreaterThanOrEqual(1);

    const oldPid = cluster!.server.child.pid!;
    await cluster!.restart();
    expect(cluster!.server.child.pid).not.toBe(oldPid);
    expect(() => process.kill(oldPid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));

    // A new server process reads the mission back from PostgreSQL, and the same worker, which
    // reconnected by itself, takes its next beats.
    const after = await client();
    // A query needs a worker's answer, and the worker's polls reconnect with a backoff.
    const survived = await eventually(
      () => view(after).catch(() => undefined),
      (v) => v !== undefined,
      60_000,
    );
    expect(survived?.missionId).toBe(id);
    expect(beatOf(survived!)).toBeGreaterThanOrEqual(beatBefore);
    const beatAfter = await eventually(
      async () => beatOf(await view(after)),
      (beat) => beat >= beatBefore + 2,
      90_000,
    );
    expect(beatAfter).toBeGreaterThanOrEqual(beatBefore + 2);
    expect(worker!.exitCode).toBeNull();
  }, 300_000);
});
