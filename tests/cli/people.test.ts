/**
 * The people commands of `swoosh` end to end against a real gateway, worker and Temporal dev
 * server: a person makes a key, starts a mission that registers it, votes in its council, approves
 * a beat in the review window (from a stale HEAD, which is retried) and pauses and resumes it; each
 * kind of refusal has its own exit code. Commands run in-process through `runCli`, one through
 * `npm run swoosh` as a real subprocess.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../../cli/swoosh';
import { EXIT } from '../../cli/usage';
import { windowAt } from '../../workflows/statechart/window';
import { type GatewayFixture, startGatewayFixture } from '../gateway/support/gateway';
import { eventually } from '../support/temporal';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** 10-second bars with a 4-second REVIEW: room for a signed approval to land inside the window. */
const SCHEDULE = {
  name: 'backbeat',
  tempoBpm: 240,
  barBeats: 40,
  phases: { PLAN: 0.1, WORK: 0.3, REVIEW: 0.4, REVERB: 0.2 },
  amplitude: 0.25,
  backoffBaseMs: 200,
  backoffMaxMs: 2_000,
};

let fx: GatewayFixture;
let home: string;
let env: Record<string, string>;

/** Two owners' keys, made with the CLI before the gateway starts, which registers them with a quorum of 2. */
const owners = { bob: '', carol: '' };

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'swoosh-people-'));
  env = {
    SWOOSH_CONFIG_FILE: join(home, 'config.json'),
    // No development tokens file here: a missing token stays missing.
    SWOOSH_DATA_DIR: join(home, 'data'),
  };
  for (const name of ['bob', 'carol'] as const) {
    const made = await swoosh(['keys', 'new', '--name', name, '--out', join(home, `${name}.owner.json`)]);
    owners[name] = /^public key: (\S+)$/m.exec(made.out)?.[1] ?? '';
  }
  fx = await startGatewayFixture('cli-people', undefined, {
    ownerKeys: [owners.bob, owners.carol],
    ownerQuorum: 2,
  });
  env.SWOOSH_GATEWAY_URL = fx.running.url;
  env.SWOOSH_TOKEN = fx.tokens.operator;
}, 120_000);

