/**
 * `npm run image`: SWOOSH's image, built without a registry, a builder or a container daemon, from
 * Debian's packages (docs/toolchain.md#the-image). It makes the final stage the Containerfile
 * declares, and reads every setting from there (Node.js version, user, entrypoint, command,
 * environment, labels, the source folders):
 *
 * 1. `mmdebstrap --variant=extract` unpacks Debian 12's C and C++ runtimes (libc6, libstdc++6,
 *    libgcc-s1): the contents of distroless/cc, no shell, no package manager; plus this machine's
 *    Node.js, which must be the Containerfile's NODE_VERSION, and a passwd entry for the app's user.
 * 2. The app: the source folders, and the production packages of package-lock.json copied from
 *    node_modules (no download; the Temporal core bridge keeps this platform's library only).
 * 3. `umoci` packs each as a layer of an OCI image layout, sets its config and tags it
 *    `<version>` and `dev` (k8s/base and k8s/overlays/dev), in `<cache>/image/oci` or the folder
 *    given as the first argument, built in a staging folder and renamed into place when complete.
 * 4. A smoke check runs the image's own entrypoint inside the image's root filesystem as its user:
 *    the worker's and the gateway's modules load and the workflow bundle (webpack, swc) builds;
 *    then each example agent runs with its catalogue command as the agent pods' user and writes
 *    a result its schema accepts.
 *
 * mmdebstrap and umoci come from Debian's packages, installed with apt-get when missing (as
 * temporal-dev/chromium.ts installs Chromium). Needs root: the image's files are root's, and the
 * smoke check changes root and user.
 */
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_AGENT_CATALOGUE } from '../schemas/agent-catalogue';
import { ValidationReport } from '../schemas/evidence';
import { DocumentIndex } from '../schemas/example-agents';
import { run } from './processes';
import { cacheDir } from './toolchain';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** The image's name in the manifests (k8s/base `image: swoosh`, tagged with the package version). */
export const IMAGE_NAME = 'swoosh';
/** The tag k8s/overlays/dev deploys. */
export const DEV_TAG = 'dev';
/** Debian release whose libraries the image carries: distroless/cc-debian12's. */
const DEBIAN_SUITE = 'bookworm';
const DEBIAN_PACKAGES = ['libc6', 'libstdc++6', 'libgcc-s1'];

export interface Instruction {
  op: string;
  args: string;
}
export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}
export interface Containerfile {
  /** ARGs before the first FROM, with their defaults. */
  args: Record<string, string>;
  stages: Stage[];
}

/** The Containerfile's instructions: continuation lines joined, comments and blank lines dropped. */
export function parseContainerfile(text: string): Containerfile {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    pending += `${pending ? ' ' : ''}${line.replace(/\\$/, '').trim()}`;
    if (!line.endsWith('\\')) {
      lines.push(pending);
      pending = '';
    }
  }
  const file: Containerfile = { args: {}, stages: [] };
  for (const line of lines) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { op: op.toUpperCase(), args };
    if (instruction.op === 'FROM') {
      const [from = '', as, name] = args.split(/\s+/);
      file.stages.push({ from, ...(as?.toUpperCase() === 'AS' ? { name } : {}), instructions: [] });
    } else if (file.stages.length === 0) {
      if (instruction.op !== 'ARG') throw new Error(`Containerfile: ${op} before the first FROM`);
      const [key = '', value = ''] = args.split('=');
      file.args[key] = value;
    } else {
      file.stages.at(-1)!.instructions.push(instruction);
    }
  }
  return file;
}

/** `KEY=value KEY2="a value"` pairs, as LABEL and ENV write them. */
function pairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [, key = '', value = ''] of text.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
    out[key] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return out;
}

/** The image config (OCI `config` fields) the Containerfile's final stage declares. */
export interface ImageConfig {
  User: string;
  WorkingDir: string;
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  Labels: Record<string, string>;
}

export function declaredConfig(file: Containerfile): ImageConfig {
  const stage = file.stages.at(-1);
  if (!stage) throw new Error('Containerfile: no FROM');
  const config: ImageConfig = { User: '', WorkingDir: '', Env: [], Entrypoint: [], Cmd: [], Labels: {} };
  for (const { op, args } of stage.instructions) {
    if (op === 'USER') config.User = args;
    if (op === 'WORKDIR') config.WorkingDir = args;
    if (op === 'ENV') config.Env.push(...Object.entries(pairs(args)).map(([k, v]) => `${k}=${v}`));
    if (op === 'LABEL') Object.assign(config.Labels, pairs(args));
    // Exec form only: a shell form would need a shell the image does not have.
    if (op === 'ENTRYPOINT') config.Entrypoint = JSON.parse(args) as string[];
    if (op === 'CMD') config.Cmd = JSON.parse(args) as string[];
  }
  return config;
}

