/**
 * Provides a local Kubernetes control plane for the cluster tests, built from Go modules like the
 * Temporal CLI (toolchain.ts): kube-apiserver, kube-controller-manager and kube-scheduler from
 * k8s.io/kubernetes, the etcd server from go.etcd.io/etcd, and kwok, whose simulated node takes the
 * place of kubelets so Job pods are scheduled, run and finish without containers.
 *
 * k8s.io/kubernetes cannot be `go install`ed at a version (its go.mod points its staging modules at
 * folders of its own repository), nor can the etcd server, so both build through the wrapper
 * module in `temporal-dev/kube/`, which pins every one of them. kwok installs as it is.
 *
 * Each set is built once into `<cache>/<tool>/<version>/`: first into a staging folder, renamed
 * into place when complete, so an interrupted build never leaves a binary a later run would trust.
 * A lock folder makes a second process wait for the first build instead of compiling it again.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './toolchain';

/** The Kubernetes release; temporal-dev/kube/go.mod pins k8s.io/kubernetes and its staging modules to it. */
export const KUBERNETES_VERSION = 'v1.34.4';
/** The etcd server k8s.io/kubernetes v1.34.4 itself requires (temporal-dev/kube/go.mod). */
export const ETCD_VERSION = 'v3.6.4';
export const KWOK_VERSION = 'v0.8.0';

const kubeModule = join(dirname(fileURLToPath(import.meta.url)), 'kube');

export interface KubeToolchain {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
}

function log(message: string): void {
  console.log(`[swoosh toolchain] ${message}`);
}

function goEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, GOFLAGS: '-mod=mod', ...extra };
}

function requireGo(): void {
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).error) {
    throw new Error(
      "'go' is not installed; it is needed to build the local Kubernetes control plane from Go modules.",
    );
  }
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (err) => reject(new Error(`could not start ${command}: ${err.message}`)));
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}`)),
    );
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Holds `<folder>.lock` while `build` runs. A lock whose owner is gone is taken over; a live
 * owner is waited for, after which the caller finds its output in place.
 */
async function withBuildLock<T>(folder: string, build: () => Promise<T>): Promise<T> {
  const lock = `${folder}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  let waited = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSyncOr(join(lock, 'pid'), ''));
      const young = Date.now() - statSync(lock).mtimeMs < 10_000;
      if (!young && !(owner > 0 && pidAlive(owner))) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!waited) log(`another process (pid ${owner || '?'}) is building into ${folder}; waiting for it.`);
      waited = true;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  try {
    return await build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function readFileSyncOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * Builds `names` into `<cache>/<tool>/<version>/` unless they are there: `produce(staging)` writes
 * them into an empty staging folder, which is then renamed into place whole.
 */
async function ensureBuilt(
  tool: string,
  version: string,
  names: string[],
  describe: string,
  produce: (staging: string) => Promise<void>,
): Promise<Record<string, string>> {
  const folder = join(cacheDir(), tool, version);
  const paths = Object.fromEntries(names.map((name) => [name, join(folder, name)]));
  const complete = () => names.every((name) => existsSync(paths[name]!));
  if (complete()) return paths;
  requireGo();
  await withBuildLock(folder, async () => {
    if (complete()) return;
    log(`${describe} ${version} not found in the cache; building it once from Go modules into ${folder}.`);
    log(
      'This downloads its modules through the Go module proxy and compiles; expect many minutes on two cores.',
    );
    const staging = join(dirname(folder), `.build-${version}-${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    const started = Date.now();
    try {
      await produce(staging);
      const missing = names.filter((name) => !existsSync(join(staging, name)));
      if (missing.length > 0) throw new Error(`the build of ${describe} produced no ${missing.join(', ')}`);
      rmSync(folder, { recursive: true, force: true });
      renameSync(staging, folder);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    log(`${describe} ${version} built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${folder}`);
  });
  return paths;
}

/** The control plane's binaries, built on first use; later calls only check they are there. */
export async function ensureKubeToolchain(): Promise<KubeToolchain> {
  const kube = await ensureBuilt(
    'kubernetes',
    KUBERNETES_VERSION,
    ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'],
    'Kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler) with etcd',
    async (staging) => {
      // One `go build` of the wrapper module's tools: the four share most of their packages.
      await run('go', ['build', '-o', staging, 'tool'], { cwd: kubeModule, env: goEnv() });
      // Go names the etcd server binary after its module path, go.etcd.io/etcd/server/v3.
      renameSync(join(staging, 'server'), join(staging, 'etcd'));
    },
  );
  const kwok = await ensureBuilt('kwok', KWOK_VERSION, ['kwok'], 'kwok', async (staging) => {
    await run('go', ['install', `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`], {
      env: goEnv({ GOBIN: staging }),
    });
  });
  return {
    etcd: kube.etcd!,
    kubeApiserver: kube['kube-apiserver']!,
    kubeControllerManager: kube['kube-controller-manager']!,
    kubeScheduler: kube['kube-scheduler']!,
    kwok: kwok.kwok!,
  };
}