afterAll(async () => {
  await fx?.stop();
  await rm(home, { recursive: true, force: true });
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function swoosh(argv: string[], extra: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: { ...env, ...extra },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function state(mission: string) {
  const view = await fx.as.viewer.getMission(mission);
  if (!view.ok) throw new Error(`mission ${mission}: ${view.status}`);
  return view.body as typeof view.body & {
    hash: string;
    state: {
      council: { phase: string };
      execution: { phase: string; beat: number; approvals: { approver: string; decision: string }[] };
    };
  };
}

/** Waits until the schedule is in `phase` with at least `marginMs` of it left. */
async function inPhase(phase: 'PLAN' | 'WORK' | 'REVIEW' | 'REVERB', marginMs: number): Promise<void> {
  await eventually(
    () => Promise.resolve(windowAt(SCHEDULE, Date.now())),
    (w) => w.phase === phase && w.phaseEnd - Date.now() >= marginMs,
    30_000,
  );
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('swoosh for people, against a real gateway', () => {
  let keyId: string;
  let mission: string;

  test('keys new writes a 0600 key and prints only its public key and the config that registers it', async () => {
    const made = await swoosh(['keys', 'new', '--name', 'alice']);
    expect(made).toMatchObject({ code: EXIT.ok, err: '' });
    keyId = /^public key: (ed25519:\S+)$/m.exec(made.out)?.[1] ?? '';
    expect(keyId).toMatch(/^ed25519:/);
    const file = join(home, 'keys', 'alice.key.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const { secretKey } = JSON.parse(await readFile(file, 'utf8')) as { secretKey: string };
    expect(made.out).not.toContain(secretKey);
    expect(made.out).toContain(`"key": "${keyId}"`);
    // Never overwritten.
    expect((await swoosh(['keys', 'new', '--name', 'alice'])).code).toBe(EXIT.usage);
  });

  test('missions start registers the key as approver and council member', async () => {
    const config = join(home, 'mission.json');
    await writeFile(
      config,
      JSON.stringify({ schedule: SCHEDULE, council: { members: [{ id: 'alice', key: keyId }] } }),
    );
    const started = await swoosh([
      'missions',
      'start',
      '--objective',
      'Index the onboarding docs',
      '--spec',
      'https://specs.example.org/onboarding',
      '--config',
      config,
      '--approver',
      'me',
      '--json',
    ]);
    expect(started.code).toBe(EXIT.ok);
    const body = JSON.parse(started.out) as { workflowId: string; created: boolean };
    expect(body.created).toBe(true);
    mission = body.workflowId.replace(/^mission-/, '');
  });

  test('vote waits for the election and is counted', async () => {
    const voted = await swoosh(['vote', mission, '--wait']);
    expect(voted).toMatchObject({ code: EXIT.ok, err: expect.any(String) as string });
    expect(voted.out).toContain('vote counted: 1 of 1 needed');
    await eventually(
      () => state(mission),
      (v) => v.state.council.phase === 'READY',
      60_000,
    );
  }, 90_000);

  test('approve: stale when HEAD moved; from a stale HEAD with --wait, retried and accepted in the review window', async () => {
    const stale = (await state(mission)).hash;
    await eventually(
      () => state(mission),
      (v) => v.hash !== stale,
      30_000,
    );
    const exhausted = await swoosh(['approve', mission, '--head', stale, '--retries', '0']);
    expect(exhausted.code).toBe(EXIT.stale);
    expect(exhausted.err).toContain('stale: HEAD moved');

    // Sent before the first beat reaches REVIEW, from the HEAD read just after the vote: the 409 is
    // retried against the new HEAD, the mission waited for until it can take an approval, and the
    // approval lands in the review window.
    const approved = await swoosh(['approve', mission, '--head', stale, '--wait', '--json']);
    expect(approved.code).toBe(EXIT.ok);
    const outcome = JSON.parse(approved.out) as {
      kind: string;
      attempts: number;
      retriedBecause?: string[];
      body: { decision_id: string };
    };
    expect(outcome.kind).toBe('accepted');
    expect(outcome.attempts).toBeGreaterThanOrEqual(2);
    // It says why it took more than one request: at least the stale HEAD it was given.
    expect(outcome.retriedBecause).toContain('HEAD moved');
    expect(approved.err).toContain('HEAD moved');
    expect(outcome.body.decision_id).toMatch(/\/Execution_Approve\//);
    // The decision reaches the ledger after the answer (docs/lifecycle.md#the-ledger-append).
    const approvalsInLedger = async () => {
      const ledger = await fx.as.viewer.ledger(mission, { pageSize: 500 });
      return ledger.ok
        ? ledger.body.records.filter((r) => r.kind === 'decision' && r.transition === 'Execution_Approve')
        : [];
    };
    const approvals = await eventually(approvalsInLedger, (found) => found.length > 0, 30_000);
    expect(approvals.map((r) => r.kind === 'decision' && r.signer)).toEqual([keyId]);
  }, 120_000);

  test('approve outside the review window is refused with when the window opens', async () => {
    // The second beat (the first was approved above) waits in REVIEW for an approval across windows.
    await eventually(
      () => state(mission),
      (v) => v.state.execution.phase === 'REVIEW' && v.state.execution.beat === 2,
      90_000,
    );
    // Well before the next review window: the approval is refused however long it takes to land.
    await inPhase('WORK', 1_500);
    const early = await swoosh(['approve', mission]);
    expect(early.code).toBe(EXIT.refused);
    expect(early.err).toMatch(/refused: the approval failed the window guard/);
    expect(early.err).toMatch(
      /the window opens at \d{4}-\d\d-\d\dT[\d:.]+\+00:00 \(in \d+ s\); run again with --wait/,
    );
  }, 120_000);

  test('refusals: unauthorised, unreachable and usage errors have their own exit codes', async () => {
    const viewer = await swoosh(['approve', mission], { SWOOSH_TOKEN: fx.tokens.viewer });
    expect(viewer.code).toBe(EXIT.unauthorised);
    expect(viewer.err).toMatch(/^error: 403/);
    const unknown = await swoosh(['missions', 'show', mission], { SWOOSH_TOKEN: `swt_${'x'.repeat(40)}` });
    expect(unknown.code).toBe(EXIT.unauthorised);
    const down = await swoosh(['missions', 'show', mission], {
      SWOOSH_GATEWAY_URL: `http://127.0.0.1:${await closedPort()}`,
    });
    expect(down.code).toBe(EXIT.unreachable);
    expect(down.err).toMatch(/unreachable/);

    expect((await swoosh(['approve', 'not-a-mission'])).code).toBe(EXIT.usage);
    expect((await swoosh(['propose', mission, 'No_Such_Transition'])).code).toBe(EXIT.usage);
    const inputs = join(home, 'inputs.json');
    await writeFile(inputs, '["not", "an", "object"]');
    const badInputs = await swoosh(['propose', mission, 'Policy_Update', '--inputs', inputs]);
    expect(badInputs.code).toBe(EXIT.usage);
    expect(badInputs.err).toContain(`--inputs ${inputs}: (root)`);
  });

  test('pause and resume, and the mission shows it', async () => {
    expect((await swoosh(['pause', mission, '--reason', 'lunch'])).code).toBe(EXIT.ok);
    await eventually(
      () => state(mission),
      (v) => v.phase === 'PAUSED',
      30_000,
    );
    const shown = await swoosh(['missions', 'show', mission]);
    expect(shown.code).toBe(EXIT.ok);
    expect(shown.out).toContain(`mission ${mission}: PAUSED`);
    expect(shown.out).toMatch(/control: PAUSED \(test-operator: lunch\)/);
    expect((await swoosh(['resume', mission, '--reason', 'back'])).code).toBe(EXIT.ok);
    await eventually(
      () => state(mission),
      (v) => v.phase !== 'PAUSED',
      30_000,
    );
  });

  test('missions list and watch read visibility and the event stream', async () => {
    const listed = await eventually(
      () => swoosh(['missions', 'list']),
      (r) => r.out.includes(mission),
      30_000,
    );
    expect(listed.code).toBe(EXIT.ok);
    const watched = await swoosh(['missions', 'watch', mission, '--count', '2']);
    expect(watched.code).toBe(EXIT.ok);
    expect(watched.out.split('\n')).toEqual([
      expect.stringMatching(/^#\d+ Boot_LicenseCheck by ed25519:\S+ → sha256-/),
      expect.stringMatching(/^#\d+ Boot_Licensed by ed25519:/),
    ]);
  });

  test('a profile in the config file supplies the gateway and token; a missing profile is a usage error', async () => {
    await writeFile(
      env.SWOOSH_CONFIG_FILE!,
      JSON.stringify({ profiles: { local: { url: fx.running.url, token: fx.tokens.viewer } } }),
    );
    const bare = Object.fromEntries(
      Object.entries(env).filter(([k]) => k !== 'SWOOSH_GATEWAY_URL' && k !== 'SWOOSH_TOKEN'),
    );
    const out: string[] = [];
    const code = await runCli(['missions', 'show', mission, '--profile', 'local'], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      env: bare,
    });
    expect(code).toBe(EXIT.ok);
    expect(out[0]).toContain(`mission ${mission}`);
    // No token anywhere: on the machine that runs `npm run dev`, its development token of the role.
    const noToken = { ...bare, SWOOSH_GATEWAY_URL: fx.running.url };
    const quiet = { out: () => undefined, err: () => undefined };
    expect(await runCli(['missions', 'show', mission], { ...quiet, env: noToken })).toBe(EXIT.unauthorised);
    await mkdir(join(env.SWOOSH_DATA_DIR!, 'gateway'), { recursive: true });
    await writeFile(
      join(env.SWOOSH_DATA_DIR!, 'gateway', 'tokens.json'),
      JSON.stringify({ tokens: [{ name: 'dev-viewer', role: 'viewer', token: fx.tokens.viewer }] }),
    );
    expect(await runCli(['missions', 'show', mission], { ...quiet, env: noToken })).toBe(EXIT.ok);
    await rm(join(env.SWOOSH_DATA_DIR!, 'gateway'), { recursive: true });
    const missing = await runCli(['missions', 'show', mission, '--profile', 'elsewhere'], {
      out: () => undefined,
      err: () => undefined,
      env: bare,
    });
    expect(missing).toBe(EXIT.usage);
    await writeFile(env.SWOOSH_CONFIG_FILE!, JSON.stringify({ profiles: { local: { url: 'ftp://x' } } }));
    const bad = await swoosh(['missions', 'show', mission]);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toContain('profiles.local.url');
    await rm(env.SWOOSH_CONFIG_FILE!);
  });

  test('owner commands: signed by owner keys, a quorum of 2 gathered with --out, cosign and send', async () => {
    const bob = { SWOOSH_TOKEN: fx.tokens.owner, SWOOSH_KEY_FILE: join(home, 'bob.owner.json') };
    const asOwner = { ...bob, SWOOSH_ACTOR: 'test-owner' };
    // An operator token is not an owner's; an owner must name themself; one signature is not two.
    expect(
      (
        await swoosh(['owner', 'pause-all', '--reason', 'incident 7'], {
          ...asOwner,
          SWOOSH_TOKEN: fx.tokens.operator,
        })
      ).code,
    ).toBe(EXIT.unauthorised);
    const notMe = await swoosh(['owner', 'pause-all', '--reason', 'incident 7'], bob);
    expect(notMe.code).toBe(EXIT.unauthorised);
    expect(notMe.err).toMatch(/must be your own name, test-owner/);
    const alone = await swoosh(['owner', 'pause-all', '--reason', 'incident 7'], asOwner);
    expect(alone.code).toBe(EXIT.unauthorised);

    const draft = join(home, 'pause.json');
    const signed = await swoosh(
      ['owner', 'pause-all', '--reason', 'incident 7', '--command-id', 'incident-7', '--out', draft],
      asOwner,
    );
    expect(signed.code).toBe(EXIT.ok);
    expect(signed.out).toContain(`swoosh owner cosign ${draft}`);
    const cosigned = await swoosh(['owner', 'cosign', draft], {
      ...asOwner,
      SWOOSH_KEY_FILE: join(home, 'carol.owner.json'),
    });
    expect(cosigned.code).toBe(EXIT.ok);
    expect(cosigned.out).toContain('2 signature(s)');
    const sent = await swoosh(['owner', 'send', draft], asOwner);
    expect(sent.code).toBe(EXIT.ok);
    expect(sent.out).toMatch(/^pause incident-7 sent by test-owner to \d+ mission\(s\)/);
    expect(sent.out).toContain(owners.bob);
    expect(sent.out).toContain(owners.carol);

    const halted = await swoosh(['owner', 'status']);
    expect(halted.code).toBe(EXIT.ok);
    expect(halted.out).toMatch(/^HALTED: incident-7 by test-owner/);
    expect((await swoosh(['owner', 'latency-budgets', '--io', '1', '--reason', 'x'], asOwner)).code).toBe(
      EXIT.usage,
    );

    const resume = join(home, 'resume.json');
    await swoosh(['owner', 'resume-all', '--reason', 'incident 7 over', '--out', resume], asOwner);
    await swoosh(['owner', 'cosign', resume], {
      ...asOwner,
      SWOOSH_KEY_FILE: join(home, 'carol.owner.json'),
    });
    expect((await swoosh(['owner', 'send', resume, '--json'], asOwner)).code).toBe(EXIT.ok);
    expect((await swoosh(['owner', 'status'])).out).toMatch(/^not halted/);
  });

  test('npm run swoosh runs the CLI as a program with the same exit codes', async () => {
    const run = promisify(execFile);
    const shown = await run('npm', ['run', '-s', 'swoosh', '--', 'missions', 'show', mission, '--json'], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
    });
    expect((JSON.parse(shown.stdout) as { missionId: string }).missionId).toBe(mission);
    const refused = await run('npm', ['run', '-s', 'swoosh', '--', 'missions', 'show', mission], {
      cwd: repoRoot,
      env: { ...process.env, ...env, SWOOSH_TOKEN: `swt_${'x'.repeat(40)}` },
    }).then(
      () => undefined,
      (error: { code?: number }) => error.code,
    );
    expect(refused).toBe(EXIT.unauthorised);
  }, 60_000);
});
