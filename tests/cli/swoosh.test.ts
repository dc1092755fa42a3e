import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureCli } from './support/capture';
import { dataPaths } from '../../host/data-dir';
import { generateSigner, loadSigner } from '../../host/keys';
import { FileLedger } from '../../ledger';
import { decisionEntry, deploymentEntry, timerClosedEntry } from '../ledger/support/entries';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'swoosh-cli-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function swoosh(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return swooshWith({}, ...argv);
}

function swooshWith(env: Record<string, string>, ...argv: string[]) {
  return captureCli(argv, { SWOOSH_DATA_DIR: dataDir, ...env });
}

async function secretOf(path: string): Promise<string> {
  return (JSON.parse(await readFile(path, 'utf8')) as { secretKey: string }).secretKey;
}

/** A mission ledger written with the orchestrator key `keys init` created. */
async function writeMission(decisions: number): Promise<void> {
  const signer = await loadSigner(dataPaths(dataDir).orchestratorKey, 'orchestrator');
  const ledger = new FileLedger({ dir: dataPaths(dataDir).ledgerDir, signer });
  for (let seq = 0; seq < decisions; seq++) await ledger.appendDecision(decisionEntry(signer.keyId, seq));
  await ledger.appendAgentDeployment(deploymentEntry(0));
}

