/** `npm run setup`: make sure the Temporal toolchain (CLI, server, test server), Chromium, PostgreSQL, the local Kubernetes control plane and the Kyverno CLI are present, building or installing them on first run. */
import { ensureChromium } from './chromium';
import { ensureKubeToolchain } from './kube';
import { ensureKyverno } from './kyverno';
import { ensurePostgres } from './postgres';
import { ensureTemporalServer, ensureToolchain } from './toolchain';

const started = Date.now();
try {
  const { temporalCli, testServer } = await ensureToolchain();
  console.log(`[swoosh toolchain] temporal CLI: ${temporalCli}`);
  console.log(`[swoosh toolchain] test server: ${testServer}`);
  console.log(`[swoosh toolchain] temporal server: ${Object.values(await ensureTemporalServer()).join(' ')}`);
  console.log(`[swoosh toolchain] chromium: ${await ensureChromium()}`);
  console.log(`[swoosh toolchain] postgresql: ${(await ensurePostgres()).postgres}`);
  console.log(`[swoosh toolchain] kubernetes: ${Object.values(await ensureKubeToolchain()).join(' ')}`);
  console.log(`[swoosh toolchain] kyverno: ${await ensureKyverno()}`);
  console.log(`[swoosh toolchain] ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  console.error(`[swoosh toolchain] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
