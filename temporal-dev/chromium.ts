/**
 * Chromium for the approvals page's browser test (tests/console/): the test drives a real headless
 * browser. `SWOOSH_CHROMIUM` names one; otherwise Debian's `chromium` on PATH; otherwise, on a
 * Debian machine where we are root (a CI container), Debian's package is installed (apt.ts).
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { aptInstall, canAptInstall } from './apt';

const NAMES = ['chromium', 'chromium-browser'];

function log(message: string): void {
  console.log(`[swoosh toolchain] ${message}`);
}

/** The Chromium executable the tests launch, or undefined when none is installed. */
export function findChromium(): string | undefined {
  const fromEnv = process.env.SWOOSH_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of NAMES) {
      const candidate = join(dir, name);
      if (dir && existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

/** Chromium's path, installing Debian's package when it is missing and this process may. */
export async function ensureChromium(): Promise<string> {
  const found = findChromium();
  if (found) return found;
  if (process.env.SWOOSH_CHROMIUM)
    throw new Error(`SWOOSH_CHROMIUM=${process.env.SWOOSH_CHROMIUM} does not exist.`);
  if (!canAptInstall()) {
    throw new Error(
      "Chromium is not installed; the approvals page's browser test needs it. " +
        'Install it (Debian: apt-get install chromium) or set SWOOSH_CHROMIUM to its executable.',
    );
  }
  const started = Date.now();
  await aptInstall('Chromium', ['chromium']);
  const installed = findChromium();
  if (!installed) throw new Error('apt-get installed chromium, but no chromium executable is on PATH.');
  log(`Chromium: installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return installed;
}
