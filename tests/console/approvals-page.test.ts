/**
 * The approvals page in a real headless Chromium against a real gateway, worker and Temporal dev
 * server. A person's key is a council member and an approval signer of one mission: the page lists
 * the mission while it waits for the vote, then while it waits in REVIEW; the person loads the key
 * file, votes, is refused outside the review window (the page shows why), and approves inside it,
 * which the ledger records under their key.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CONSOLE_CSP } from '../../api/console/serve';
import type { DecisionRecord } from '../../schemas/decision-record';
import { ensureChromium } from '../../temporal-dev/chromium';
import { windowAt, type WindowSchedule } from '../../workflows/statechart/window';
import { startGatewayFixture, type GatewayFixture } from '../gateway/support/gateway';
import { newSigner, prompt } from '../lifecycle/support/missions';
import { eventually } from '../support/temporal';

/** 20-second bars with an 8-second review window and 12 seconds outside it: room to act in either. */
const SCHEDULE: WindowSchedule = {
  name: 'backbeat',
  tempoBpm: 120,
  barBeats: 40,
  phases: { PLAN: 0.1, WORK: 0.3, REVIEW: 0.4, REVERB: 0.2 },
  amplitude: 0.25,
  backoffBaseMs: 200,
  backoffMaxMs: 2_000,
};

const person = newSigner();
let fx: GatewayFixture;
let browser: Browser;
let page: Page;
let keyFile: string;
const missionId = crypto.randomUUID();
/**
 * Script errors and what the console reports as errors, such as policy violations: none are
 * expected. Failed requests are left out: refusals are answers the page shows.
 */
const pageErrors: string[] = [];

beforeAll(async () => {
  fx = await startGatewayFixture('approvals page');
  browser = await chromium.launch({ executablePath: await ensureChromium(), headless: true });
  page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      pageErrors.push(message.text());
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  // The key file as SWOOSH writes one (host/keys.ts): 0600, the tweetnacl 64-byte secret in base64.
  keyFile = join(mkdtempSync(join(tmpdir(), 'swoosh-console-')), 'reviewer.key.json');
  writeFileSync(
    keyFile,
    JSON.stringify({
      format: 'swoosh-ed25519-key/v1',
      purpose: 'orchestrator',
      keyId: person.key,
      secretKey: Buffer.from(person.secret).toString('base64'),
      createdAt: new Date().toISOString(),
    }),
    { mode: 0o600 },
  );
  const started = await fx.as.operator.startMission({
    ...prompt(missionId),
    config: {
      signers: [{ key: person.key, classes: ['approval'], label: 'reviewer' }],
      council: { roles: ['reviewer'], members: [{ id: 'reviewer-1', key: person.key }] },
      schedule: SCHEDULE,
    },
  });
  if (started.status !== 201) throw new Error(`mission not started: ${started.status}`);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await fx?.env.client.workflow
    .getHandle(`mission-${missionId}`)
    .terminate('test finished')
    .catch(() => undefined);
  await fx?.stop();
});

