/**
 * A Temporal cluster on PostgreSQL, the way a team runs one beside the CLI's dev server: the
 * Temporal server built from go.temporal.io/server (toolchain.ts), every service (frontend,
 * history, matching, worker) in one process, its default and visibility stores in PostgreSQL
 * (plugin postgres12). Starting it creates the two databases and applies the schema the SQL tool
 * embeds (both idempotent, so a kept database is only brought up to date), writes the server's
 * configuration, starts the server, and once the frontend answers creates the namespace and
 * registers SWOOSH's search attributes with the worker's own registration. docs/toolchain.md,
 * "The Temporal cluster on PostgreSQL".
 */
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { stringify } from 'yaml';
import { ensureSearchAttributes } from '../workers/search-attributes';
import { EAGER_ACTIVITIES, PRIORITY_MATCHING, TUNED_TIMER_QUEUE } from './dev-server';
import { type PostgresBinaries, runCaptured } from './postgres';
import { freePort, freePortIn, startProcess, stopProcess, type Supervised, waitForPort } from './processes';
import type { TemporalServerBinaries } from './toolchain';

/** The SQL plugin for PostgreSQL 12 and later; the schema tool embeds its schema under this name. */
export const SQL_PLUGIN = 'postgres12';

/** The two stores, each in a database of its own, and the embedded schema each gets. */
export const DATABASES = [
  { name: 'temporal', schema: 'postgresql/v12/temporal' },
  { name: 'temporal_visibility', schema: 'postgresql/v12/visibility' },
] as const;

/**
 * Fixed once a cluster's database is created: Temporal refuses to start on a database made with
 * another count. Four spread a few missions' work without the idle cost of hundreds.
 */
export const HISTORY_SHARDS = 4;

const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type ClusterService = (typeof SERVICES)[number];

/** Each service's gRPC port and ringpop membership port, all on loopback. */
export type ClusterPorts = Record<ClusterService, { grpc: number; membership: number }>;

/**
 * Temporal's own layout (frontend 7233, history 7234, matching 7235, worker 7239, each service's
 * membership port 300 below), moved along with the frontend's port. `npm run dev -- --cluster`
 * keeps the same ports from run to run: the membership table in the database names them.
 */
export function conventionalPorts(frontend: number): ClusterPorts {
  const offset: Record<ClusterService, number> = { frontend: 0, history: 1, matching: 2, worker: 6 };
  const ports = Object.fromEntries(
    SERVICES.map((s) => [s, { grpc: frontend + offset[s], membership: frontend + offset[s] - 300 }]),
  ) as ClusterPorts;
  const membership = SERVICES.map((s) => ports[s].membership);
  if (membership.some((port) => port < 1 || port > MAX_MEMBERSHIP_PORT)) {
    throw new Error(
      `the cluster's membership ports would be ${membership.join(', ')} (300 below the frontend's ${frontend} and its neighbours), ` +
        `but Temporal stores them as a smallint (1–${MAX_MEMBERSHIP_PORT}); choose a frontend port between 301 and ${MAX_MEMBERSHIP_PORT - 6 + 300}`,
    );
  }
  return ports;
}

/**
 * The cluster membership table keeps a membership port in a smallint, so it must be below 32768,
 * where the system's ephemeral ports (the ones `freePort` gets) start.
 */
const MAX_MEMBERSHIP_PORT = 32_767;

/** Free loopback ports for every service, for tests that run beside anything else. */
export async function freeClusterPorts(): Promise<ClusterPorts> {
  const ports: Partial<ClusterPorts> = {};
  for (const s of SERVICES) {
    ports[s] = { grpc: await freePort(), membership: await freePortIn(20_000, MAX_MEMBERSHIP_PORT) };
  }
  return ports as ClusterPorts;
}

export interface ClusterPostgres {
  host: string;
  port: number;
  /** A role that may create databases; trusted on loopback, so no password. */
  role: string;
  binaries: PostgresBinaries;
}

/** What the server's configuration is made from. */
export interface ClusterConfigInput {
  ports: ClusterPorts;
  postgres: Pick<ClusterPostgres, 'host' | 'port' | 'role'>;
  dynamicConfigFile: string;
  logFile: string;
}

