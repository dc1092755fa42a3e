/**
 * Mission sources are confined (issue 13, finding 2): a `file://` source is read only from under
 * the inputs folder with symlinks resolved, never from the data folder or a file holding SWOOSH's
 * secrets, and within the size limit; what is stored as evidence is readable by SWOOSH's user alone.
 */
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { dataPaths } from '../../host/data-dir';
import { ContentStore } from '../../activities/evidence-store';
import { generateSigner } from '../../host/keys';
import { createMissionStepActivities } from '../../activities/mission-steps';
import { ensureDevTokens } from '../../api/auth';

let root: string;
let inputs: string;
let dataDir: string;
let activities: ReturnType<typeof createMissionStepActivities>;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'swoosh-sources-'));
  inputs = join(root, 'inputs');
  // The data folder inside the inputs folder: the worst layout, and still never a source.
  dataDir = join(inputs, '.swoosh');
  await mkdir(inputs, { recursive: true });
  await ensureDevTokens(join(dataDir, 'gateway', 'tokens.json'));
  activities = createMissionStepActivities({
    dataDir,
    evidence: new ContentStore(dataPaths(dataDir).evidenceDir),
    orchestrator: generateSigner().signer,
    checkLicence: () => Promise.reject(new Error('not used')),
    evaluatePolicy: () => Promise.reject(new Error('not used')),
    probeToolServers: () => Promise.reject(new Error('not used')),
    sources: { inputsDir: inputs, maxBytes: 1024, secretFiles: [join(root, 'elsewhere', 'tokens.json')] },
  });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const fetch = (...paths: string[]) =>
  activities.fetchSources({ mission: 'm', objective: 'o', sources: paths.map((p) => pathToFileURL(p).href) });

async function refusal(path: string): Promise<string> {
  const error = await fetch(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  expect((error as ApplicationFailure).type).toBe('SourceRefused');
  expect((error as ApplicationFailure).nonRetryable).toBe(true);
  return (error as Error).message;
}

describe('file sources', () => {
  test('a file under the inputs folder is read and stored as evidence only its owner can read', async () => {
    const doc = join(inputs, 'docs', 'onboarding.md');
    await mkdir(join(inputs, 'docs'));
    await writeFile(doc, '# Onboarding\n');
    const { sources } = await fetch(doc);
    expect(sources).toEqual([
      expect.objectContaining({ path: doc, sizeBytes: 13, mediaType: 'text/markdown' }),
    ]);
    const hex = sources[0]!.checksum.slice('sha256-'.length);
    const blob = join(dataPaths(dataDir).evidenceDir, 'sha256', hex.slice(0, 2), hex);
    expect((await stat(blob)).mode & 0o077).toBe(0);
    expect((await stat(join(dataPaths(dataDir).evidenceDir, 'sha256', hex.slice(0, 2)))).mode & 0o077).toBe(
      0,
    );
  });

  test("the gateway's tokens file (finding 2) is refused, though it lies under the inputs folder", async () => {
    expect(await refusal(join(dataDir, 'gateway', 'tokens.json'))).toContain("inside SWOOSH's data folder");
    expect(await refusal(dataDir)).toContain("inside SWOOSH's data folder");
  });

  test('a file outside the inputs folder is refused, and so is a symlink that leads out of it', async () => {
    const outside = join(root, 'outside.txt');
    await writeFile(outside, 'not for missions\n');
    expect(await refusal(outside)).toContain('outside the inputs folder');
    expect(await refusal(join(inputs, '..', 'outside.txt'))).toContain('outside the inputs folder');
    const link = join(inputs, 'innocent.md');
    await symlink(outside, link);
    expect(await refusal(link)).toContain('outside the inputs folder');
    // A symlink inside the inputs folder to the tokens file is refused too.
    const sneaky = join(inputs, 'sneaky.json');
    await symlink(join(dataDir, 'gateway', 'tokens.json'), sneaky);
    expect(await refusal(sneaky)).toContain("inside SWOOSH's data folder");
  });

  test('a configured secret file is refused wherever it is; folders, missing and oversized files too', async () => {
    const secrets = join(root, 'elsewhere');
    await mkdir(secrets);
    await writeFile(join(secrets, 'tokens.json'), '{}');
    await symlink(join(secrets, 'tokens.json'), join(inputs, 'tokens-link.json'));
    expect(await refusal(join(inputs, 'tokens-link.json'))).toContain('outside the inputs folder');
    await mkdir(join(inputs, 'folder'));
    expect(await refusal(join(inputs, 'folder'))).toContain('not a regular file');
    expect(await refusal(join(inputs, 'missing.md'))).toContain('no such file');
    await writeFile(join(inputs, 'big.txt'), 'x'.repeat(1025));
    expect(await refusal(join(inputs, 'big.txt'))).toContain('exceeds the 1024-byte source limit');
  });

  test('an unreadable inputs folder refuses every file source', async () => {
    await rm(inputs, { recursive: true, force: true });
    expect(await refusal(join(inputs, 'doc.md'))).toContain('does not exist');
  });
});
