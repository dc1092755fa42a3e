/**
 * Mission sources are confined (issue 13, finding 2): a `file://` source is read only from under
 * the inputs folder with symlinks resolved, never from the data folder or a file holding SWOOSH's
 * secrets, and within the size limit; what is stored as evidence is readable by SWOOSH's user alone.
 * An `http(s)://` source is fetched only from addresses the outbound policy allows (issue 13, item
 * 3), within the size limit and a deadline; a refusal fails the fetch, and only a source that gives
 * no answer at all is recorded as a reference.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { dataPaths } from '../../host/data-dir';
import { FileContentStore } from '../../ledger/evidence-store';
import { generateSigner } from '../../host/keys';
import { createMissionStepActivities } from '../../activities/mission-steps';
import { ensureDevTokens } from '../../api/auth';
import { parseOutboundAllow } from '../../schemas/outbound';
import type { SourceConfinement } from '../../activities/source-confinement';
import { activityEnvironment } from './support/activity-env';
import { closedPortUrl, startHttpServer, type TestServer } from './support/http-server';

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
  activities = withSources({});
});

function withSources(sources: Partial<SourceConfinement>) {
  return createMissionStepActivities({
    dataDir,
    evidence: new FileContentStore(dataPaths(dataDir).evidenceDir),
    orchestrator: generateSigner().signer,
    checkLicence: () => Promise.reject(new Error('not used')),
    evaluatePolicy: () => Promise.reject(new Error('not used')),
    loadPolicy: () => Promise.reject(new Error('not used')),
    probeToolServers: () => Promise.reject(new Error('not used')),
    sources: {
      inputsDir: inputs,
      maxBytes: 1024,
      secretFiles: [join(root, 'elsewhere', 'tokens.json')],
      outbound: { allow: [] },
      ...sources,
    },
  });
}

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const fetch = (...paths: string[]) =>
  activities.fetchSources({ mission: 'm', objective: 'o', sources: paths.map((p) => pathToFileURL(p).href) });

function failure(error: unknown, type: string): ApplicationFailure {
  expect(error).toBeInstanceOf(ApplicationFailure);
  expect((error as ApplicationFailure).type).toBe(type);
  return error as ApplicationFailure;
}

async function refusal(path: string): Promise<string> {
  const error = await fetch(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  const refused = failure(error, 'SourceRefused');
  expect(refused.nonRetryable).toBe(true);
  return refused.message;
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

describe('web sources', () => {
  let server: TestServer;
  let port: number;
  const seen: string[] = [];

  function handle(req: IncomingMessage, res: ServerResponse): void {
    seen.push(req.url ?? '');
    const to = (location: string) => {
      res.writeHead(302, { location });
      res.end();
    };
    if (req.url === '/spec.md') {
      res.writeHead(200, { 'content-type': 'text/markdown; charset=utf-8' });
      return void res.end('# Spec\n');
    }
    if (req.url === '/moved') return to('/spec.md');
    if (req.url === '/to-metadata') return to('http://169.254.169.254/latest/meta-data/iam/');
    if (req.url === '/to-private') return to('http://10.0.0.1/spec.md');
    if (req.url === '/to-temporal') return to('http://localhost:7233/');
    if (req.url === '/big') return void res.end('x'.repeat(1025));
    if (req.url === '/silent') return;
    if (req.url === '/busy') return void res.writeHead(503).end();
    res.writeHead(404).end();
  }

  beforeAll(async () => {
    server = await startHttpServer(handle);
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server?.close();
  });

  const loopback = () => withSources({ outbound: { allow: parseOutboundAllow('127.0.0.1') } });

  /** fetchSources as the worker runs it: in an activity context, which web fetches heartbeat through. */
  const fetchWeb = (acts: ReturnType<typeof withSources>, ...uris: string[]) =>
    activityEnvironment().run(acts.fetchSources, { mission: 'm', objective: 'o', sources: uris });

  async function failed(acts: ReturnType<typeof withSources>, uri: string, type: string) {
    const before = seen.length;
    const error = await fetchWeb(acts, uri).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error: failure(error, type), reached: seen.slice(before) };
  }

  test('an allowed web source is fetched into the evidence store, redirects followed', async () => {
    const { sources } = await fetchWeb(
      loopback(),
      `http://127.0.0.1:${port}/spec.md`,
      `http://127.0.0.1:${port}/moved`,
    );
    expect(sources).toEqual([
      expect.objectContaining({
        uri: `http://127.0.0.1:${port}/spec.md`,
        path: `web/127.0.0.1:${port}/spec.md`,
        sizeBytes: 7,
        mediaType: 'text/markdown',
      }),
      expect.objectContaining({
        uri: `http://127.0.0.1:${port}/moved`,
        path: `web/127.0.0.1:${port}/spec.md`,
      }),
    ]);
    const hex = sources[0]!.checksum.slice('sha256-'.length);
    const blob = join(dataPaths(dataDir).evidenceDir, 'sha256', hex.slice(0, 2), hex);
    expect(await readFile(blob, 'utf8')).toBe('# Spec\n');
  });

  test.each([
    ['http://127.0.0.1:{port}/spec.md', '127.0.0.1 is a loopback address'],
    ['http://localhost:{port}/spec.md', 'localhost resolves to 127.0.0.1, which is a loopback address'],
    ['http://[::1]:{port}/spec.md', '::1 is a loopback address'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a link-local address'],
    ['http://10.0.0.1/spec.md', '10.0.0.1 is a private address'],
    ['https://192.168.0.10/spec.md', '192.168.0.10 is a private address'],
  ])('%s is refused when not allowed, and never falls back to a reference', async (template, reason) => {
    const uri = template.replace('{port}', String(port));
    const { error, reached } = await failed(withSources({}), uri, 'SourceRefused');
    expect(error.nonRetryable).toBe(true);
    expect(error.message).toBe(`source ${uri} refused: ${reason}; allow it with SWOOSH_OUTBOUND_ALLOW`);
    expect(reached).toEqual([]);
  });

  test('a redirect to an address the policy refuses is refused, and its target never reached', async () => {
    const onlyThisPort = withSources({ outbound: { allow: parseOutboundAllow(`127.0.0.1:${port}`) } });
    for (const [path, reason] of [
      ['/to-metadata', '169.254.169.254 is a link-local address'],
      ['/to-private', '10.0.0.1 is a private address'],
    ]) {
      const { error, reached } = await failed(
        onlyThisPort,
        `http://127.0.0.1:${port}${path}`,
        'SourceRefused',
      );
      expect(error.message).toContain(reason);
      expect(reached).toEqual([path]);
    }
    // Another port on the same host, by a name resolving to it: Temporal's stays out of reach.
    const { error, reached } = await failed(
      onlyThisPort,
      `http://127.0.0.1:${port}/to-temporal`,
      'SourceRefused',
    );
    expect(error.message).toContain('localhost resolves to 127.0.0.1, which is a loopback address');
    expect(reached).toEqual(['/to-temporal']);
  });

  test('a body over the size limit and a URL with credentials are refused', async () => {
    const big = await failed(loopback(), `http://127.0.0.1:${port}/big`, 'SourceRefused');
    expect(big.error.message).toContain('larger than the 1024-byte source limit');
    const creds = await failed(loopback(), `http://reader:s3cret@127.0.0.1:${port}/spec.md`, 'SourceRefused');
    expect(creds.error.message).toBe(
      `source http://127.0.0.1:${port}/spec.md refused: a URL with credentials is refused; send them in a header`,
    );
    expect(creds.reached).toEqual([]);
  });

  test('a source that gives no answer is recorded as a reference saying why, heartbeating meanwhile', async () => {
    const closed = `${await closedPortUrl()}spec.md`;
    const silent = `http://127.0.0.1:${port}/silent`;
    const acts = withSources({ outbound: { allow: parseOutboundAllow('127.0.0.1') }, timeoutMs: 1_500 });
    const harness = activityEnvironment();
    let beats = 0;
    harness.env.on('heartbeat', () => beats++);
    const { sources } = await harness.run(acts.fetchSources, {
      mission: 'm',
      objective: 'o',
      sources: [closed, silent],
    });
    // The silent server holds the fetch to its deadline, past the heartbeat interval.
    expect(beats).toBeGreaterThan(0);
    expect(sources.map((s) => [s.path, s.mediaType])).toEqual([
      [`reference/${encodeURIComponent(closed)}.json`, 'application/json'],
      [`reference/${encodeURIComponent(silent)}.json`, 'application/json'],
    ]);
    const docs = await Promise.all(
      sources.map(async (s) => {
        const hex = s.checksum.slice('sha256-'.length);
        return JSON.parse(
          await readFile(join(dataPaths(dataDir).evidenceDir, 'sha256', hex.slice(0, 2), hex), 'utf8'),
        ) as unknown;
      }),
    );
    expect(docs).toEqual([
      { kind: 'swoosh.source-reference/v1', uri: closed, objective: 'o', unreachable: 'ECONNREFUSED' },
      { kind: 'swoosh.source-reference/v1', uri: silent, objective: 'o', unreachable: 'timed out' },
    ]);
  });

  test('a failed answer fails the fetch: retryably when the server is busy, for good when it is missing', async () => {
    const busy = await failed(loopback(), `http://127.0.0.1:${port}/busy`, 'SourceUnreadable');
    expect([busy.error.message, busy.error.nonRetryable]).toEqual([
      `cannot read source http://127.0.0.1:${port}/busy: HTTP 503`,
      false,
    ]);
    const missing = await failed(loopback(), `http://127.0.0.1:${port}/missing`, 'SourceUnreadable');
    expect(missing.error.nonRetryable).toBe(true);
  });
});
