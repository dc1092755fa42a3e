#!/usr/bin/env -S npx tsx
/**
 * `swoosh`: operator commands for the local side of SWOOSH — keys, the development licence, and
 * the decision ledger — and commands for people who start, approve, vote on and steer missions
 * through a gateway (cli/people/). Run as `npm run swoosh -- <command>`. Exit codes are in
 * cli/usage.ts: 0 ok, 1 failure, 2 licence DEGRADED, 3 refused by a guard, 4 stale, 5 unauthorised,
 * 6 unreachable, 64 usage error.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SignerKeySchema } from '../schemas/proposal';
import { dataPaths, orchestratorKeyFile, resolveDataDir } from '../host/data-dir';
import { ensureKeyFile, loadSigner } from '../host/keys';
import {
  exportLedger,
  FileLedgerReader,
  ledgerReport,
  type LedgerReader,
  type MissionReport,
  openLedgerReader,
  verifyLedger,
} from '../ledger';
import { loadStoreConfig } from '../schemas/config';
import { initDevLicence, licenceCheckerFromEnv } from '../host/licence/setup';
import { GatewayUnreachableError } from '../api/client';
import { type CliIo, isPeopleCommand, PEOPLE_ENV, PEOPLE_USAGE, runPeople } from './people';
import { EXIT, UsageError } from './usage';

export type { CliIo } from './people';

export const USAGE = `Usage: npm run swoosh -- <command>

Local commands:
  keys init                        Create the orchestrator's ed25519 signing key (once; mode 0600).
  licence init                     Create a development licence issuer and a licence it signed (once).
  licence status                   Check the configured licence now (exit 0 LICENSED, 2 DEGRADED, 1 DENIED).
  ledger verify <mission> [--trust <ed25519:key>]... [--dir <folder>]
                                   Check a mission's ledger; exit 1 naming the first bad record.
  ledger report [mission] [--json] [--dir <folder>]
                                   Agent deployments, execution time and outcomes per mission.
  ledger export <mission> --out <folder>
                                   Write a mission's ledger to <folder> in the file format, for
                                   "ledger verify --dir <folder>" offline.
  help                             Show this text.

${PEOPLE_USAGE}

Exit codes: 0 ok, 1 failure, 2 licence DEGRADED, 3 refused by a guard, 4 stale (HEAD kept
moving), 5 unauthorised (401/403), 6 unreachable (no answer, 503/504), 64 usage error.

Environment:
  SWOOSH_DATA_DIR                  Data folder (default: .swoosh/ in the clone).
  SWOOSH_ORCHESTRATOR_KEY_FILE     Orchestrator key file (default: keys/orchestrator.key.json there).
  SWOOSH_LEDGER_TRUSTED_KEYS       Extra trusted orchestrator keys for verify, comma-separated.
  SWOOSH_STORE, SWOOSH_DATABASE_URL
                                   The ledger's store, as the worker's: files (default, the data
                                   folder's ledger/) or postgres. --dir reads a ledger folder instead.
  SWOOSH_LICENCE_*                 Licence source and timing; see README.
${PEOPLE_ENV}`;

/** Runs one command and returns its exit code; never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch([...argv], io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`error: ${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    if (error instanceof GatewayUnreachableError) {
      io.err(`error: ${error.message}`);
      return EXIT.unreachable;
    }
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failure;
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const [group, command, ...rest] = argv;
  if (isPeopleCommand(group) || (group === 'keys' && command === 'new')) return runPeople(argv, io);
  const dataDir = resolveDataDir(io.env);
  const paths = dataPaths(dataDir);
  switch (`${group ?? ''} ${command ?? ''}`.trim()) {
    case '':
    case 'help':
    case '--help':
    case '-h':
      io.out(USAGE);
      return 0;
    case 'keys init': {
      noArguments(rest);
      const keyFile = orchestratorKeyFile(dataDir, io.env);
      const key = await ensureKeyFile(keyFile, 'orchestrator');
      io.out(`${key.created ? 'created' : 'kept existing'} orchestrator key ${keyFile}`);
      io.out(`public key: ${key.keyId}`);
      return 0;
    }
    case 'licence init': {
      noArguments(rest);
      const result = await initDevLicence(dataDir);
      const verb = (created: boolean) => (created ? 'created' : 'kept existing');
      io.out(`${verb(result.created.issuerKey)} development issuer key ${paths.licenceIssuerKey}`);
      io.out(`${verb(result.created.issuerPublicKey)} trusted issuer ${paths.licenceIssuerPublicKey}`);
      io.out(`${verb(result.created.licence)} licence ${result.licencePath}`);
      io.out(`issuer public key: ${result.issuerKeyId}`);
      return 0;
    }
    case 'licence status': {
      noArguments(rest);
      const verdict = await (await licenceCheckerFromEnv(io.env, dataDir)).check();
      io.out(`licence: ${verdict.status} (source: ${verdict.source})`);
      if (verdict.licence) {
        const l = verdict.licence;
        io.out(`licensee: ${l.licensee}, seats: ${l.seats}, features: ${l.features.join(', ') || '-'}`);
        io.out(`valid: ${l.notBefore} to ${l.expiresAt}`);
      }
      for (const reason of verdict.reasons) io.out(`reason: ${reason}`);
      return verdict.status === 'LICENSED' ? 0 : verdict.status === 'DEGRADED' ? 2 : 1;
    }
    case 'ledger verify': {
      const { value: dir, args } = takeOption(rest, '--dir');
      return withReader(dir, io, paths.ledgerDir, (reader) =>
        verify(args, io, reader, orchestratorKeyFile(dataDir, io.env)),
      );
    }
    case 'ledger report': {
      const { value: dir, args } = takeOption(rest, '--dir');
      return withReader(dir, io, paths.ledgerDir, (reader) => report(args, io, reader));
    }
    case 'ledger export': {
      const { value: out, args } = takeOption(rest, '--out');
      if (out === undefined) throw new UsageError('ledger export needs --out <folder>');
      return withReader(undefined, io, paths.ledgerDir, (reader) => exportMission(args, io, reader, out));
    }
    default:
      throw new UsageError(`unknown command "${argv.join(' ')}"`);
  }
}

/** The value of one `--name <value>` option, taken out of the arguments; given twice is misuse. */
function takeOption(args: string[], name: string): { value: string | undefined; args: string[] } {
  const at = args.indexOf(name);
  if (at === -1) return { value: undefined, args };
  const value = args[at + 1];
  if (value === undefined || value.startsWith('-')) throw new UsageError(`${name} needs a folder`);
  const others = args.filter((_, i) => i !== at && i !== at + 1);
  if (others.includes(name)) throw new UsageError(`${name} is given twice`);
  return { value, args: others };
}

