/**
 * Evidence over HTTP: the content a mission's decision records cite (`bubble://evidence/<checksum>`),
 * such as an agent's index or a reviewer's ValidationReport. The store is shared by every mission
 * and may hold ingested content no decision cites, so only what this mission's ledger cites is served.
 */
import type { Client } from '@temporalio/client';
import { EvidenceNotFoundError, type ContentStore, type LedgerReader } from '../ledger';
import { Problem } from '../schemas/api';
import { EvidenceParams } from '../schemas/ledger-page';
import { ALL_ROLES } from './auth';
import { assertMissionExists } from './missions';
import { sendProblem } from './problem';
import type { ApiRegistry } from './routes';

export interface EvidenceRouteDeps {
  client: Client;
  ledger: LedgerReader;
  /** The evidence store the workers write (SWOOSH_STORE), read only. */
  evidence: ContentStore;
}

/** Whether a decision record of the mission cites `uri`; reads the ledger page by page. */
async function cites(ledger: LedgerReader, mission: string, uri: string): Promise<boolean> {
  let cursor: string | undefined;
  do {
    const page = await ledger.page(mission, { limit: 500, kind: 'decision', ...(cursor && { cursor }) });
    if (page.records.some((r) => r.kind === 'decision' && r.evidence.includes(uri))) return true;
    cursor = page.next;
  } while (cursor !== undefined);
  return false;
}

const isJson = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

export function mountEvidenceRoutes(api: ApiRegistry, { client, ledger, evidence }: EvidenceRouteDeps): void {
  api.route({
    method: 'get',
    path: '/missions/:id/evidence/:checksum',
    operationId: 'getEvidence',
    tag: 'Ledger',
    summary: 'Evidence a decision record of the mission cites, by its checksum',
    description:
      'The bytes stored under `checksum` (`bubble://evidence/<checksum>` in a record’s `evidence`): JSON as ' +
      '`application/json`, anything else as `application/octet-stream`. 404 unless one of the mission’s ' +
      'decision records cites it.',
    access: ALL_ROLES,
    params: EvidenceParams,
    responses: {
      200: { description: 'The evidence, as stored' },
      404: { description: 'Unknown mission, or evidence this mission does not cite', schema: Problem },
    },
    handler: async ({ params }, res) => {
      const uri = `bubble://evidence/${params.checksum}`;
      const notCited = () =>
        sendProblem(res, {
          status: 404,
          title: 'Not found',
          detail: `mission ${params.id} cites no evidence ${params.checksum}`,
        });
      if (!(await cites(ledger, params.id, uri))) {
        await assertMissionExists(client, params.id);
        return notCited();
      }
      let bytes: Buffer;
      try {
        bytes = await evidence.get(params.checksum);
      } catch (error) {
        if (error instanceof EvidenceNotFoundError) return notCited();
        throw error;
      }
      const text = bytes.toString('utf8');
      res.type(isJson(text) ? 'application/json' : 'application/octet-stream').send(bytes);
    },
  });
}
