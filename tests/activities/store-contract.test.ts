/**
 * The evidence store's and the timer dead letters' storage contracts (activities/evidence-store.ts,
 * activities/timers.ts), the same cases for files and for PostgreSQL: content addressed and
 * verified on every read, idempotent puts and appends from several workers at once, each dead
 * letter kept once in the order first recorded, and what one worker stores seen by another.
 */
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresDeadLetterStore } from '../../activities/dead-letters-postgres';
import { PostgresContentStore } from '../../ledger/evidence-postgres';
import { type ContentStore, EvidenceNotFoundError, FileContentStore } from '../../ledger/evidence-store';
import { openDeadLetterStore } from '../../activities/stores';
import { openContentStore } from '../../ledger';
import { createFileDeadLetterStore, type DeadLetterStore } from '../../activities/timers';
import { sha256Digest } from '../../host/digest';
import { loadStoreConfig } from '../../schemas/config';
import type { DeadLetter } from '../../schemas/timer';
import { startPostgres, type TestPostgres } from '../support/postgres';

/** One store's storage, fresh for each test; `open` gives another worker's view of it. */
interface Storage {
  evidence(): ContentStore;
  deadLetters(): DeadLetterStore;
  /** Replaces a stored blob's bytes, as whoever can write the storage could. */
  corrupt(checksum: string, bytes: Buffer): Promise<void>;
  dispose(): Promise<void>;
}

/** One server for the file (started when a postgres case first runs), a database per case. */
let server: TestPostgres | undefined;
let databases = 0;
async function serverAdmin<T>(task: (client: pg.Client) => Promise<T>): Promise<T> {
  server ??= await startPostgres();
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    return await task(client);
  } finally {
    await client.end();
  }
}
afterAll(async () => {
  await server?.stop();
});

const stores: { name: string; create: () => Promise<Storage> }[] = [
  {
    name: 'files',
    create: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'swoosh-stores-'));
      return {
        evidence: () => new FileContentStore(join(dir, 'evidence')),
        deadLetters: () => createFileDeadLetterStore(join(dir, 'timers', 'dead-letters.jsonl')),
        async corrupt(checksum, bytes) {
          const hex = checksum.slice('sha256-'.length);
          const path = join(dir, 'evidence', 'sha256', hex.slice(0, 2), hex);
          await chmod(path, 0o600);
          await writeFile(path, bytes);
        },
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    create: async () => {
      const database = `stores_${++databases}`;
      await serverAdmin((c) => c.query(`CREATE DATABASE ${database}`));
      const url = server!.url.replace(/\/postgres$/, `/${database}`);
      const opened: { close(): Promise<void> }[] = [];
      const track = <T extends { close(): Promise<void> }>(store: T) => (opened.push(store), store);
      return {
        evidence: () => track(new PostgresContentStore({ url })),
        deadLetters: () => track(new PostgresDeadLetterStore({ url })),
        async corrupt(checksum, bytes) {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          await client
            .query('UPDATE swoosh_evidence SET content = $2 WHERE checksum = $1', [checksum, bytes])
            .finally(() => client.end());
        },
        async dispose() {
          await Promise.all(opened.map((s) => s.close()));
          await serverAdmin((c) => c.query(`DROP DATABASE ${database}`));
        },
      };
    },
  },
];

const letter = (id: string, overrides: Partial<DeadLetter> = {}): DeadLetter => ({
  deadLetterId: `${id}:d:0`,
  timerId: id,
  shard: 3,
  escalationLevel: 0,
  deliveryId: 'd',
  action: { type: 'webhook', url: 'https://hooks.example.org/x', headerNames: ['authorization'] },
  attempts: 5,
  lastError: 'HTTP 503',
  dueAt: '2026-11-23T09:00:00.000Z',
  firedAt: '2026-11-23T09:00:00.010Z',
  deadLetteredAt: '2026-11-23T09:01:02.000Z',
  ...overrides,
});

