/**
 * The worker registers SWOOSH's search attributes on a Temporal server that nobody prepared: a
 * dev server started here without `--search-attribute`, as a fresh cluster would be.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BeatKey, MissionIdKey, swooshSearchAttributes } from '../../schemas/search-attributes';
import { ensureSearchAttributes } from '../../workers/search-attributes';
import { startDevServerEnv } from '../support/temporal';

/** Starts a workflow that no worker polls for; only whether the server accepts the start matters. */
function startTagged(client: Client) {
  return client.workflow.start('missionWorkflow', {
    taskQueue: 'nobody-polls-this',
    workflowId: `sa-${randomUUID()}`,
    typedSearchAttributes: [
      { key: MissionIdKey, value: 'm-fresh' },
      { key: BeatKey, value: 1 },
    ],
  });
}

describe('search attributes on a fresh Temporal server', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await startDevServerEnv([], { registerSearchAttributes: false });
  });

  afterAll(async () => {
    await env?.teardown();
  });

  test('a mission start is refused before registration and accepted after; a second registration adds nothing', async () => {
    const refused = await startTagged(env.client).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    // The client wraps the server's INVALID_ARGUMENT, which names the unknown attribute.
    expect(String(refused?.cause)).toMatch(/SwooshMissionId|SwooshBeat/);

    const added = await ensureSearchAttributes(env.connection, 'default');
    expect(added.sort()).toEqual(swooshSearchAttributes.map((k) => k.name).sort());

    const handle = await startTagged(env.client);
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(MissionIdKey)).toBe('m-fresh');
    await handle.terminate('only the start was under test');

    expect(await ensureSearchAttributes(env.connection, 'default')).toEqual([]);
  });

  test('an attribute registered under another type is reported by name, not overwritten', async () => {
    const namespace = `sa-conflict-${randomUUID().slice(0, 8)}`;
    await env.connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
    const clash = defineSearchAttributeKey('SwooshPhase', SearchAttributeType.INT);
    await env.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: { [clash.name]: proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT },
    });

    await expect(ensureSearchAttributes(env.connection, namespace)).rejects.toThrow(
      /SwooshPhase is registered on namespace sa-conflict-\w+ as INDEXED_VALUE_TYPE_INT/,
    );
    const listed = await env.connection.operatorService.listSearchAttributes({ namespace });
    expect(listed.customAttributes?.SwooshPhase).toBe(
      proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
    );
  });
});