/** The server's static configuration (`config/<env>.yaml`), as a document. */
export function serverConfig(input: ClusterConfigInput): Record<string, unknown> {
  const { ports, postgres } = input;
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: SQL_PLUGIN,
      databaseName,
      connectAddr: `${postgres.host}:${postgres.port}`,
      connectProtocol: 'tcp',
      user: postgres.role,
      password: '',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const frontend = `127.0.0.1:${ports.frontend.grpc}`;
  return {
    // The server logs every start and shutdown step at info; its file keeps warnings and errors.
    log: { stdout: false, level: 'warn', outputFile: input.logFile },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: HISTORY_SHARDS,
      datastores: {
        'postgres-default': store(DATABASES[0].name, 20),
        'postgres-visibility': store(DATABASES[1].name, 10),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: Object.fromEntries(
      SERVICES.map((s) => [
        s,
        // No HTTP API (httpPort 0): SWOOSH's workers and gateway speak gRPC.
        { rpc: { grpcPort: ports[s].grpc, membershipPort: ports[s].membership, bindOnLocalHost: true } },
      ]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: frontend },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: {
      archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    },
    dynamicConfigClient: { filepath: input.dynamicConfigFile, pollInterval: '10s' },
  };
}

/**
 * Dynamic configuration: the dev server's timer-queue tuning, eager activities and priority
 * matching, and what the dev server sets so that a search attribute is usable as soon as it is
 * added. Each service keeps its own cache of the attributes for up to 60 s, and a worker registers
 * them just before the first mission starts.
 */
export function dynamicConfig(): Record<string, { value: unknown }[]> {
  const values: Record<string, unknown> = {
    ...TUNED_TIMER_QUEUE,
    ...EAGER_ACTIVITIES,
    ...PRIORITY_MATCHING,
    'system.forceSearchAttributesCacheRefreshOnRead': true,
    // The refresh reads the database on every call; the dev server raises these for it too.
    'frontend.persistenceMaxQPS': 10_000,
    'history.persistenceMaxQPS': 45_000,
  };
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, [{ value }]]));
}