/** The mission's card once the page lists it as waiting for `kind` (visibility trails by moments). */
async function cardFor(kind: 'vote' | 'approval'): Promise<Locator> {
  const card = page.locator(`article[data-mission="${missionId}"][data-waiting="${kind}"]`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    await page.click('#refresh');
    // A card from an earlier listing is replaced when this one lands: act only on the new one.
    await expect.poll(() => page.textContent('#list-status'), { timeout: 30_000 }).not.toBe('Loading…');
    try {
      await card.waitFor({ timeout: 3_000 });
      return card;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
}

async function resultOf(card: Locator): Promise<string> {
  const result = card.locator('.result');
  await expect.poll(() => result.textContent(), { timeout: 30_000 }).not.toMatch(/^(|Signing…)$/);
  return (await result.textContent()) ?? '';
}

async function approvalsInLedger(): Promise<DecisionRecord[]> {
  const ledger = await fx.as.viewer.ledger(missionId, { pageSize: 500 });
  if (!ledger.ok) throw new Error(`no ledger: ${ledger.status}`);
  return ledger.body.records.filter(
    (r): r is DecisionRecord => r.kind === 'decision' && r.transition === 'Execution_Approve',
  );
}

async function reviewState() {
  const state = await eventually(
    () => fx.as.viewer.getState(missionId, 'Execution'),
    (r) => r.ok && (r.body.projection.execution as { phase: string }).phase === 'REVIEW',
    180_000,
  );
  if (!state.ok) throw new Error(`no state: ${state.status}`);
  const execution = state.body.projection.execution as {
    phase: string;
    evidence: string[];
    window_id: string;
  };
  expect(execution.phase).toBe('REVIEW');
  return execution;
}

/** Waits (polling, not asserting on time) until the clock is where `ok` says in the mission's schedule. */
async function clockWhere(ok: (w: ReturnType<typeof windowAt>, now: number) => boolean): Promise<void> {
  const now = await eventually(
    () => Promise.resolve(Date.now()),
    (t) => ok(windowAt(SCHEDULE, t), t),
    60_000,
  );
  expect(ok(windowAt(SCHEDULE, now), now)).toBe(true);
}

test('the page and its scripts are served with a same-origin-only policy', async () => {
  for (const path of [
    '/console',
    '/console/console.js',
    '/console/console.css',
    '/console/nacl-fast.min.js',
  ]) {
    const res = await fetch(new URL(path, fx.running.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  }
  expect(CONSOLE_CSP).toContain("script-src 'self';");
  expect(CONSOLE_CSP).not.toContain('unsafe-inline');
});

test('the browser enforces the policy: a script injected inline does not run', async () => {
  await page.goto(new URL('/console', fx.running.url).toString());
  await expect.poll(() => page.textContent('#key-status')).toBe('No key loaded.');
  await page.evaluate(
    "const s = document.createElement('script'); s.textContent = 'window.injected = true'; document.head.append(s)",
  );
  expect(await page.evaluate('window.injected === true')).toBe(false);
  await expect.poll(() => pageErrors.join('\n')).toContain('Content Security Policy');
  pageErrors.length = 0;
});

test('with a pasted token and a loaded key file, a council member votes from the page', async () => {
  await page.fill('#token', fx.tokens.operator);
  await page.click('#token-form button[type=submit]');
  await expect.poll(() => page.textContent('#token-status')).toContain('A token is set');
  // The token is kept for the tab only, and the input does not hold it any more.
  expect(await page.evaluate("sessionStorage.getItem('swoosh.console.token')")).toBe(fx.tokens.operator);
  expect(await page.inputValue('#token')).toBe('');

  await page.setInputFiles('#key-file', keyFile);
  await expect.poll(() => page.textContent('#key-status')).toBe(`Signing as ${person.key}`);

  const card = await cardFor('vote');
  await expect.poll(() => card.textContent()).toContain('reviewer-1');
  await card.locator('button.vote').click();
  expect(await resultOf(card)).toBe('Voted as reviewer-1: 1 of 1');
  await eventually(
    () => fx.as.viewer.getState(missionId, 'Council'),
    (r) => r.ok && (r.body.projection.council as { phase: string }).phase !== 'ELECT',
    30_000,
  );
}, 120_000);

test('an approval outside the review window is refused, and the page says why', async () => {
  await reviewState();
  // REVERB: out of the review window, with at least 8 s (PLAN and WORK) before it opens again.
  await clockWhere((w) => w.phase === 'REVERB');
  const card = await cardFor('approval');
  await card.locator('button.approve').click();
  const result = await resultOf(card);
  expect(result).toContain('refused by window');
  expect(result).toContain("window 'review' is closed");
  expect(await card.locator('.result').getAttribute('class')).toContain('refused');
  expect(await approvalsInLedger()).toEqual([]);
}, 240_000);

test('a listing that lands after a later one does not replace the cards the later one showed', async () => {
  await reviewState();
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let first = true;
  await page.route('**/missions?pageSize=100', async (route) => {
    if (first) {
      first = false;
      await held;
    }
    await route.continue();
  });
  try {
    await page.click('#refresh');
    const card = await cardFor('approval');
    const shown = await card.elementHandle();
    // The held listing lands now; before the fix it went on to read the mission and redraw.
    const staleAnswer = page.waitForResponse((r) => r.url().endsWith('/missions?pageSize=100'));
    release();
    await staleAnswer;
    await page
      .waitForResponse((r) => r.url().endsWith(`/missions/${missionId}`), { timeout: 2_000 })
      .catch(() => undefined);
    await page.evaluate('new Promise((resolve) => setTimeout(resolve, 300))');
    // A replaced card is detached from the page, and so no longer visible.
    expect(await shown?.isVisible()).toBe(true);
  } finally {
    await page.unroute('**/missions?pageSize=100');
  }
}, 240_000);

test('an approval in the review window is signed with the key and recorded in the ledger', async () => {
  const execution = await reviewState();
  // In the review window with time left; the beat entered review in an earlier bar, whose window
  // id the state still shows, so the page also has to take the current window from the refusal.
  await clockWhere((w, now) => w.phase === 'REVIEW' && w.phaseEnd - now > 5_000);
  const card = await cardFor('approval');
  await expect.poll(() => card.textContent()).toContain(execution.evidence[0]!);
  await card.locator('button.approve').click();
  const result = await resultOf(card);
  expect(result).toMatch(/^Approved: ucxl:\/\/swoosh:/);

  // The answer comes before the ledger append (docs/lifecycle.md#the-ledger-append).
  const approvals = await eventually(approvalsInLedger, (a) => a.length > 0, 30_000);
  expect(approvals).toHaveLength(1);
  expect(approvals[0]!.signer).toBe(person.key);
  expect(approvals[0]!.signature_verified).toBe(true);
  // Signed for the window open now, not the one the beat entered review in.
  expect(approvals[0]!.window_id).toBe(windowAt(SCHEDULE, Date.parse(approvals[0]!.decided_at)).id);
  expect(approvals[0]!.window_id).not.toBe(execution.window_id);
  // The approval cites the evidence the page showed.
  expect(approvals[0]!.evidence).toEqual(execution.evidence);
  expect(result).toBe(`Approved: ${approvals[0]!.ucxl}`);
  expect(pageErrors).toEqual([]);
}, 240_000);