/** The folders the build stage copies into /app (`COPY <dir>/ <dir>/`). */
export function sourceFolders(file: Containerfile): string[] {
  return file.stages[0]!.instructions.flatMap(({ op, args }) => {
    const match = op === 'COPY' ? /^([\w-]+)\/ \1\/$/.exec(args) : null;
    return match ? [match[1]!] : [];
  });
}

export function readContainerfile(): Containerfile {
  return parseContainerfile(readFileSync(join(repo, 'Containerfile'), 'utf8'));
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Where `npm run image` puts the OCI layout unless told otherwise. */
export function defaultLayout(): string {
  return join(cacheDir(), 'image', 'oci');
}

interface OciIndex {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}

function blob(layout: string, digest: string): unknown {
  return JSON.parse(readFileSync(join(layout, 'blobs', ...digest.split(':')), 'utf8'));
}

/** The config and layer files of `tag` in an OCI layout. */
export function readImage(
  layout: string,
  tag: string,
): { config: ImageConfig; os: string; architecture: string; layers: string[] } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as OciIndex;
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`${layout} has no tag ${tag}`);
  const manifest = blob(layout, entry.digest) as { config: { digest: string }; layers: { digest: string }[] };
  const image = blob(layout, manifest.config.digest) as {
    config: ImageConfig;
    os: string;
    architecture: string;
  };
  return {
    config: image.config,
    os: image.os,
    architecture: image.architecture,
    layers: manifest.layers.map((layer) => join(layout, 'blobs', ...layer.digest.split(':'))),
  };
}

const began = Date.now();
function log(message: string): void {
  console.log(`[swoosh image] ${((Date.now() - began) / 1000).toFixed(1).padStart(6)} s  ${message}`);
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, command)));
}

/** mmdebstrap and umoci, from Debian's packages when missing (packages kept in the toolchain cache). */
async function ensureDebianTools(): Promise<void> {
  const missing = ['mmdebstrap', 'umoci'].filter((tool) => !onPath(tool));
  if (missing.length === 0) return;
  if (!existsSync('/usr/bin/apt-get'))
    throw new Error(`${missing.join(' and ')} missing, and no apt-get to install them (Debian's packages).`);
  const archives = join(cacheDir(), 'apt-archives');
  mkdirSync(join(archives, 'partial'), { recursive: true });
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log(`installing Debian's ${missing.join(', ')}…`);
  await run('apt-get', ['update'], { env });
  await run(
    'apt-get',
    ['-o', `Dir::Cache::archives=${archives}`, 'install', '-y', '--no-install-recommends', ...missing],
    { env },
  );
}

/** Top-level folders of the packages package-lock.json installs for production (not `dev`). */
export function productionPackages(lock: {
  packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
}): string[] {
  const tops = new Set<string>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (entry.dev || entry.devOptional) continue;
    const match = /^node_modules\/(?:@[^/]+\/)?[^/]+/.exec(path);
    if (match) tops.add(match[0]);
  }
  return [...tops].sort();
}

/** Debian's libraries, Node.js and the user's passwd entry: the first layer. */
async function makeBase(dir: string, user: string): Promise<void> {
  await run('mmdebstrap', [
    '--variant=extract',
    `--include=${DEBIAN_PACKAGES.join(',')}`,
    '--quiet',
    DEBIAN_SUITE,
    dir,
  ]);
  // A runtime provides /dev; apt's state has no use in an image that has no apt.
  for (const path of ['dev', 'var/cache/apt', 'var/lib/apt', 'etc/apt']) {
    rmSync(join(dir, path), { recursive: true, force: true });
  }
  mkdirSync(join(dir, 'dev'));
  mkdirSync(join(dir, 'proc'));
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777);
  const [uid, gid = uid] = user.split(':');
  writeFileSync(
    join(dir, 'etc/passwd'),
    `root:x:0:0:root:/root:/usr/sbin/nologin\nswoosh:x:${uid}:${gid}:swoosh:/nonexistent:/usr/sbin/nologin\n`,
  );
  writeFileSync(join(dir, 'etc/group'), `root:x:0:\nswoosh:x:${gid}:\n`);
  mkdirSync(join(dir, 'usr/local/bin'), { recursive: true });
  cpSync(process.execPath, join(dir, 'usr/local/bin/node'));
  chmodSync(join(dir, 'usr/local/bin/node'), 0o755);
}