async function runOrThrow(command: string, args: string[]): Promise<string> {
  const result = await runCaptured(command, args);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${result.output}`);
  }
  return result.output;
}

/**
 * Creates each store's database unless it exists, then brings its schema to the version the tool
 * embeds: `setup-schema -v 0.0` makes the version tables (and leaves a newer version alone),
 * `update-schema` applies every versioned step past the recorded one.
 */
export async function prepareDatabases(sqlTool: string, postgres: ClusterPostgres): Promise<void> {
  const connect = [
    '--plugin',
    SQL_PLUGIN,
    '--endpoint',
    postgres.host,
    '--port',
    String(postgres.port),
    '--user',
    postgres.role,
  ];
  for (const { name, schema } of DATABASES) {
    const exists = await runOrThrow(postgres.binaries.psql, [
      '-h',
      postgres.host,
      '-p',
      String(postgres.port),
      '-U',
      postgres.role,
      '-d',
      'postgres',
      '-tAc',
      `SELECT 1 FROM pg_database WHERE datname = '${name}'`,
    ]);
    if (exists.trim() !== '1') {
      await runOrThrow(sqlTool, [
        ...connect,
        '--database',
        name,
        'create-database',
        '--defaultdb',
        'postgres',
      ]);
    }
    await runOrThrow(sqlTool, [...connect, '--database', name, 'setup-schema', '--version', '0.0']);
    await runOrThrow(sqlTool, [...connect, '--database', name, 'update-schema', '--schema-name', schema]);
  }
}

export interface ClusterOptions {
  binaries: TemporalServerBinaries;
  /** Where the configuration and the server's log go (`config/swoosh.yaml`, `temporal-server.log`). */
  folder: string;
  postgres: ClusterPostgres;
  ports: ClusterPorts;
  namespace: string;
  /** How long the server may take to answer after it is started. */
  readyTimeoutMs?: number;
}

export interface TemporalCluster {
  /** The frontend's gRPC address, `127.0.0.1:<port>`. */
  address: string;
  /** The running server process. */
  readonly server: Supervised;
  /** Stops the server gracefully and starts it again on the same configuration. */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after 30 s; resolves once the server is gone. */
  stop(): Promise<void>;
}

const CONFIG_ENV = 'swoosh';
const STOP_GRACE_MS = 30_000;
/** How long a closed mission's history stays readable in Temporal; its ledger is the lasting record. */
const RETENTION = '30 days';
const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;

const logFileOf = (folder: string): string => join(folder, 'temporal-server.log');

function writeConfig(options: ClusterOptions): void {
  const configDir = join(options.folder, 'config');
  mkdirSync(configDir, { recursive: true });
  const dynamicConfigFile = join(options.folder, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfigFile, stringify(dynamicConfig()));
  const config = serverConfig({
    ports: options.ports,
    postgres: options.postgres,
    dynamicConfigFile,
    logFile: logFileOf(options.folder),
  });
  writeFileSync(join(configDir, `${CONFIG_ENV}.yaml`), stringify(config));
}

/** Creates the namespace unless the cluster has it. */
async function ensureNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return;
  } catch (error) {
    if (!(isGrpcServiceError(error) && (error.code as number) === GRPC_NOT_FOUND)) throw error;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(RETENTION),
    });
  } catch (error) {
    if (!(isGrpcServiceError(error) && (error.code as number) === GRPC_ALREADY_EXISTS)) throw error;
  }
}

/**
 * Waits until the frontend answers, then makes sure of the namespace and SWOOSH's search
 * attributes. A server still joining its own ring answers Unavailable, and a namespace just
 * created may be unknown to a service for a moment, so every step is retried until the deadline.
 */
async function untilServing(
  address: string,
  namespace: string,
  deadline: number,
  gone: () => boolean,
): Promise<void> {
  while (!gone()) {
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 5_000 });
      await ensureNamespace(connection, namespace);
      await ensureSearchAttributes(connection, namespace);
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(
          `the Temporal server at ${address} did not serve namespace ${namespace}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      await delay(500);
    } finally {
      await connection?.close();
    }
  }
}

/**
 * Prepares the databases, writes the configuration and starts the server; resolves once it serves
 * the namespace with SWOOSH's search attributes. `onSpawn` gets each server process at once, so a
 * caller interrupted while it starts can stop it; a server that never serves is stopped before the
 * error is thrown.
 */
export async function startTemporalCluster(
  options: ClusterOptions,
  onSpawn: (server: Supervised) => void = () => undefined,
): Promise<TemporalCluster> {
  await prepareDatabases(options.binaries.sqlTool, options.postgres);
  writeConfig(options);
  const address = `127.0.0.1:${options.ports.frontend.grpc}`;
  const timeout = options.readyTimeoutMs ?? 120_000;

  const logFile = logFileOf(options.folder);
  const start = async (): Promise<Supervised> => {
    // What the server prints before its logger is configured (a config it cannot load) goes to
    // the file its logger then appends to.
    const output = openSync(logFile, 'a');
    let server: Supervised;
    try {
      server = startProcess(
        'temporal server',
        options.binaries.server,
        ['--root', options.folder, '--config', 'config', '--env', CONFIG_ENV, '--allow-no-auth', 'start'],
        { outputFd: output },
      );
    } finally {
      closeSync(output);
    }
    onSpawn(server);
    let gone = false;
    void server.exited.then(() => (gone = true));
    try {
      await Promise.race([
        (async () => {
          await waitForPort(options.ports.frontend.grpc, timeout);
          await untilServing(address, options.namespace, Date.now() + timeout, () => gone);
        })(),
        server.exited.then((code) => {
          throw new Error(`the Temporal server exited early with code ${code}; see ${logFile}`);
        }),
      ]);
    } catch (error) {
      await stopProcess(server, STOP_GRACE_MS);
      throw error;
    }
    return server;
  };

  let server = await start();
  return {
    address,
    get server() {
      return server;
    },
    async restart() {
      await stopProcess(server, STOP_GRACE_MS);
      server = await start();
    },
    stop: () => stopProcess(server, STOP_GRACE_MS),
  };
}
