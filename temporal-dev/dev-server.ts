/**
 * Launches the Temporal CLI dev server the way SWOOSH needs it: SQLite file persistence in the
 * data folder (so missions survive restarts), the `default` namespace, the Web UI, and SWOOSH's
 * search attributes registered at start.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { swooshSearchAttributes } from '../schemas/search-attributes';
import { startProcess, type Supervised, waitForPort } from './processes';

export interface DevServerOptions {
  cli: string;
  port: number;
  uiPort: number;
  dbFile: string;
  namespace: string;
}

/** The search attributes in the CLI's `--search-attribute name=Type` form. */
export function searchAttributeArgs(): string[] {
  const typeName = { KEYWORD: 'Keyword', TEXT: 'Text', INT: 'Int', DOUBLE: 'Double', BOOL: 'Bool' } as const;
  return swooshSearchAttributes.flatMap((key) => [
    '--search-attribute',
    `${key.name}=${typeName[key.type as keyof typeof typeName]}`,
  ]);
}

export async function startDevServer(options: DevServerOptions): Promise<Supervised> {
  mkdirSync(dirname(options.dbFile), { recursive: true });
  const server = startProcess(
    'temporal dev server',
    options.cli,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(options.port),
      '--ui-port',
      String(options.uiPort),
      '--db-filename',
      options.dbFile,
      '--namespace',
      options.namespace,
      // The server logs its own graceful shutdown at WARN; only errors are worth an operator's eye.
      '--log-level',
      'error',
      ...searchAttributeArgs(),
    ],
    { quiet: true },
  );
  await Promise.race([
    waitForPort(options.port, 60_000),
    server.exited.then((code) => {
      throw new Error(`the Temporal dev server exited early with code ${code}`);
    }),
  ]);
  return server;
}