/**
 * Runs a ledger command on the store the worker writes (SWOOSH_STORE, SWOOSH_DATABASE_URL, read
 * from the CLI's environment), or on the ledger folder `--dir` names (an export, a copy), and lets
 * go of the store's connections afterwards.
 */
async function withReader(
  dir: string | undefined,
  io: CliIo,
  ledgerDir: string,
  command: (reader: LedgerReader) => Promise<number>,
): Promise<number> {
  const reader =
    dir === undefined
      ? openLedgerReader({ config: loadStoreConfig(io.env), ledgerDir })
      : new FileLedgerReader(dir);
  try {
    return await command(reader);
  } finally {
    await reader.close();
  }
}

function noArguments(rest: string[]): void {
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
}

async function verify(args: string[], io: CliIo, reader: LedgerReader, keyFile: string): Promise<number> {
  const trusted: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--trust') {
      trusted.push(keyId(args[++i], '--trust'));
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  const [mission, ...extra] = positional;
  if (mission === undefined || extra.length > 0)
    throw new UsageError('ledger verify takes exactly one mission');
  for (const key of (io.env.SWOOSH_LEDGER_TRUSTED_KEYS ?? '').split(',')) {
    if (key.trim()) trusted.push(keyId(key.trim(), 'SWOOSH_LEDGER_TRUSTED_KEYS'));
  }
  trusted.push(...(await localOrchestratorKey(keyFile, trusted.length > 0)));

  const result = await verifyLedger(reader, mission, trusted);
  for (const note of result.notes) io.out(`note: ${note}`);
  if (result.ok) {
    io.out(
      `ok: ledger of mission ${mission} verified (${result.verified} records, chain, signatures and head intact)`,
    );
    return 0;
  }
  const bad = result.firstBad;
  const named = bad
    ? [
        `#${bad.index}`,
        bad.id && `id ${bad.id}`,
        bad.seq !== undefined && `seq ${bad.seq}`,
        bad.transition,
        bad.timerId && `timer ${bad.timerId}`,
      ]
        .filter(Boolean)
        .join(', ')
    : '';
  io.err(`FAILED: ledger of mission ${mission}: first bad record ${named}: ${bad?.reason ?? 'unknown'}`);
  io.err(`${result.verified} record(s) before it verified`);
  return 1;
}

