/**
 * The example agents of the default catalogue (docs/agents.md#the-example-agents): the indexer's
 * and the reviewer's work as pure functions, then each run as a real process exactly as the
 * catalogue declares it, from the application's folder, with the agent contract's environment.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPolicyFile } from '../../activities/policy';
import { indexDocuments } from '../../agents/index-documents';
import { reviewArtifact } from '../../agents/review-artifact';
import { appRoot, defaultPolicyFile } from '../../host/data-dir';
import { DEFAULT_AGENT_CATALOGUE } from '../../schemas/agent-catalogue';
import { artifactIdOf, ValidationReport } from '../../schemas/evidence';
import { DocumentIndex, ReviewRules } from '../../schemas/example-agents';
import { sha256Text } from '../../schemas/hash';
import type { PolicySnapshot } from '../../schemas/policy';

const GUIDE = [
  '# Deploying the gateway',
  'The gateway needs a token. See [the API guide](https://docs.example.org/api) and https://example.org/tokens.',
  '',
  '## Tokens',
  'Tokens rotate; a gateway reloads tokens on SIGHUP. Tokens never appear in logs.',
  '```sh',
  '# not a heading: inside a fence',
  '```',
  '### Rotation ###',
  'Rotation happens daily.',
].join('\n');

const NOTES = 'Release notes: the gateway got faster. See https://example.org/tokens again.';

// Assembled here so this file holds no secret-shaped literal of its own.
const AWS_KEY = ['AKIA', 'ABCDEFGHIJKLMNOP'].join('');

let policy: PolicySnapshot;
let scratch: string;

beforeAll(async () => {
  policy = await loadPolicyFile(defaultPolicyFile);
  scratch = await mkdtemp(join(tmpdir(), 'swoosh-example-agents-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('indexDocuments', () => {
  const index = indexDocuments(
    'm-1',
    [
      { uri: 'docs/guide.md', text: GUIDE },
      { uri: 'docs/notes.txt', text: NOTES },
    ],
    5,
  );

  test('is a DocumentIndex with each document’s checksum and size', () => {
    expect(DocumentIndex.parse(index)).toEqual(index);
    expect(index.documents[0]!.uri).toBe('docs/guide.md');
    expect(index.documents[0]!.checksum).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(index.documents[0]!.sizeBytes).toBe(Buffer.byteLength(GUIDE));
    expect(index.documents[0]!.checksum).not.toBe(index.documents[1]!.checksum);
  });

  test('lists headings outside code fences, with their level and without closing hashes', () => {
    expect(index.documents[0]!.headings).toEqual([
      { level: 1, text: 'Deploying the gateway' },
      { level: 2, text: 'Tokens' },
      { level: 3, text: 'Rotation' },
    ]);
    expect(index.documents[1]!.headings).toEqual([]);
  });

  test('lists markdown links with their text and bare URLs, each once, without trailing punctuation', () => {
    expect(index.documents[0]!.links).toEqual([
      { href: 'https://docs.example.org/api', text: 'the API guide' },
      { href: 'https://example.org/tokens' },
    ]);
  });

  test('counts terms without stopwords, URLs or numbers, most frequent first, ties by term', () => {
    expect(index.documents[0]!.terms).toEqual([
      { term: 'tokens', count: 4 },
      { term: 'gateway', count: 3 },
      { term: 'rotation', count: 2 },
      { term: 'api', count: 1 },
      { term: 'appear', count: 1 },
    ]);
    expect(index.terms.slice(0, 2)).toEqual([
      { term: 'gateway', count: 4, documents: 2 },
      { term: 'tokens', count: 4, documents: 1 },
    ]);
  });
});

describe('reviewArtifact', () => {
  const review = (text: string, rules: Partial<ReviewRules> = {}) =>
    reviewArtifact({
      missionId: 'm-1',
      reviewer: 'reviewer-test',
      artifact: { uri: 'swoosh://m-1/artifact', text },
      rules: ReviewRules.parse(rules),
      policy,
      now: new Date('2026-12-03T00:00:00.000Z'),
    });
  const check = (report: ValidationReport, id: string) => report.findings.find((f) => f.id === id);

  test('passes an index that has the required sections, under the policy', () => {
    const artifact = JSON.stringify(indexDocuments('m-1', [{ uri: 'g', text: GUIDE }], 10));
    const report = review(artifact, { requiredSections: ['tokens', 'Rotation'] });
    expect(ValidationReport.parse(report)).toEqual(report);
    expect(report).toMatchObject({
      result: 'pass',
      reviewer: 'reviewer-test',
      missionId: 'm-1',
      coverage: 1,
    });
    expect(check(report, 'format')!.detail).toBe('a valid document-index');
    expect(report.findings.map((f) => f.id)).toEqual(['size', 'format', 'sections', 'policy']);
    // Named by content, as SWOOSH names the agent outputs it stores.
    expect(report.artifactId).toBe(artifactIdOf(sha256Text(artifact)));
    expect(report.reportId).toMatch(/^report-[0-9a-f]{32}$/);
  });

  test('fails a missing section, naming it', () => {
    const report = review(GUIDE, { requiredSections: ['Tokens', 'Rollback'] });
    expect(report).toMatchObject({ result: 'fail', coverage: 1 });
    expect(check(report, 'sections')).toEqual({ id: 'sections', ok: false, detail: 'missing "Rollback"' });
    expect(check(report, 'format')!.detail).toBe('a valid markdown');
  });

  test('fails an artifact over its size, and one that is not the format asked for', () => {
    expect(check(review(GUIDE, { maxBytes: 10 }), 'size')!.ok).toBe(false);
    const notIndex = review('{"kind":"document-index"}', { format: 'document-index' });
    expect(notIndex.result).toBe('fail');
    expect(check(notIndex, 'format')!.detail).toMatch(/^not a document index: mission: /);
    expect(check(review('plain words', { format: 'json' }), 'format')!.detail).toMatch(/^not JSON: /);
  });

  test('sections of what does not read as its format are not judged, and coverage says so', () => {
    const report = review('plain words', { format: 'json', requiredSections: ['Tokens'] });
    expect(check(report, 'sections')).toEqual({
      id: 'sections',
      ok: false,
      detail: 'not checked: not a valid json',
    });
    expect(report).toMatchObject({ result: 'fail', coverage: 0.75 });
  });

  test('fails secret-like content under the SHHH policy, naming the rule and line but not the secret', () => {
    const report = review(`# Keys\nline two\naws = ${AWS_KEY}\n`);
    expect(report.result).toBe('fail');
    const found = check(report, 'policy')!;
    expect(found.ok).toBe(false);
    expect(found.detail).toContain('SHHH-SECRET-CONTENT');
    expect(found.detail).toContain('aws-access-key-id at line 3');
    expect(JSON.stringify(report)).not.toContain(AWS_KEY);
  });
});

/** Runs a catalogue agent as the process backend does: its command, from the app's folder, PATH only. */
function runCatalogueAgent(
  id: 'indexer' | 'reviewer',
  inputs: string,
  workdir: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const agent = DEFAULT_AGENT_CATALOGUE.agents[id]!;
  const child = spawn(agent.command[0]!, [...agent.command.slice(1), ...agent.args], {
    cwd: appRoot,
    env: {
      PATH: process.env.PATH ?? '',
      SWOOSH_INPUTS: inputs,
      SWOOSH_MISSION_ID: 'm-run',
      SWOOSH_JOB_NAME: `${id}-job-1`,
      SWOOSH_WORKDIR: workdir,
      HOME: workdir,
      TMPDIR: scratch,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the catalogue declarations, run as processes', () => {
  test('the indexer indexes the objective and writes index.json and one line on stdout', async () => {
    const workdir = await mkdtemp(join(scratch, 'indexer-'));
    const run = await runCatalogueAgent(
      'indexer',
      JSON.stringify({ objective: GUIDE, task: 'task-1-1', beat: 1 }),
      workdir,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const index = DocumentIndex.parse(JSON.parse(run.stdout));
    expect(index).toEqual(indexDocuments('m-run', [{ uri: 'swoosh://m-run/objective', text: GUIDE }], 50));
    expect(await readFile(join(workdir, 'index.json'), 'utf8')).toBe(run.stdout);
  }, 60_000);

  test('the reviewer writes a failing report for a secret (exit 0: the review finished)', async () => {
    const workdir = await mkdtemp(join(scratch, 'reviewer-'));
    const run = await runCatalogueAgent(
      'reviewer',
      JSON.stringify({ artifact: { uri: 'a.md', text: `token: ${AWS_KEY}` } }),
      workdir,
    );
    expect(run.code).toBe(0);
    const report = ValidationReport.parse(JSON.parse(run.stdout));
    expect(report).toMatchObject({ result: 'fail', reviewer: 'reviewer-job-1', missionId: 'm-run' });
    expect(run.stdout).not.toContain(AWS_KEY);
    expect(await readFile(join(workdir, 'report.json'), 'utf8')).toBe(run.stdout);
  }, 60_000);

  test('bad inputs exit 2 naming the field, and write nothing', async () => {
    const workdir = await mkdtemp(join(scratch, 'bad-'));
    const run = await runCatalogueAgent('reviewer', JSON.stringify({ rules: { maxBytes: -1 } }), workdir);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^reviewer: SWOOSH_INPUTS: rules\.maxBytes: /);
    const notJson = await runCatalogueAgent('indexer', '{', workdir);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/^indexer: SWOOSH_INPUTS is not JSON: /);
    expect(await readdir(workdir)).toEqual([]);
  }, 60_000);
});