/** The app's sources and production packages: the second layer (its contents go to /app). */
function makeApp(dir: string, folders: string[]): void {
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json']) {
    cpSync(join(repo, file), join(dir, file));
  }
  for (const folder of folders) cpSync(join(repo, folder), join(dir, folder), { recursive: true });
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as Parameters<
    typeof productionPackages
  >[0];
  const modules = realpathSync(join(repo, 'node_modules'));
  for (const top of productionPackages(lock)) {
    const from = join(modules, top.slice('node_modules/'.length));
    // Optional packages for other platforms (esbuild's, swc's) are in the lock but not installed.
    if (existsSync(from)) cpSync(from, join(dir, top), { recursive: true });
  }
  const releases = join(dir, 'node_modules/@temporalio/core-bridge/releases');
  const triple = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-unknown-linux-gnu`;
  for (const release of readdirSync(releases)) {
    if (release !== triple) rmSync(join(releases, release), { recursive: true });
  }
}

/** Inside the unpacked image, as its user, with its entrypoint: the app's modules load and bundle. */
async function smokeCheck(rootfs: string, config: ImageConfig): Promise<void> {
  writeFileSync(
    join(rootfs, config.WorkingDir, 'image-smoke-check.ts'),
    [
      "import { bundleWorkflowCode } from '@temporalio/worker';",
      "import { bundlerOptions, workflowsPath } from './workers/worker.ts';",
      "await import('./api/app.ts');",
      'const bundle = await bundleWorkflowCode({ workflowsPath, ...bundlerOptions });',
      'console.log(`[swoosh image] smoke check: modules load, workflow bundle ${bundle.code.length} bytes, uid ${process.getuid?.()}`);',
    ].join('\n'),
  );
  const [uid, gid = uid] = config.User.split(':');
  await runInImage(
    rootfs,
    config,
    { uid: uid!, gid: gid! },
    [...config.Entrypoint, 'image-smoke-check.ts'],
    {},
  );
}

/**
 * Runs `argv` in the unpacked image's root filesystem from its working folder, as `user`, with
 * the image's environment and `env` over it, in its own mount and PID namespaces.
 */
function runInImage(
  rootfs: string,
  config: ImageConfig,
  user: { uid: string; gid: string },
  argv: string[],
  env: Record<string, string>,
): Promise<void> {
  // A runtime mounts /proc, and @swc/core reads it (the mount table) to place its native binding.
  return run(
    'unshare',
    [
      '--mount',
      '--pid',
      '--fork',
      '--mount-proc=/proc',
      `--root=${rootfs}`,
      `--wd=${config.WorkingDir}`,
      `--setgid=${user.gid}`,
      `--setuid=${user.uid}`,
      '--',
      ...argv,
    ],
    { env: { ...imageEnv(config), ...env } },
  );
}

function imageEnv(config: ImageConfig): Record<string, string> {
  return Object.fromEntries(config.Env.map((e) => e.split(/=(.*)/s) as [string, string]));
}

/** The user agent pods run as (k8s/base/agent-job-template.yaml), not the image's own. */
const AGENT_UID = '65532';

/**
 * The example agents as an agent Job runs them in this image: the catalogue's command from the
 * image's working folder, as the agent pods' user, writing only to their work folder; each must
 * write a result its schema accepts.
 */
async function smokeCheckAgents(rootfs: string, config: ImageConfig): Promise<void> {
  const objective = '# Smoke check\nIndex and review this text; see https://example.org/swoosh.';
  const checks = [
    { id: 'indexer', file: 'index.json', schema: DocumentIndex },
    { id: 'reviewer', file: 'report.json', schema: ValidationReport },
  ] as const;
  for (const { id, file, schema } of checks) {
    const agent = DEFAULT_AGENT_CATALOGUE.agents[id]!;
    const work = `/tmp/smoke-${id}`;
    mkdirSync(join(rootfs, work), { recursive: true });
    chownSync(join(rootfs, work), Number(AGENT_UID), Number(AGENT_UID));
    await runInImage(rootfs, config, { uid: AGENT_UID, gid: AGENT_UID }, [...agent.command, ...agent.args], {
      SWOOSH_INPUTS: JSON.stringify({ objective }),
      SWOOSH_MISSION_ID: 'image-smoke-check',
      SWOOSH_JOB_NAME: `${id}-smoke-check`,
      SWOOSH_WORKDIR: work,
      HOME: work,
      TMPDIR: work,
    });
    const result = schema.safeParse(JSON.parse(readFileSync(join(rootfs, work, file), 'utf8')));
    if (!result.success)
      throw new Error(`the ${id} agent wrote a ${file} its schema refuses: ${result.error.message}`);
    rmSync(join(rootfs, work), { recursive: true });
  }
}

export async function buildImage(layout = defaultLayout()): Promise<void> {
  const started = Date.now();
  const file = readContainerfile();
  const config = declaredConfig(file);
  const version = packageVersion();
  if (config.Labels['org.opencontainers.image.version'] !== version) {
    throw new Error(`Containerfile's version label is not package.json's version ${version}.`);
  }
  const nodeVersion = file.args.NODE_VERSION;
  if (process.version !== `v${nodeVersion}`) {
    throw new Error(
      `The image carries this machine's Node.js, ${process.version}, but the Containerfile pins ${nodeVersion}.`,
    );
  }
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new Error('npm run image runs as root on Linux: the image is made of root-owned files.');
  }
  await ensureDebianTools();

  const work = mkdtempSync(join(tmpdir(), 'swoosh-image-'));
  const staging = `${layout}.staging-${process.pid}`;
  const image = `${staging}:${version}`;
  // Layers come from `umoci repack` (a diff of the unpacked bundle), not `umoci insert`: Debian's
  // umoci 0.4.7 leaves the tar footer off inserted layers, which GNU tar then refuses (umoci#436).
  const bundle = join(work, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  const repack = (createdBy: string, refresh: boolean) =>
    run('umoci', [
      'repack',
      ...(refresh ? ['--refresh-bundle'] : []),
      `--history.created_by=${createdBy}`,
      '--image',
      image,
      bundle,
    ]);
  try {
    mkdirSync(join(layout, '..'), { recursive: true });
    rmSync(staging, { recursive: true, force: true });
    await run('umoci', ['init', '--layout', staging]);
    await run('umoci', ['new', '--image', image]);
    await run('umoci', ['unpack', '--image', image, bundle]);

    log(`Debian ${DEBIAN_SUITE} (${DEBIAN_PACKAGES.join(', ')}) and Node.js ${process.version}…`);
    await makeBase(rootfs, config.User);
    await repack(`mmdebstrap --variant=extract ${DEBIAN_SUITE} ${DEBIAN_PACKAGES.join(' ')}; node`, true);
    log(`the app: ${sourceFolders(file).join(', ')} and production packages…`);
    makeApp(join(rootfs, config.WorkingDir), sourceFolders(file));
    await repack('the app and its production packages', false);

    log('setting the config and tags…');
    await run('umoci', [
      'config',
      '--image',
      image,
      `--config.user=${config.User}`,
      `--config.workingdir=${config.WorkingDir}`,
      ...config.Env.map((e) => `--config.env=${e}`),
      ...config.Entrypoint.map((e) => `--config.entrypoint=${e}`),
      ...config.Cmd.map((c) => `--config.cmd=${c}`),
      ...Object.entries(config.Labels).map(([k, v]) => `--config.label=${k}=${v}`),
      `--architecture=${process.arch === 'arm64' ? 'arm64' : 'amd64'}`,
      '--os=linux',
    ]);
    await run('umoci', ['tag', '--image', image, DEV_TAG]);
    await run('umoci', ['gc', '--layout', staging]);

    // The bundle's rootfs is what the two layers were made from; the check's files stay out of them.
    log('smoke check inside the image…');
    await smokeCheck(rootfs, config);
    await smokeCheckAgents(rootfs, config);
    log('smoke check passed: the worker and gateway modules load, the example agents write their results');
    rmSync(layout, { recursive: true, force: true });
    renameSync(staging, layout);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
  }
  const size = readdirSync(join(layout, 'blobs/sha256')).reduce(
    (sum, name) => sum + statSync(join(layout, 'blobs/sha256', name)).size,
    0,
  );
  log(
    `${IMAGE_NAME}:${version} and ${IMAGE_NAME}:${DEV_TAG} in ${layout} (${(size / 1e6).toFixed(0)} MB compressed), ` +
      `built in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildImage(process.argv[2]).catch((error: unknown) => {
    console.error(`[swoosh image] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
