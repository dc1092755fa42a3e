/**
 * GET /missions/:id/evidence/:checksum on a real gateway and worker: a mission whose plan ran the
 * indexer serves its DocumentIndex; content the mission's ledger does not cite, a malformed
 * checksum and an unknown mission are refused.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { dataPaths } from '../../host/data-dir';
import { FileContentStore } from '../../ledger/evidence-store';
import { DocumentIndex } from '../../schemas/example-agents';
import { missionWorkflowId } from '../../schemas/mission';
import type { StateDocument } from '../../schemas/state-document';
import { FAST, type GatewayFixture, startGatewayFixture } from './support/gateway';
import { prompt } from '../lifecycle/support/missions';

const fieldsOf = (body: { errors?: { field: string }[] }) => body.errors?.map((e) => e.field) ?? [];

let fx: GatewayFixture;
beforeAll(async () => {
  fx = await startGatewayFixture('evidence');
});
afterAll(() => fx?.stop());

test("the indexer's DocumentIndex is served as JSON; evidence the mission does not cite is a 404", async () => {
  const id = randomUUID();
  const started = await fx.as.operator.startMission({
    ...prompt(id),
    config: {
      autoApprove: true,
      maxBeats: 1,
      schedule: FAST,
      plan: { tasks: [{ id: 'index', agent: 'indexer' }] },
    },
  });
  expect(started.status).toBe(201);
  const { state } = (await fx.env.client.workflow.getHandle(missionWorkflowId(id)).result()) as {
    state: StateDocument;
  };
  const checksum = state.execution.evidence[0]!.replace('bubble://evidence/', '');

  const served = await fx.as.viewer.evidence(id, checksum);
  expect(served.status).toBe(200);
  expect(served.headers.get('content-type')).toMatch(/^application\/json/);
  if (served.ok) expect(DocumentIndex.parse(served.body).mission).toBe(id);

  // In the store, but cited by no record of this mission.
  const uncited = await new FileContentStore(dataPaths(fx.dataDir).evidenceDir).put('not cited by anyone');
  const refused = await fx.as.viewer.evidence(id, uncited);
  expect(refused.status).toBe(404);
  expect((await fx.as.viewer.evidence(randomUUID(), checksum)).status).toBe(404);
  expect((await fx.as.anonymous.evidence(id, checksum)).status).toBe(401);

  const malformed = await fx.as.viewer.evidence(id, 'sha256-nothex');
  expect(malformed.status).toBe(400);
  if (!malformed.ok) expect(fieldsOf(malformed.body)).toEqual(['params.checksum']);
});
