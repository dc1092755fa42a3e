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
 * Each set is built once into `<cache>/<tool>/<version>/` by go-build.ts.
 */
import { renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt, goEnv } from './go-build';
import { run } from './processes';
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

const MANY_MINUTES = 'expect many minutes on two cores';

/** The control plane's binaries, built on first use; later calls only check they are there. */
export async function ensureKubeToolchain(): Promise<KubeToolchain> {
  const kube = await ensureBuilt({
    folder: join(cacheDir(), 'kubernetes', KUBERNETES_VERSION),
    version: KUBERNETES_VERSION,
    names: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'],
    describe: 'Kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler) with etcd',
    expect: MANY_MINUTES,
    produce: async (staging) => {
      // One `go build` of the wrapper module's tools: the four share most of their packages.
      await run('go', ['build', '-o', staging, 'tool'], { cwd: kubeModule, env: goEnv() });
      // Go names the etcd server binary after its module path, go.etcd.io/etcd/server/v3.
      renameSync(join(staging, 'server'), join(staging, 'etcd'));
    },
  });
  const kwok = await ensureBuilt({
    folder: join(cacheDir(), 'kwok', KWOK_VERSION),
    version: KWOK_VERSION,
    names: ['kwok'],
    describe: 'kwok',
    expect: MANY_MINUTES,
    produce: async (staging) => {
      await run('go', ['install', `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`], {
        env: goEnv({ GOBIN: staging }),
      });
    },
  });
  return {
    etcd: kube.etcd!,
    kubeApiserver: kube['kube-apiserver']!,
    kubeControllerManager: kube['kube-controller-manager']!,
    kubeScheduler: kube['kube-scheduler']!,
    kwok: kwok.kwok!,
  };
}
