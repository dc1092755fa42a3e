/**
 * The baseline entity's one side effect: a line appended to a file and fsynced, the least a
 * durable record costs, so SWOOSH's ledger append is measured against it.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';

export function createRawActivities(dir: string) {
  return {
    async appendLine(line: string): Promise<void> {
      const handle = await open(join(dir, 'raw-entity.log'), 'a', 0o600);
      try {
        await handle.appendFile(`${line}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
  };
}

export type RawActivities = ReturnType<typeof createRawActivities>;