describe.each(stores)('evidence and dead-letter store contract: $name', ({ create }) => {
  let storage: Storage;

  beforeEach(async () => {
    storage = await create();
  });
  afterEach(async () => {
    await storage.dispose();
  });

  describe('evidence', () => {
    it('names content by its checksum and gives back the same bytes, every byte value included', async () => {
      const store = storage.evidence();
      const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
      const checksum = await store.put(bytes);
      expect(checksum).toBe(sha256Digest(bytes));
      expect(await store.get(checksum)).toEqual(bytes);
      // A string is stored as its UTF-8, and equal JSON values share one blob.
      expect(await store.put('héllo')).toBe(sha256Digest(Buffer.from('héllo', 'utf8')));
      expect(await store.putJson({ b: 1, a: [2] })).toBe(await store.putJson({ a: [2], b: 1 }));
      expect((await store.get(await store.putJson({ a: 1 }))).toString()).toBe('{"a":1}');
    });

    it('stores the same content once when workers put it at once, and each sees what another stored', async () => {
      const workers = [storage.evidence(), storage.evidence(), storage.evidence()];
      const content = 'the same page, fetched by three missions';
      const checksums = await Promise.all(
        workers.flatMap((w) => [w.put(content), w.put(Buffer.from(content))]),
      );
      expect(new Set(checksums)).toEqual(new Set([sha256Digest(Buffer.from(content))]));
      const other = await workers[0]!.put('only the first worker stored this');
      expect((await workers[2]!.get(other)).toString()).toBe('only the first worker stored this');
    });

    it('refuses a checksum it has no content for, one that is not a checksum, and content that no longer matches', async () => {
      const store = storage.evidence();
      const absent = sha256Digest(Buffer.from('never stored'));
      await expect(store.get(absent)).rejects.toBeInstanceOf(EvidenceNotFoundError);
      await expect(store.get('sha256-../../etc/passwd')).rejects.toThrow();
      const checksum = await store.put('original');
      await storage.corrupt(checksum, Buffer.from('edited'));
      await expect(store.get(checksum)).rejects.toThrow(`evidence ${checksum} is corrupt`);
    });
  });

  describe('dead letters', () => {
    it('lists nothing before the first, then each once, in the order first recorded', async () => {
      const store = storage.deadLetters();
      expect(await store.list()).toEqual([]);
      await store.append(letter('b'));
      await store.append(letter('a'));
      // An activity retried after a crash records the same dead letter again, changed or not.
      await store.append(letter('b'));
      await store.append(letter('b', { lastError: 'retried' }));
      // A replayed timer that fails again is a new dead letter.
      await store.append(letter('a', { deadLetterId: 'a:d:1' }));
      expect(await store.list()).toEqual([letter('b'), letter('a'), letter('a', { deadLetterId: 'a:d:1' })]);
    });

    it('keeps every record once when workers append at once, and any worker lists them all', async () => {
      const workers = [storage.deadLetters(), storage.deadLetters(), storage.deadLetters()];
      const ids = Array.from({ length: 12 }, (_, i) => `t${i}`);
      // Every worker appends every record: each is retried by two others concurrently.
      await Promise.all(workers.flatMap((w) => ids.map((id) => w.append(letter(id)))));
      for (const w of workers) {
        const listed = await w.list();
        expect(listed.map((l) => l.timerId).sort()).toEqual([...ids].sort());
      }
      // What was acknowledged is there for a worker that starts later.
      expect(await storage.deadLetters().list()).toHaveLength(ids.length);
    });

    it('refuses a record that is not a dead letter, storing nothing', async () => {
      const store = storage.deadLetters();
      await expect(store.append({ ...letter('x'), attempts: 0 })).rejects.toThrow();
      expect(await store.list()).toEqual([]);
    });
  });
});

describe('evidence and dead-letter store configuration', () => {
  it('keeps files by default and opens PostgreSQL with SWOOSH_STORE=postgres, as the ledger does', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'swoosh-stores-config-'));
    try {
      const files = loadStoreConfig({});
      expect(openContentStore(files, join(dataDir, 'evidence'))).toBeInstanceOf(FileContentStore);
      const letters = openDeadLetterStore(files, dataDir);
      await letters.append(letter('f'));
      expect(await readdir(join(dataDir, 'timers'))).toEqual(['dead-letters.jsonl']);

      const postgres = loadStoreConfig({
        SWOOSH_STORE: 'postgres',
        SWOOSH_DATABASE_URL: 'postgres://swoosh:secret@db.internal:5432/swoosh',
      });
      const evidence = openContentStore(postgres, join(dataDir, 'evidence'));
      expect(evidence).toBeInstanceOf(PostgresContentStore);
      expect(evidence.location).toBe('postgres://swoosh@db.internal:5432/swoosh');
      expect(openDeadLetterStore(postgres, dataDir)).toBeInstanceOf(PostgresDeadLetterStore);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
