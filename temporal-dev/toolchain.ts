/**
 * Provides the Temporal CLI (dev server), the Temporal server with its SQL schema tool (a cluster
 * on PostgreSQL) and Temporal's Java time-skipping test server without the SDK's own downloads,
 * which need the open internet. All come from package registries (Go module proxy, Maven
 * Central), pinned, built once into a cache outside the clone and reused by every later run and
 * every fresh clone on the same machine.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt, goEnv } from './go-build';
import { freePort, run, startProcess, stopProcess, waitForPort } from './processes';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEST_SERVER_VERSION = '1.31.0';
/**
 * The server the CLI above embeds (its go.mod requires go.temporal.io/server v1.29.1), so the two
 * builds share their modules and most of Go's build cache.
 */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

function log(message: string): void {
  console.log(`[swoosh toolchain] ${message}`);
}

/** The cache shared by every clone on this machine: SWOOSH_CACHE_DIR, else XDG, else ~/.cache. */
export function cacheDir(): string {
  const base =
    process.env.SWOOSH_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'swoosh');
  mkdirSync(base, { recursive: true });
  return base;
}

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function requireTool(command: string, why: string): void {
  if (spawnSync(command, ['-version'], { stdio: 'ignore' }).error) {
    throw new Error(`'${command}' is not installed; it is needed ${why}.`);
  }
}

/**
 * Path of a Temporal CLI: TEMPORAL_CLI if set, a `temporal` on PATH, or one built from Go modules
 * into the cache (go-build.ts: staged, renamed into place whole).
 */
export async function ensureTemporalCli(): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} does not exist.`);
    return fromEnv;
  }
  const onPath = findOnPath('temporal');
  if (onPath) return onPath;

  const built = await ensureBuilt({
    folder: join(cacheDir(), 'temporal-cli', TEMPORAL_CLI_VERSION),
    version: TEMPORAL_CLI_VERSION,
    names: ['temporal'],
    describe: 'Temporal CLI',
    expect: 'expect a few minutes',
    produce: (staging) =>
      run('go', ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`], {
        env: goEnv({ GOBIN: staging }),
      }),
  });
  return built.temporal!;
}

export interface TemporalServerBinaries {
  /** `temporal-server`: go.temporal.io/server/cmd/server, every service in one process. */
  server: string;
  /** `temporal-sql-tool`: creates the databases and applies the schema it embeds. */
  sqlTool: string;
}

/**
 * The Temporal server and its SQL schema tool, for a cluster on PostgreSQL (temporal-cluster.ts),
 * built from go.temporal.io/server at TEMPORAL_SERVER_VERSION into the cache. The server's go.mod
 * has no replace directives, so `go install …@version` builds it as released.
 */
export async function ensureTemporalServer(): Promise<TemporalServerBinaries> {
  const built = await ensureBuilt({
    folder: join(cacheDir(), 'temporal-server', TEMPORAL_SERVER_VERSION),
    version: TEMPORAL_SERVER_VERSION,
    names: ['temporal-server', 'temporal-sql-tool'],
    describe: 'Temporal server (temporal-server, temporal-sql-tool)',
    expect: 'expect a few minutes when the Temporal CLI was built here before, many more on a fresh machine',
    produce: async (staging) => {
      await run(
        'go',
        [
          'install',
          `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`,
          `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
        ],
        { env: goEnv({ GOBIN: staging }) },
      );
      // Go names each binary after its package folder.
      renameSync(join(staging, 'server'), join(staging, 'temporal-server'));
      renameSync(join(staging, 'sql'), join(staging, 'temporal-sql-tool'));
    },
  });
  return { server: built['temporal-server']!, sqlTool: built['temporal-sql-tool']! };
}

/**
 * Path of an executable that starts Temporal's Java test server as `<exe> <port>`, which is how
 * the SDK's `existing-path` option invokes it. Maven resolves the pinned jar and its runtime
 * classpath from Maven Central into the cache.
 */
export async function ensureTestServer(): Promise<string> {
  const home = join(cacheDir(), 'temporal-test-server', TEST_SERVER_VERSION);
  const lib = join(home, 'lib');
  const archive = join(home, 'classes.jsa');
  const wrapper = join(home, 'temporal-test-server');
  // The wrapper is written last: when it names the archive, everything before it is in place.
  if (existsSync(wrapper) && readFileSync(wrapper, 'utf8').includes(archive)) return wrapper;

  if (!existsSync(lib)) await resolveTestServerJars(home, lib);
  if (!existsSync(archive)) await dumpClassArchive(lib, archive);
  const script = [
    '#!/bin/sh',
    "# Starts Temporal's Java time-skipping test server; the SDK passes the port as the first argument.",
    '# The class-data archive makes it listen in about 0.5 s instead of 1.2 s: the SDK gives it 5 s,',
    '# which a loaded machine used to miss. -Xshare:auto ignores an archive this JVM cannot use.',
    `exec java -XX:SharedArchiveFile='${archive}' -Xshare:auto -cp '${lib}/*' io.temporal.testserver.TestServer "$@"`,
    '',
  ].join('\n');
  writeFileSync(`${wrapper}.tmp`, script);
  chmodSync(`${wrapper}.tmp`, 0o755);
  renameSync(`${wrapper}.tmp`, wrapper);
  return wrapper;
}

async function resolveTestServerJars(home: string, lib: string): Promise<void> {
  requireTool('mvn', "to resolve Temporal's Java test server from Maven Central");
  requireTool('java', "to run Temporal's Java test server");
  log(`Resolving io.temporal:temporal-test-server:${TEST_SERVER_VERSION} with Maven into ${home}.`);
  const staging = join(home, `.lib-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    await run(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        join(projectRoot, 'temporal-dev', 'test-server', 'pom.xml'),
        `-Dtemporal.test-server.version=${TEST_SERVER_VERSION}`,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${staging}`,
        '-DincludeScope=runtime',
      ],
      {},
    );
    rmSync(lib, { recursive: true, force: true });
    renameSync(staging, lib);
    log(`${readdirSync(lib).length} jars resolved.`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Runs the test server once, until it listens, and has the JVM write the classes it loaded to a
 * class-data-sharing archive at exit. Best effort: without the archive the server starts slower.
 */
async function dumpClassArchive(lib: string, archive: string): Promise<void> {
  const staging = `${archive}.${process.pid}.tmp`;
  const port = await freePort();
  log('Writing a class-data archive so the Java test server starts faster.');
  const server = startProcess(
    'test server (class archive)',
    'java',
    [
      `-XX:ArchiveClassesAtExit=${staging}`,
      '-cp',
      `${lib}/*`,
      'io.temporal.testserver.TestServer',
      String(port),
    ],
    { quiet: true },
  );
  try {
    await waitForPort(port, 60_000);
  } catch (error) {
    log(`No class-data archive: ${(error as Error).message}.`);
  } finally {
    await stopProcess(server, 30_000);
  }
  if (existsSync(staging)) renameSync(staging, archive);
}

export interface Toolchain {
  temporalCli: string;
  testServer: string;
}

export async function ensureToolchain(): Promise<Toolchain> {
  const temporalCli = await ensureTemporalCli();
  const testServer = await ensureTestServer();
  return { temporalCli, testServer };
}
