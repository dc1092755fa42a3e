/** `swoosh keys new --name NAME`: a person's key pair, and the config that registers its public half. */
import { join, resolve } from 'node:path';
import { EXIT, UsageError } from '../usage';
import { type CliIo, flag, keysDir, parse } from './context';
import { createPersonKey, KeyName } from './key-file';

export async function keysNew(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { name: { type: 'string' }, out: { type: 'string' } });
  if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
  const name = flag('--name', KeyName, values.name);
  const path = values.out !== undefined ? resolve(values.out) : join(keysDir(io.env), `${name}.key.json`);
  const keyId = await createPersonKey(path, name);
  // What a mission's config needs to accept this key's approvals and votes (schemas/mission-config.ts).
  const config = {
    signers: [{ key: keyId, classes: ['approval'], label: name }],
    council: { members: [{ id: name, key: keyId }] },
  };
  if (values.json) {
    io.out(JSON.stringify({ name, keyId, file: path, missionConfig: config }, null, 2));
    return EXIT.ok;
  }
  io.out(`public key: ${keyId}`);
  io.out(`key file: ${path} (mode 0600; the private key stays in it)`);
  io.out('');
  io.out(
    `To let ${name} approve a mission's beats, start it with "--approver ${keyId}" or this in its config`,
  );
  io.out(
    '(drop "council" unless they should also vote in its council; add classes such as "control" to steer):',
  );
  io.out(JSON.stringify(config, null, 2));
  return EXIT.ok;
}
