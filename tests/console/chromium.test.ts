/**
 * Which Chromium the browser test launches: SWOOSH_CHROMIUM when set, and a named executable that
 * does not exist is an error that names the variable, never a silent install of another one.
 */
import { afterEach, expect, test } from 'vitest';
import { ensureChromium, findChromium } from '../../temporal-dev/chromium';

const saved = process.env.SWOOSH_CHROMIUM;
afterEach(() => {
  if (saved === undefined) delete process.env.SWOOSH_CHROMIUM;
  else process.env.SWOOSH_CHROMIUM = saved;
});

test('SWOOSH_CHROMIUM names the executable', async () => {
  process.env.SWOOSH_CHROMIUM = process.execPath;
  expect(findChromium()).toBe(process.execPath);
  expect(await ensureChromium()).toBe(process.execPath);
});

test('a SWOOSH_CHROMIUM that does not exist is refused by name', async () => {
  process.env.SWOOSH_CHROMIUM = '/nonexistent/chromium';
  expect(findChromium()).toBeUndefined();
  await expect(ensureChromium()).rejects.toThrow('SWOOSH_CHROMIUM=/nonexistent/chromium does not exist');
});
