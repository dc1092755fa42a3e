/**
 * Choosing the ledger's store by configuration (docs/ledger.md, "Stores"): files by default,
 * PostgreSQL only with a database URL, and a bad value refused at start naming its variable.
 */
import { describe, expect, it } from 'vitest';
import { generateSigner } from '../../host/keys';
import {
  FileLedger,
  FileLedgerReader,
  openLedgerReader,
  openLedgerStore,
  PostgresLedger,
  PostgresLedgerReader,
} from '../../ledger';
import { loadConfig, loadStoreConfig } from '../../schemas/config';

const ledgerDir = '/nonexistent/ledger';
const url = 'postgres://swoosh:secret@db.internal:5432/swoosh';

describe('ledger store configuration', () => {
  it('keeps the files store by default', () => {
    const config = loadStoreConfig({});
    expect(config).toEqual({ SWOOSH_STORE: 'files' });
    expect(openLedgerStore({ config, ledgerDir }, generateSigner().signer)).toBeInstanceOf(FileLedger);
    expect(openLedgerReader({ config, ledgerDir })).toBeInstanceOf(FileLedgerReader);
  });

  it('opens PostgreSQL at the configured URL, naming it without its password', () => {
    const config = loadStoreConfig({ SWOOSH_STORE: 'postgres', SWOOSH_DATABASE_URL: url });
    expect(openLedgerStore({ config, ledgerDir }, generateSigner().signer)).toBeInstanceOf(PostgresLedger);
    const reader = openLedgerReader({ config, ledgerDir });
    expect(reader).toBeInstanceOf(PostgresLedgerReader);
    expect(reader.location).toBe('postgres://swoosh@db.internal:5432/swoosh');
  });

  it.each([
    [{ SWOOSH_STORE: 'postgres' }, /SWOOSH_DATABASE_URL: is required when SWOOSH_STORE=postgres/],
    [{ SWOOSH_STORE: 'sqlite' }, /SWOOSH_STORE: /],
    [
      { SWOOSH_STORE: 'postgres', SWOOSH_DATABASE_URL: 'mysql://db/x' },
      /SWOOSH_DATABASE_URL: must be a postgres/,
    ],
  ])('refuses %o at start, naming the variable', (env, message) => {
    expect(() => loadStoreConfig(env)).toThrow(message);
    // The worker's and the gateway's whole configuration refuses it too.
    expect(() => loadConfig(env)).toThrow(message);
  });
});
