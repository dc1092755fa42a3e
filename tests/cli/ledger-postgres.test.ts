/**
 * `swoosh ledger verify`, `report` and `export` on a PostgreSQL ledger (docs/ledger.md, "The
 * CLI"): the store is chosen by SWOOSH_STORE and SWOOSH_DATABASE_URL as the worker's is, a row
 * edited in the database is named, and an export verifies offline exactly as the rows do.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureCli } from './support/capture';
import { dataPaths } from '../../host/data-dir';
import { loadSigner, type Signer } from '../../host/keys';
import { PostgresLedger } from '../../ledger';
import { decisionEntry, deploymentEntry } from '../ledger/support/entries';
import { startPostgres, type TestPostgres } from '../support/postgres';

let server: TestPostgres;
let dataDir: string;
let signer: Signer;
let storeEnv: Record<string, string>;

beforeAll(async () => {
  server = await startPostgres();
  dataDir = await mkdtemp(join(tmpdir(), 'swoosh-cli-pg-'));
  storeEnv = { SWOOSH_STORE: 'postgres', SWOOSH_DATABASE_URL: server.url };
  expect((await swoosh({}, 'keys', 'init')).code).toBe(0);
  signer = await loadSigner(dataPaths(dataDir).orchestratorKey, 'orchestrator');
  const ledger = new PostgresLedger({ url: server.url, signer });
  try {
    for (const mission of ['m-1', 'm-2']) {
      const workflow_id = `mission-${mission}`;
      for (let seq = 0; seq < 4; seq++)
        await ledger.appendDecision(decisionEntry(signer.keyId, seq, { mission, workflow_id }));
      await ledger.appendAgentDeployment(deploymentEntry(0, { mission, workflow_id }));
    }
  } finally {
    await ledger.close();
  }
});

afterAll(async () => {
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function swoosh(env: Record<string, string>, ...argv: string[]) {
  return captureCli(argv, { SWOOSH_DATA_DIR: dataDir, ...env });
}

/** Changes a stored row in place, as whoever can write the database could. */
async function tamperRow(mission: string, index: number, edit: (record: Record<string, unknown>) => void) {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ record: string }>(
      'SELECT record FROM swoosh_ledger_records WHERE mission = $1 AND index = $2',
      [mission, index],
    );
    const record = JSON.parse(rows[0]!.record) as Record<string, unknown>;
    edit(record);
    await client.query('UPDATE swoosh_ledger_records SET record = $3 WHERE mission = $1 AND index = $2', [
      mission,
      index,
      JSON.stringify(record),
    ]);
  } finally {
    await client.end();
  }
}

describe('swoosh ledger commands on the PostgreSQL store', () => {
  it('verify and report read the database SWOOSH_STORE names, not the data folder', async () => {
    expect(await swoosh(storeEnv, 'ledger', 'verify', 'm-1')).toMatchObject({
      code: 0,
      out: 'ok: ledger of mission m-1 verified (5 records, chain, signatures and head intact)',
    });
    // The files store of the same data folder holds nothing.
    expect((await swoosh({}, 'ledger', 'verify', 'm-1')).err).toMatch(
      /no ledger for mission m-1 in .*ledger/,
    );
    const report = await swoosh(storeEnv, 'ledger', 'report', '--json');
    expect(report.code).toBe(0);
    expect(JSON.parse(report.out)).toMatchObject([
      { mission: 'm-1', records: 5, decisions: 4, deployments: 1 },
      { mission: 'm-2', records: 5, decisions: 4, deployments: 1 },
    ]);
  });

  it('refuses postgres without a database URL, naming the variable', async () => {
    const result = await swoosh({ SWOOSH_STORE: 'postgres' }, 'ledger', 'verify', 'm-1');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/SWOOSH_DATABASE_URL: is required when SWOOSH_STORE=postgres/);
  });

  it('exports a mission to the file format, byte for byte, and the export verifies offline', async () => {
    const out = join(dataDir, 'export-intact');
    const exported = await swoosh(storeEnv, 'ledger', 'export', 'm-2', '--out', out);
    expect(exported.code).toBe(0);
    expect(exported.out).toMatch(/^exported 5 record\(s\) of mission m-2 from postgres:\/\//);
    expect((await readdir(out)).sort()).toEqual(['m-2.head.json', 'm-2.jsonl']);

    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    const { rows } = await client
      .query<{ record: string }>(
        "SELECT record FROM swoosh_ledger_records WHERE mission = 'm-2' ORDER BY index",
      )
      .finally(() => client.end());
    expect(await readFile(join(out, 'm-2.jsonl'), 'utf8')).toBe(rows.map((r) => `${r.record}\n`).join(''));

    // Offline: no store configured, and nothing trusted but the key given.
    const offline = await swoosh(
      { SWOOSH_ORCHESTRATOR_KEY_FILE: join(dataDir, 'no-such-key.json') },
      'ledger',
      'verify',
      'm-2',
      '--dir',
      out,
      '--trust',
      signer.keyId,
    );
    expect(offline).toMatchObject({ code: 0, err: '' });
    expect(offline.out).toMatch(/verified \(5 records/);
    const report = await swoosh({}, 'ledger', 'report', 'm-2', '--json', '--dir', out);
    expect(JSON.parse(report.out)).toMatchObject([{ mission: 'm-2', records: 5, deployments: 1 }]);

    // An export never writes over a ledger already there.
    const again = await swoosh(storeEnv, 'ledger', 'export', 'm-2', '--out', out);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/EEXIST/);
  });

  it('names a row edited in the database, and its export fails offline the same way', async () => {
    await tamperRow('m-1', 2, (record) => {
      record.transition = 'Council_Eject';
    });
    const online = await swoosh(storeEnv, 'ledger', 'verify', 'm-1');
    expect(online.code).toBe(1);
    expect(online.err).toMatch(
      /^FAILED: ledger of mission m-1: first bad record #2, id rec-[0-9a-f]{32}, seq 2, Council_Eject: content does not match its hash/,
    );

    const out = join(dataDir, 'export-tampered');
    expect((await swoosh(storeEnv, 'ledger', 'export', 'm-1', '--out', out)).code).toBe(0);
    const offline = await swoosh({}, 'ledger', 'verify', 'm-1', '--dir', out, '--trust', signer.keyId);
    expect(offline.code).toBe(1);
    expect(offline.err).toBe(online.err);
  });

  it('answers export misuse with the usage text and exit code 64', async () => {
    for (const argv of [
      ['ledger', 'export', 'm-1'],
      ['ledger', 'export', '--out', join(dataDir, 'x')],
      ['ledger', 'export', 'm-1', 'm-2', '--out', join(dataDir, 'x')],
      ['ledger', 'verify', 'm-1', '--dir'],
    ]) {
      const result = await swoosh(storeEnv, ...argv);
      expect(result.code, argv.join(' ')).toBe(64);
    }
  });
});
