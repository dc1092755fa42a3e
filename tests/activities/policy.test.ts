import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { globToRegExp, missingEvidence } from '../../schemas/policy';
import { defaultPolicyFile } from '../../host/data-dir';
import { FileContentStore } from '../../ledger/evidence-store';
import { ensureKeyFile } from '../../host/keys';
import { ensureDevTokens } from '../../api/auth';
import {
  checkPolicy,
  createPolicyActivities,
  loadPolicyFile,
  parsePolicy,
  type ResolvedSource,
} from '../../activities/policy';
import {
  type PolicySnapshot,
  secretsInText,
  secretsInValue,
  withheldFindings,
  withheldNotice,
} from '../../schemas/policy';
import { activityEnvironment } from './support/activity-env';

let policy: PolicySnapshot;
let dir: string;

beforeEach(async () => {
  policy = await loadPolicyFile(defaultPolicyFile);
  dir = await mkdtemp(join(tmpdir(), 'swoosh-policy-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const source = (
  path: string,
  content = 'export const answer = 42;\n',
  extra: Partial<ResolvedSource> = {},
) => ({
  path,
  sizeBytes: Buffer.byteLength(content),
  content,
  ...extra,
});

const ingest = (...sources: ResolvedSource[]) => checkPolicy(policy, { kind: 'ingestion', sources });

// Split so that no secret-scanner flags this file itself.
const awsKey = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
const privateKey = [
  '-----BEGIN OPENSSH ',
  'PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----',
].join('');
const githubToken = ['ghp', '_', 'a'.repeat(36)].join('');

describe('SHHH default policy', () => {
  it('is versioned and hashed', () => {
    expect(policy.version).toBe(3);
    expect(policy.hash).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(policy.document.rules.map((r) => r.kind)).toEqual(
      expect.arrayContaining([
        'forbidden-path',
        'secret-content',
        'size-limit',
        'type-limit',
        'required-evidence',
        'high-entropy',
      ]),
    );
  });

  it("detects SWOOSH's own secrets: gateway tokens and tokens files, licence tokens, key files", async () => {
    // A real tokens file and a real key file, made the way SWOOSH makes them.
    const tokensFile = join(dir, 'tokens.json');
    await ensureDevTokens(tokensFile);
    const keyFile = join(dir, 'orchestrator.key.json');
    await ensureKeyFile(keyFile, 'orchestrator');
    const licence = ['swl1', 'eyJsaWNlbnNlZSI6ImRldiJ9', 'c2lnbmF0dXJlLWJ5dGVz'].join('.');
    const cases: [string, string][] = [
      ['tokens.json', await readFile(tokensFile, 'utf8')],
      ['orchestrator.key.json', await readFile(keyFile, 'utf8')],
      ['notes.txt', `the licence is ${licence}\n`],
      ['env.txt', `TOKEN=${['swt', '_', 'Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXhmb28'].join('')}\n`],
    ];
    for (const [path, content] of cases) {
      const verdict = ingest(source(path, content));
      expect(verdict.outcome, path).toBe('breach');
      expect(verdict.ruleIds, path).toContain('SHHH-SECRET-CONTENT');
      // Rationale names the pattern and line, never the secret.
      expect(verdict.rationale.join('\n'), path).not.toContain(content.slice(20, 60));
    }
  });

  it('detects high-entropy credentials of no known shape, but not hex digests or public keys', () => {
    const random = 'q7Xv2LmR9tKp4ZsWb8NcYf3HdJ6gUeA1oVxiT5rQ0kMnBz';
    expect(ingest(source('a.txt', `password for prod: ${random}\n`)).ruleIds).toContain('SHHH-HIGH-ENTROPY');
    const digest = `sha256-${'0123456789abcdef'.repeat(4)}`;
    const hex = 'deadbeef0123456789abcdef0123456789abcdef0123456789abcdef01234567';
    const key = `ed25519:${randomBytes(32).toString('base64')}`;
    expect(ingest(source('b.txt', `${digest}\n${hex}\n${key}\n`)).ruleIds).not.toContain('SHHH-HIGH-ENTROPY');
  });

  it('passes clean ingestion inputs', () => {
    const verdict = ingest(
      source('src/index.ts'),
      source('docs/README.md', '# Title\nUse an API key from the vault.\n'),
      source('config/.env.example', 'API_URL=https://example.test\n'),
    );
    expect(verdict).toMatchObject({ outcome: 'clean', ruleIds: [], rationale: [], breaches: [] });
  });

  it('passes a clean proposal', () => {
    const verdict = checkPolicy(policy, {
      kind: 'proposal',
      transition: 'Execution_Review',
      evidence: [`bubble://evidence/sha256-${'b'.repeat(64)}`, 'ucxl://swoosh:m@Execution/Execution_Work/3'],
      inputs: { summary: 'all checks green', approvals: ['a', 'b'] },
    });
    expect(verdict.outcome).toBe('clean');
  });

  it.each([
    ['.env', 'SHHH-PATH-CREDENTIALS', /forbidden pattern \.env/],
    ['deploy/keys/server.PEM', 'SHHH-PATH-CREDENTIALS', /\*\.pem/],
    ['home/me/.ssh/known_hosts', 'SHHH-PATH-CREDENTIALS', /\.ssh/],
    ['id_ed25519', 'SHHH-PATH-CREDENTIALS', /id_ed25519/],
    ['vendor/lib/.git/config', 'SHHH-PATH-VCS-INTERNALS', /\.git/],
  ])('forbids the path %s', (path, ruleId, detail) => {
    const verdict = ingest(source('src/ok.ts'), source(path));
    expect(verdict.outcome).toBe('breach');
    expect(verdict.ruleIds).toEqual([ruleId]);
    expect(verdict.breaches).toHaveLength(1);
    expect(verdict.breaches[0]?.location).toBe(path);
    expect(verdict.breaches[0]?.detail).toMatch(detail);
  });

  it.each([
    ['aws-access-key-id', `const key = "${awsKey}";`],
    ['private-key-block', privateKey],
    ['github-token', `token: ${githubToken}`],
    ['slack-token', ['xoxb', '-1234567890-abcdefghij'].join('')],
    ['credential-assignment', 'PASSWORD = "hunter2hunter2"'],
  ])('finds secret-like content (%s) and names the line, never the secret', (pattern, content) => {
    const verdict = ingest(source('src/config.ts', `// config\n\n${content}\n`));
    expect(verdict.ruleIds).toEqual(['SHHH-SECRET-CONTENT']);
    expect(verdict.breaches[0]?.detail).toBe(`secret-like content: ${pattern} at line 3`);
    expect(JSON.stringify(verdict)).not.toContain(content.trim().slice(-12));
  });

  it('finds secret-like values in proposal inputs by their field path', () => {
    const verdict = checkPolicy(policy, {
      kind: 'proposal',
      transition: 'Council_QuorumCert',
      evidence: [],
      inputs: { votes: [{ member: 'a', note: `use ${githubToken}` }] },
    });
    expect(verdict.ruleIds).toEqual(['SHHH-SECRET-CONTENT']);
    expect(verdict.breaches[0]).toMatchObject({
      location: 'proposal Council_QuorumCert',
      detail: 'secret-like value (github-token) at inputs.votes[0].note',
    });
    expect(JSON.stringify(verdict)).not.toContain(githubToken);
  });

  it('limits the size of each source, counting real content over a smaller declared size', () => {
    const big = 'x'.repeat(10 * 1024 * 1024 + 1);
    const verdict = ingest(source('data/dump.txt', big, { sizeBytes: 10 }));
    expect(verdict.ruleIds).toEqual(['SHHH-SIZE-LIMIT']);
    expect(verdict.breaches[0]?.detail).toMatch(/10485761 bytes exceeds the 10485760-byte limit/);
  });

  it('limits the total size of an ingestion', () => {
    const sources = Array.from({ length: 30 }, (_, i) =>
      source(`data/part-${i}.csv`, 'a,b\n', { sizeBytes: 9_000_000 }),
    );
    const verdict = ingest(...sources);
    expect(verdict.ruleIds).toEqual(['SHHH-SIZE-LIMIT']);
    expect(verdict.breaches).toEqual([expect.objectContaining({ location: 'all sources' })]);
  });

  it('denies executable file types', () => {
    const verdict = ingest(source('tools/setup.EXE', 'MZ'));
    expect(verdict.ruleIds).toEqual(['SHHH-TYPE-LIMIT']);
    expect(verdict.breaches[0]?.detail).toBe('extension .exe is denied');
  });

  it('requires evidence for reviewed results', () => {
    const verdict = checkPolicy(policy, {
      kind: 'proposal',
      transition: 'Execution_Review',
      evidence: ['ucxl://swoosh:m@Execution/Execution_Work/3'],
      inputs: {},
    });
    expect(verdict.ruleIds).toEqual(['SHHH-EVIDENCE-RESULTS']);
    expect(verdict.breaches[0]?.detail).toBe('no evidence reference starting with bubble://evidence/sha256-');
  });

  it("is met by the mission's own evidence references, and judged alike by the gateway's pure check", () => {
    const evidence = [`bubble://evidence/sha256-${'a'.repeat(64)}`];
    expect(
      checkPolicy(policy, { kind: 'proposal', transition: 'Execution_Review', evidence, inputs: {} }).outcome,
    ).toBe('clean');
    expect(missingEvidence(policy.document, 'Execution_Review', evidence)).toEqual([]);
    expect(
      missingEvidence(policy.document, 'Execution_Review', ['ucxl://swoosh:m@Execution/Execution_Work/3']),
    ).toEqual([
      'SHHH-EVIDENCE-RESULTS: Execution_Review must cite evidence starting with bubble://evidence/sha256-',
    ]);
    expect(missingEvidence(policy.document, 'Council_Elect', [])).toEqual([]);
  });

  it('does not require evidence for transitions the rule does not name', () => {
    const verdict = checkPolicy(policy, {
      kind: 'proposal',
      transition: 'Council_Elect',
      evidence: [],
      inputs: {},
    });
    expect(verdict.outcome).toBe('clean');
  });

  it('gives a quarantine rationale that carries every rule id that fired, in policy order', () => {
    const verdict = ingest(source('secrets/.env', `AWS=${awsKey}`), source('bin/tool.exe', 'MZ'));
    expect(verdict.ruleIds).toEqual(['SHHH-PATH-CREDENTIALS', 'SHHH-SECRET-CONTENT', 'SHHH-TYPE-LIMIT']);
    expect(verdict.rationale).toHaveLength(3);
    verdict.ruleIds.forEach((id, i) => expect(verdict.rationale[i]?.startsWith(`${id}: `)).toBe(true));
    expect(verdict.rationale[0]).toContain('(secrets/.env: path matches forbidden pattern .env)');
  });
});

describe('SHHH policy documents', () => {
  const yaml = (rules: string) => `version: 3\nrules:\n${rules}`;

  it('allows only listed media types when a type-limit lists them', () => {
    const custom = parsePolicy(
      yaml(`  - id: TEXT-ONLY
    kind: type-limit
    rationale: Only text is reviewed.
    allowedMediaTypes: ['text/*', 'application/json']
`),
      'test',
    );
    const check = (mediaType?: string) =>
      checkPolicy(custom, {
        kind: 'ingestion',
        sources: [source('a.bin', 'x', mediaType ? { mediaType } : {})],
      });
    expect(check('text/markdown; charset=utf-8').outcome).toBe('clean');
    expect(check('application/json').outcome).toBe('clean');
    expect(check('image/png').breaches[0]?.detail).toBe('media type image/png is not allowed');
    expect(check().breaches[0]?.detail).toBe('media type not declared');
  });

  it('rejects duplicate rule ids, unknown fields and regexes that do not compile', () => {
    const rule = (id: string, extra = '') =>
      `  - id: ${id}\n    kind: forbidden-path\n    rationale: r\n    paths: ['*.x']\n${extra}`;
    expect(() => parsePolicy(yaml(rule('A') + rule('A')), 'dup')).toThrow(/rule ids must be unique/);
    expect(() => parsePolicy(yaml(rule('A', '    severity: high\n')), 'extra')).toThrow(/severity/);
    expect(() =>
      parsePolicy(
        yaml(
          `  - id: B\n    kind: secret-content\n    rationale: r\n    patterns: [{ name: bad, regex: '(' }]\n`,
        ),
        'regex',
      ),
    ).toThrow(/regex does not compile/);
    expect(() => parsePolicy('version: [', 'yaml')).toThrow(/not valid YAML/);
  });

  it('hashes meaning, not formatting', () => {
    const a = parsePolicy(yaml(`  - { id: A, kind: forbidden-path, rationale: r, paths: ['*.x'] }\n`), 'a');
    const b = parsePolicy(
      `# comment\nrules:\n  - paths: ['*.x']\n    rationale: r\n    kind: forbidden-path\n    id: A\nversion: 3\n`,
      'b',
    );
    expect(b.hash).toBe(a.hash);
  });

  it("are parsed again only when the file's text changes; callers share one frozen snapshot", async () => {
    const policyFile = join(dir, 'policy.yaml');
    await writeFile(policyFile, 'version: 2\nrules: []\n');
    const first = await loadPolicyFile(policyFile);
    expect(await loadPolicyFile(policyFile)).toBe(first);
    expect(() => {
      (first.document as { version: number }).version = 9;
    }).toThrow(TypeError);
    // The same size, written at once: the text, not the file's times, says it changed.
    await writeFile(policyFile, 'version: 3\nrules: []\n');
    const edited = await loadPolicyFile(policyFile);
    expect(edited.version).toBe(3);
    expect(edited.hash).not.toBe(first.hash);
    await writeFile(policyFile, 'version: [');
    await expect(loadPolicyFile(policyFile)).rejects.toThrow(/not valid YAML/);
  });

  it('matches globs the way the policy file documents', () => {
    expect(globToRegExp('**/.ssh/**').test('.ssh/id')).toBe(true);
    expect(globToRegExp('**/.ssh/**').test('a/b/.ssh/id')).toBe(true);
    expect(globToRegExp('src/*.ts').test('src/a/b.ts')).toBe(false);
    expect(globToRegExp('file?.txt').test('file1.txt')).toBe(true);
    expect(globToRegExp('a+b(c).txt').test('a+b(c).txt')).toBe(true);
  });
});

describe('policy activities', () => {
  it('evaluate content referenced by checksum from the evidence store', async () => {
    const evidence = new FileContentStore(join(dir, 'evidence'));
    const checksum = await evidence.put(`secret: ${awsKey}`);
    const activities = createPolicyActivities({ policyFile: defaultPolicyFile, evidence });
    const verdict = await activityEnvironment().run(activities.evaluatePolicy, {
      subject: { kind: 'ingestion', sources: [{ path: 'notes.txt', sizeBytes: 30, checksum }] },
    });
    expect(verdict.ruleIds).toEqual(['SHHH-SECRET-CONTENT']);
  });

  it('load the policy snapshot a policy-update transition records', async () => {
    const activities = createPolicyActivities({
      policyFile: defaultPolicyFile,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    expect(await activityEnvironment().run(activities.loadPolicy)).toEqual(policy);
  });

  it('refuse to judge under a policy the mission has not recorded', async () => {
    const policyFile = join(dir, 'policy.yaml');
    await writeFile(policyFile, 'version: 2\nrules: []\n');
    const activities = createPolicyActivities({
      policyFile,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    const env = activityEnvironment();
    const subject = { kind: 'proposal' as const, transition: 'X', evidence: [], inputs: {} };

    const recorded = (await env.run(activities.loadPolicy)).hash;
    expect((await env.run(activities.evaluatePolicy, { subject, policyHash: recorded })).outcome).toBe(
      'clean',
    );

    await writeFile(policyFile, 'version: 3\nrules: []\n');
    await expect(env.run(activities.evaluatePolicy, { subject, policyHash: recorded })).rejects.toMatchObject(
      {
        type: 'PolicyNotRecorded',
        nonRetryable: true,
      },
    );
  });

  it('reject a request without content to scan', async () => {
    const activities = createPolicyActivities({
      policyFile: defaultPolicyFile,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    await expect(
      activityEnvironment().run(activities.evaluatePolicy, {
        subject: { kind: 'ingestion', sources: [{ path: 'a.txt', sizeBytes: 1 }] },
      }),
    ).rejects.toMatchObject({ type: 'InvalidPolicyRequest', nonRetryable: true });
  });

  it('fail without retry when referenced content is missing from the store', async () => {
    const activities = createPolicyActivities({
      policyFile: defaultPolicyFile,
      evidence: new FileContentStore(join(dir, 'evidence')),
    });
    await expect(
      activityEnvironment().run(activities.evaluatePolicy, {
        subject: {
          kind: 'ingestion',
          sources: [{ path: 'a.txt', sizeBytes: 1, checksum: `sha256-${'c'.repeat(64)}` }],
        },
      }),
    ).rejects.toMatchObject({ type: 'EvidenceNotFound', nonRetryable: true });
  });
});

describe('the secret rules outside ingestion (proposal inputs, agent outputs)', () => {
  const key = ['AKIA', 'QX7P', 'EXAMPLE0', 'KEY1'].join('');

  it('name the field path, rule and pattern of a secret in a JSON value, never the value', () => {
    const found = secretsInValue(policy.document, { note: 'fine', auth: [{ key }] }, 'inputs');
    expect(found).toEqual([
      { ruleId: 'SHHH-SECRET-CONTENT', pattern: 'aws-access-key-id', at: 'inputs.auth[0].key' },
    ]);
    expect(JSON.stringify(found)).not.toContain(key);
    expect(secretsInValue(policy.document, { note: 'fine', n: 3 }, 'inputs')).toEqual([]);
  });

  it('withhold a text by a notice that names each finding and reads back the same findings', () => {
    const found = secretsInText(policy.document, `starting\ndeploying with ${key}\n`);
    expect(found).toEqual([{ ruleId: 'SHHH-SECRET-CONTENT', pattern: 'aws-access-key-id', at: 'line 2' }]);
    const notice = withheldNotice(found);
    expect(notice).toBe('[swoosh] output withheld: SHHH-SECRET-CONTENT (aws-access-key-id at line 2)');
    expect(withheldFindings(notice)).toEqual(found);
    expect(secretsInText(policy.document, notice)).toEqual([]);
  });
});
