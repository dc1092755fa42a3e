/**
 * Provides the Kyverno CLI (`kubectl-kyverno`), pinned and built from Go modules like the rest of
 * the toolchain, so the tests check k8s/'s ClusterPolicy with Kyverno's own engine instead of a
 * reading of its patterns (docs/toolchain.md#kyverno). Kyverno's go.mod replaces a module with its
 * own fork, which `go install …@version` refuses, so it builds through the wrapper module in
 * `temporal-dev/kyverno/`, once, into `<cache>/kyverno/<version>/` (go-build.ts).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt, goEnv } from './go-build';
import { run } from './processes';
import { cacheDir } from './toolchain';

/** The Kyverno release; temporal-dev/kyverno/go.mod pins it and its dependencies. */
export const KYVERNO_VERSION = 'v1.19.1';

const kyvernoModule = join(dirname(fileURLToPath(import.meta.url)), 'kyverno');

/** The path of `kubectl-kyverno`, built on first use; later calls only check it is there. */
export async function ensureKyverno(): Promise<string> {
  const built = await ensureBuilt({
    folder: join(cacheDir(), 'kyverno', KYVERNO_VERSION),
    version: KYVERNO_VERSION,
    names: ['kubectl-kyverno'],
    describe: 'the Kyverno CLI',
    expect: 'about 10 minutes on two cores, 2.5 GB of modules',
    produce: async (staging) => {
      // Without debug information: a fifth smaller (about 300 MB), and the tests need no debugger.
      await run('go', ['build', '-ldflags=-s -w', '-o', staging, 'tool'], {
        cwd: kyvernoModule,
        env: goEnv(),
      });
    },
  });
  return built['kubectl-kyverno']!;
}