describe('swoosh CLI', () => {
  it('keys init and ledger verify use SWOOSH_ORCHESTRATOR_KEY_FILE when set, outside the data folder', async () => {
    const elsewhere = join(await mkdtemp(join(tmpdir(), 'swoosh-key-')), 'orchestrator.key.json');
    const env = { SWOOSH_ORCHESTRATOR_KEY_FILE: elsewhere };
    const made = await swooshWith(env, 'keys', 'init');
    expect(made.code).toBe(0);
    expect(made.out).toContain(`created orchestrator key ${elsewhere}`);
    expect((await stat(elsewhere)).mode & 0o777).toBe(0o600);
    await expect(stat(dataPaths(dataDir).orchestratorKey)).rejects.toThrow(/ENOENT/);

    const signer = await loadSigner(elsewhere, 'orchestrator');
    const ledger = new FileLedger({ dir: dataPaths(dataDir).ledgerDir, signer });
    await ledger.appendDecision(decisionEntry(signer.keyId, 0));
    expect((await swooshWith(env, 'ledger', 'verify', 'm-1')).code).toBe(0);
    // Without the variable, verify looks in the data folder, finds no key and trusts nothing.
    expect((await swoosh('ledger', 'verify', 'm-1')).code).not.toBe(0);
  });

  it('keys init creates the orchestrator key once, private to its owner, and never prints it', async () => {
    const first = await swoosh('keys', 'init');
    const path = dataPaths(dataDir).orchestratorKey;
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^created orchestrator key .*\npublic key: ed25519:/);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const secret = await secretOf(path);
    expect(first.out).not.toContain(secret);

    const second = await swoosh('keys', 'init');
    expect(second.out).toMatch(/^kept existing orchestrator key/);
    expect(await secretOf(path)).toBe(secret);
  });

  it('licence init sets up a development licence that licence status accepts', async () => {
    const init = await swoosh('licence', 'init');
    expect(init.code).toBe(0);
    expect(init.out).not.toContain(await secretOf(dataPaths(dataDir).licenceIssuerKey));
    const status = await swoosh('licence', 'status');
    expect(status).toMatchObject({ code: 0, err: '' });
    expect(status.out).toMatch(/^licence: LICENSED \(source: file\)\nlicensee: development/);
  });

  it('licence status exits 1 when the licence is refused', async () => {
    await swoosh('licence', 'init');
    await writeFile(dataPaths(dataDir).licenceToken, 'swl1.e30.AAAA\n');
    const status = await swoosh('licence', 'status');
    expect(status.code).toBe(1);
    expect(status.out).toMatch(/licence: DENIED/);
  });

  it('ledger verify passes an intact ledger and names the first bad record of a tampered one', async () => {
    await swoosh('keys', 'init');
    await writeMission(4);
    expect(await swoosh('ledger', 'verify', 'm-1')).toMatchObject({ code: 0, err: '' });

    const file = join(dataPaths(dataDir).ledgerDir, 'm-1.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[2] = (lines[2] ?? '').replace('"Council_Elect"', '"Council_Eject"');
    await writeFile(file, lines.join('\n'));

    const result = await swoosh('ledger', 'verify', 'm-1');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /^FAILED: ledger of mission m-1: first bad record #2, id rec-[0-9a-f]{32}, seq 2, Council_Eject: content does not match its hash/,
    );
    expect(result.err).toMatch(/2 record\(s\) before it verified/);
  });

  it("ledger verify checks a timer shard's ledger of closed timers, and names the timer of a tampered record", async () => {
    await swoosh('keys', 'init');
    const signer = await loadSigner(dataPaths(dataDir).orchestratorKey, 'orchestrator');
    const ledger = new FileLedger({ dir: dataPaths(dataDir).ledgerDir, signer });
    for (let n = 0; n < 3; n++) await ledger.appendTimerClosed(timerClosedEntry(n));
    await ledger.close();
    expect(await swoosh('ledger', 'verify', 'timer-shard-0')).toMatchObject({ code: 0, err: '' });

    const file = join(dataPaths(dataDir).ledgerDir, 'timer-shard-0.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[1] = (lines[1] ?? '').replace('"outcome":"Settled"', '"outcome":"Cancelled"');
    await writeFile(file, lines.join('\n'));
    const result = await swoosh('ledger', 'verify', 'timer-shard-0');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /first bad record #1, id rec-[0-9a-f]{32}, timer job-1: content does not match its hash/,
    );
  });

  it('ledger export copies a files ledger byte for byte, both head slots included', async () => {
    await swoosh('keys', 'init');
    await writeMission(3);
    const out = join(dataDir, 'export');
    const exported = await swoosh('ledger', 'export', 'm-1', '--out', out);
    expect(exported.code).toBe(0);
    for (const name of ['m-1.jsonl', 'm-1.head.json']) {
      expect(await readFile(join(out, name))).toEqual(
        await readFile(join(dataPaths(dataDir).ledgerDir, name)),
      );
    }
    expect(await swoosh('ledger', 'verify', 'm-1', '--dir', out)).toMatchObject({ code: 0, err: '' });
  });

  it('ledger verify trusts only the keys it is given', async () => {
    await swoosh('keys', 'init');
    await writeMission(2);
    const stranger = generateSigner().signer.keyId;
    await rm(dataPaths(dataDir).orchestratorKey);

    const noKey = await swoosh('ledger', 'verify', 'm-1');
    expect(noKey.code).toBe(1);
    expect(noKey.err).toMatch(/no trusted orchestrator key.*--trust/);

    const wrongKey = await swoosh('ledger', 'verify', 'm-1', '--trust', stranger);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.err).toMatch(/#0.*signed by untrusted key/);
  });

  it('ledger report prints deployments, execution time and outcomes per mission', async () => {
    await swoosh('keys', 'init');
    await writeMission(2);
    const table = await swoosh('ledger', 'report');
    expect(table.code).toBe(0);
    const [header, row] = table.out.split('\n');
    expect(header?.split(/\s{2,}/)).toEqual([
      'mission',
      'decisions',
      'agents',
      'ok',
      'failed',
      'timed-out',
      'cancelled',
      'escalated',
      'agent s',
      'mean s',
      'max s',
      'success',
      'wall s',
    ]);
    expect(row?.split(/\s+/).slice(0, 12)).toEqual([
      'm-1',
      '2',
      '1',
      '1',
      '0',
      '0',
      '0',
      '0',
      '10.0',
      '10.0',
      '10.0',
      '100%',
    ]);

    const json = await swoosh('ledger', 'report', 'm-1', '--json');
    expect(JSON.parse(json.out)).toEqual([expect.objectContaining({ mission: 'm-1', agentTimeMs: 10_000 })]);
  });

  it('answers misuse with the usage text and exit code 64', async () => {
    for (const argv of [
      ['ledger'],
      ['ledger', 'verify'],
      ['keys', 'init', 'now'],
      ['ledger', 'report', '--csv'],
    ]) {
      const result = await swoosh(...argv);
      expect(result.code).toBe(64);
      expect(result.err).toMatch(/Usage: npm run swoosh -- <command>/);
    }
    expect((await swoosh('help')).out).toMatch(/ledger verify <mission>/);
  });

  it('exits with the command status when run as a program', async () => {
    await swoosh('keys', 'init');
    await writeMission(1);
    const run = (...argv: string[]) =>
      new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'cli/swoosh.ts', ...argv], {
          cwd: repoRoot,
          env: { ...process.env, SWOOSH_DATA_DIR: dataDir },
          stdio: 'ignore',
        });
        child.on('error', reject);
        child.on('exit', resolve);
      });
    expect(await Promise.all([run('ledger', 'verify', 'm-1'), run('ledger', 'verify', 'nobody')])).toEqual([
      0, 1,
    ]);
  });
});
