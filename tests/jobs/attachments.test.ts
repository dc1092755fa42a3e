/**
 * A spec's attachments are read in where the run is spawned (activities/jobs/attachments.ts):
 * content from the store becomes `documents`, `artifacts` and `artifact`; a checksum the store
 * does not have, or inputs too large for one environment variable, refuse the run.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { AttachmentError, withAttachments } from '../../activities/jobs/attachments';
import { FileContentStore } from '../../ledger/evidence-store';
import { AgentJobSpec, MAX_RESOLVED_INPUTS_BYTES } from '../../schemas/agent-job';

const store = new FileContentStore(mkdtempSync(join(tmpdir(), 'swoosh-attachments-')));
const spec = (attachments?: unknown) =>
  AgentJobSpec.parse({
    mission: 'mission-a',
    region: 'execution',
    windowId: 'w-1',
    agentId: 'review',
    capabilityProfile: { role: 'reviewer', capabilities: [] },
    image: 'x',
    command: ['node'],
    inputs: { task: 'review' },
    timeouts: { activeDeadlineSeconds: 60 },
    ...(attachments !== undefined && { attachments }),
  });

test('documents and artifacts are read from the store into the inputs; the spec keeps its checksums', async () => {
  const source = await store.put('# Runbook\n');
  const index = await store.put('{"kind":"document-index"}');
  const other = await store.put('second');
  const s = spec({
    documents: [{ uri: 'file:///inputs/runbook.md', checksum: source }],
    artifacts: [
      { uri: 'swoosh://m/beat/1/index', checksum: index },
      { uri: 'swoosh://m/beat/1/other', checksum: other },
    ],
  });
  const resolved = await withAttachments(s, store);
  expect(resolved.inputs).toEqual({
    task: 'review',
    documents: [{ uri: 'file:///inputs/runbook.md', text: '# Runbook\n' }],
    artifacts: [
      { uri: 'swoosh://m/beat/1/index', text: '{"kind":"document-index"}' },
      { uri: 'swoosh://m/beat/1/other', text: 'second' },
    ],
    artifact: { uri: 'swoosh://m/beat/1/index', text: '{"kind":"document-index"}' },
  });
  expect(resolved.attachments).toEqual(s.attachments);
  expect(await withAttachments(spec(), store)).toEqual(spec());
});

test('a checksum the store does not have, a missing store and oversized inputs refuse the run', async () => {
  const absent = `sha256-${'0'.repeat(64)}`;
  await expect(
    withAttachments(spec({ documents: [{ uri: 'file:///gone.md', checksum: absent }] }), store),
  ).rejects.toThrow(
    new AttachmentError(`attachment file:///gone.md (${absent}) is not in the content store`),
  );
  const small = await store.put('small');
  await expect(
    withAttachments(spec({ documents: [{ uri: 'a', checksum: small }] }), undefined),
  ).rejects.toBeInstanceOf(AttachmentError);
  const big = await store.put('x'.repeat(MAX_RESOLVED_INPUTS_BYTES));
  await expect(withAttachments(spec({ documents: [{ uri: 'big', checksum: big }] }), store)).rejects.toThrow(
    /bytes of JSON; an agent takes at most/,
  );
});
