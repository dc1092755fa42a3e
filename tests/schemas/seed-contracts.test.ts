/**
 * The AgentNexus seed contracts, field for field (docs/design.md#interfaces): a renamed, dropped
 * or added field fails here, in the zod schema and in the JSON Schema the OpenAPI document is
 * generated from. SWOOSH's own additions are listed apart from the seed names.
 */
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { AgentLifecycleEvent, ArtifactEvidence, ValidationReport } from '../../schemas/evidence';
import { MissionPrompt } from '../../schemas/mission';

interface Pinned {
  schema: z.ZodObject<Record<string, z.ZodType>>;
  seed: { required: string[]; optional: string[] };
  swoosh: { required: string[]; optional: string[] };
}

const CONTRACTS: Record<string, Pinned> = {
  MissionPrompt: {
    schema: MissionPrompt,
    seed: { required: ['id', 'objective', 'priority', 'originatingSpec', 'createdAt'], optional: [] },
    swoosh: { required: [], optional: [] },
  },
  ArtifactEvidence: {
    schema: ArtifactEvidence,
    seed: { required: ['artifactId', 'missionId', 'type', 'uri', 'checksum', 'producedBy'], optional: [] },
    // `kind` tells the evidence store's two kinds apart.
    swoosh: { required: ['kind', 'sizeBytes', 'mediaType', 'createdAt'], optional: [] },
  },
  ValidationReport: {
    schema: ValidationReport,
    seed: {
      required: ['reportId', 'artifactId', 'reviewer', 'result', 'coverage', 'findings'],
      optional: [],
    },
    swoosh: { required: ['kind', 'missionId', 'createdAt'], optional: [] },
  },
  AgentLifecycleEvent: {
    schema: AgentLifecycleEvent,
    seed: {
      required: ['agentId', 'missionId', 'lifecycle', 'capabilityProfile', 'energyBudget', 'timestamp'],
      optional: [],
    },
    swoosh: { required: [], optional: ['jobId', 'reason'] },
  },
};

const sorted = (keys: Iterable<string>): string[] => [...keys].sort();

describe.each(Object.entries(CONTRACTS))('%s', (_, { schema, seed, swoosh }) => {
  const required = sorted([...seed.required, ...swoosh.required]);
  const all = sorted([...required, ...seed.optional, ...swoosh.optional]);

  test('has exactly the pinned fields, the pinned ones required', () => {
    expect(sorted(Object.keys(schema.shape))).toEqual(all);
    const isRequired = (key: string) => !schema.shape[key]!.safeParse(undefined).success;
    expect(sorted(Object.keys(schema.shape).filter(isRequired))).toEqual(required);
  });

  test('its JSON Schema (what OpenAPI shows) names the same fields and refuses others', () => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as {
      properties: Record<string, unknown>;
      required: string[];
      additionalProperties: unknown;
    };
    expect(sorted(Object.keys(json.properties))).toEqual(all);
    expect(sorted(json.required)).toEqual(required);
    expect(json.additionalProperties).toBe(false);
  });
});

test('the seed contracts accept a seed-shaped value of each', () => {
  const createdAt = '2026-11-23T09:00:00Z';
  const checksum = `sha256-${'a'.repeat(64)}`;
  expect(
    ArtifactEvidence.safeParse({
      kind: 'artifact',
      artifactId: `artifact-${'a'.repeat(64)}`,
      missionId: 'm-1',
      type: 'agent-output',
      uri: 'swoosh://m-1/beat/1/task-1',
      checksum,
      producedBy: 'agent-m-1-1-1',
      sizeBytes: 3,
      mediaType: 'text/plain',
      createdAt,
    }).success,
  ).toBe(true);
  expect(
    ValidationReport.safeParse({
      kind: 'validation-report',
      reportId: 'report-1',
      missionId: 'm-1',
      artifactId: `artifact-${'a'.repeat(64)}`,
      reviewer: 'reviewer-1',
      result: 'fail',
      coverage: 0.75,
      findings: [{ id: 'size', ok: false, detail: '9 bytes, at most 8' }],
      createdAt,
    }).success,
  ).toBe(true);
  expect(
    AgentLifecycleEvent.safeParse({
      agentId: 'reviewer-1',
      missionId: 'm-1',
      lifecycle: 'escalated',
      capabilityProfile: { role: 'reviewer', capabilities: ['read'] },
      energyBudget: { tokens: 1000 },
      timestamp: createdAt,
    }).success,
  ).toBe(true);
});

test('coverage is a share: outside 0..1 is refused', () => {
  const coverage = ValidationReport.shape.coverage;
  expect([0, 0.5, 1].map((c) => coverage.safeParse(c).success)).toEqual([true, true, true]);
  expect([-0.1, 1.5, 3].map((c) => coverage.safeParse(c).success)).toEqual([false, false, false]);
});
