/**
 * A real PostgreSQL for tests, of their own: `initdb` into a temporary folder, the server on a
 * free loopback port with trust authentication for the `swoosh` role, ready once it accepts
 * connections, and stopped by its pid (never by name), its folder removed. The server itself is
 * temporal-dev/postgres.ts's, the one `npm run dev -- --cluster` runs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PostgresServer, startPostgresServer } from '../../temporal-dev/postgres';

/** A server of the test's own; `stop` also removes its folder. */
export type TestPostgres = PostgresServer;

export async function startPostgres(): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'swoosh-postgres-'));
  try {
    const server = await startPostgresServer(dir);
    return {
      ...server,
      stop: async () => {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