function keyId(value: string | undefined, source: string): string {
  const parsed = SignerKeySchema.safeParse(value);
  if (!parsed.success) throw new UsageError(`${source} needs an ed25519:<base64 public key>`);
  return parsed.data;
}

/** The local orchestrator's public key, trusted by default; required when nothing else is. */
async function localOrchestratorKey(path: string, optional: boolean): Promise<string[]> {
  try {
    return [(await loadSigner(path, 'orchestrator')).keyId];
  } catch (error) {
    if (optional) return [];
    throw new Error(
      `no trusted orchestrator key: ${error instanceof Error ? error.message : String(error)}; ` +
        'pass --trust <ed25519:key> or run "npm run swoosh -- keys init" on the orchestrator host',
    );
  }
}

async function report(args: string[], io: CliIo, reader: LedgerReader): Promise<number> {
  const json = args.includes('--json');
  const positional = args.filter((a) => a !== '--json');
  const unknown = positional.find((a) => a.startsWith('-'));
  if (unknown) throw new UsageError(`unknown option ${unknown}`);
  if (positional.length > 1) throw new UsageError('ledger report takes at most one mission');
  const reports = await ledgerReport(reader, positional.length === 1 ? positional : undefined);
  if (json) {
    io.out(JSON.stringify(reports, null, 2));
    return 0;
  }
  if (reports.length === 0) {
    io.out(`no missions in ${reader.location}`);
    return 0;
  }
  io.out(table(reports));
  return 0;
}

async function exportMission(args: string[], io: CliIo, reader: LedgerReader, out: string): Promise<number> {
  const unknown = args.find((a) => a.startsWith('-'));
  if (unknown) throw new UsageError(`unknown option ${unknown}`);
  const [mission, ...extra] = args;
  if (mission === undefined || extra.length > 0)
    throw new UsageError('ledger export takes exactly one mission');
  const written = await exportLedger(reader, mission, out);
  if (written.tornBytes > 0)
    io.out(`note: left out an incomplete final line (${written.tornBytes} bytes), as verify ignores it`);
  io.out(
    `exported ${written.count} record(s) of mission ${mission} from ${reader.location} to ${written.records}`,
  );
  if (written.head === undefined) io.out('note: the ledger had no head to export');
  io.out(`check it offline: npm run swoosh -- ledger verify ${mission} --dir ${out} --trust <ed25519:key>`);
  return 0;
}

function table(reports: MissionReport[]): string {
  const seconds = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(1));
  const header = [
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
  ];
  const rows = reports.map((r) => [
    r.mission,
    String(r.decisions),
    String(r.deployments),
    String(r.outcomes.succeeded),
    String(r.outcomes.failed),
    String(r.outcomes['timed-out']),
    String(r.outcomes.cancelled),
    String(r.escalations),
    seconds(r.agentTimeMs),
    seconds(r.meanAgentTimeMs),
    seconds(r.maxAgentTimeMs),
    r.successRate === null ? '-' : `${Math.round(r.successRate * 100)}%`,
    seconds(r.wallClockMs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  return [header, ...rows]
    .map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  '))
    .join('\n');
}

const invokedDirectly =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  // Ctrl-C ends a watch or a --wait cleanly instead of killing the process mid-line.
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  process.exitCode = await runCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    signal: interrupted.signal,
  });
}
