/**
 * Minimal real side effects behind the lifecycle regions (docs/design.md#the-statechart): sources are fetched into the
 * content-addressed store (`file://` from the inputs folder, `http(s)://` under the outbound
 * policy; a web source that cannot be reached at all, and any other scheme, is recorded as a
 * reference document instead, docs/api.md "Sources"), validated under the SHHH policy,
 * indexed as a content-hash manifest; workspaces are provisioned as directories under the data
 * folder and health-checked; council votes of the orchestrator are signed here, so its secret key
 * never enters workflow code or history. Every result is plain JSON the workflow turns into
 * proposal inputs; every step is idempotent so Temporal may retry it.
 */
import { access, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { LicenceVerdict as KachingVerdict } from '../schemas/licence';
import type { FetchedSource } from '../schemas/mission';
import {
  type PolicyEvaluationRequest,
  type PolicySnapshot,
  type PolicyVerdict as ShhhVerdict,
  type SecretFinding,
  secretsInText,
  withheldFindings,
  withheldNotice,
} from '../schemas/policy';
import type { ToolHealthReport } from '../schemas/tool-health';
import type { GuardIO } from '../schemas/guard-io';
import { type ArtifactEvidence, artifactIdOf, reportIdOf, type ValidationReport } from '../schemas/evidence';
import { voteSigningBytes } from '../schemas/signed-bytes';
import { hashCanonical } from '../host/digest';
import { canonicalJson } from '../schemas/canonical-json';
import { dataPaths, orchestratorKeyFile, resolveInputsDir, sourceMaxBytes } from '../host/data-dir';
import type { ContentStore } from '../ledger/evidence-store';
import type { Signer } from '../host/keys';
import { outboundPolicyFromEnv } from '../host/outbound';
import {
  DEFAULT_SOURCE_TIMEOUT_MS,
  fetchConfinedSource,
  readConfinedSource,
  type SourceConfinement,
  SourceRefusedError,
  SourceUnreachableError,
  SourceUnreadableError,
} from './source-confinement';

type LicenceIO = NonNullable<GuardIO['licence']>;
type PolicyIO = NonNullable<GuardIO['policy']>;
type ToolIO = NonNullable<GuardIO['tools']>[number];

export type { FetchedSource };

export interface MissionStepDeps {
  dataDir: string;
  evidence: ContentStore;
  orchestrator: Signer;
  checkLicence: () => Promise<KachingVerdict>;
  evaluatePolicy: (request: PolicyEvaluationRequest) => Promise<ShhhVerdict>;
  /** The policy agent outputs are screened with before they are stored. */
  loadPolicy: () => Promise<PolicySnapshot>;
  probeToolServers: () => Promise<ToolHealthReport>;
  /** Where sources may come from; SWOOSH_INPUTS_DIR, SWOOSH_OUTBOUND_ALLOW and friends unless given. */
  sources?: Partial<SourceConfinement>;
}

/**
 * The confinement rules from the environment: the inputs folder, the data folder and every file
 * SWOOSH keeps a secret in, wherever it is configured.
 */
function confinementOf(dataDir: string, given: Partial<SourceConfinement> = {}): SourceConfinement {
  const paths = dataPaths(dataDir);
  const env = process.env;
  const configured = [
    env.SWOOSH_GATEWAY_TOKENS_FILE,
    env.SWOOSH_LICENCE_FILE,
    env.SWOOSH_ORCHESTRATOR_KEY_FILE,
  ].filter((p): p is string => typeof p === 'string' && p.trim() !== '');
  return {
    inputsDir: given.inputsDir ?? resolveInputsDir(env),
    dataDir,
    secretFiles: given.secretFiles ?? [
      ...configured,
      orchestratorKeyFile(dataDir, env),
      paths.licenceIssuerKey,
      paths.licenceToken,
    ],
    maxBytes: given.maxBytes ?? sourceMaxBytes(env),
    outbound: given.outbound ?? outboundPolicyFromEnv(env),
    timeoutMs: given.timeoutMs ?? DEFAULT_SOURCE_TIMEOUT_MS,
  };
}

/** A URI fit for a message: a web URL's credentials are left out. */
function shown(uri: string): string {
  try {
    const url = new URL(uri);
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return uri;
  }
}

const MEDIA_TYPES: Record<string, string> = {
  '.md': 'text/markdown',
  '.txt': 'text/plain',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.ts': 'text/plain',
};

/** When the step was first scheduled: a retried step stores the very same evidence again. */
function firstScheduledAt(): string {
  return new Date(Context.current().info.scheduledTimestampMs).toISOString();
}

/** The SHHH verdict as the statechart's policy guard input. */
export function policyIO(verdict: ShhhVerdict): PolicyIO {
  return {
    breach: verdict.outcome === 'breach',
    breaches: verdict.rationale.slice(0, 64).map((r) => r.slice(0, 1024)),
    rationale: verdict.rationale[0]?.slice(0, 1024) ?? null,
    confirmed_block: false,
    policy_version: String(verdict.policy.version),
  };
}

/** The KACHING verdict as the statechart's licence guard input. */
export function licenceIO(verdict: KachingVerdict): LicenceIO {
  const expires = verdict.licence ? Date.parse(verdict.licence.expiresAt) : null;
  return {
    status: verdict.status === 'LICENSED' ? 'valid' : verdict.status === 'DENIED' ? 'denied' : 'unreachable',
    expires_at_ms: expires,
    token_digest: verdict.licence ? hashCanonical(verdict.licence) : null,
    detail: verdict.reasons.join('; ').slice(0, 1024) || null,
  };
}

export function createMissionStepActivities(deps: MissionStepDeps) {
  const { evidence, orchestrator } = deps;
  const workspaces = join(deps.dataDir, 'workspaces');
  const confinement = confinementOf(deps.dataDir, deps.sources);

  const fileSource = async (uri: string): Promise<FetchedSource> => {
    let path: string;
    let bytes: Buffer;
    try {
      ({ path, bytes } = await readConfinedSource(uri, confinement));
    } catch (error) {
      if (error instanceof SourceRefusedError) throw error;
      // A file the rules allow but the system will not give (permissions, I/O): trying again won't help.
      throw new SourceUnreadableError(String(error), false);
    }
    return {
      uri,
      path,
      checksum: await evidence.put(bytes),
      sizeBytes: bytes.length,
      mediaType: MEDIA_TYPES[extname(path)] ?? 'application/octet-stream',
    };
  };

  /** A source SWOOSH does not read: a document naming it (and why it was not read) stands in. */
  const reference = async (uri: string, objective: string, unreachable?: string): Promise<FetchedSource> => {
    const doc = canonicalJson({
      kind: 'swoosh.source-reference/v1',
      uri,
      objective,
      ...(unreachable !== undefined && { unreachable }),
    });
    return {
      uri,
      path: `reference/${encodeURIComponent(uri)}.json`,
      checksum: await evidence.put(doc),
      sizeBytes: Buffer.byteLength(doc),
      mediaType: 'application/json',
    };
  };

  /**
   * A web source through the outbound policy. One that gives no answer at all (SWOOSH often runs
   * without the internet) is recorded as a reference saying so, as before web sources were read.
   */
  const webSource = async (uri: string, objective: string): Promise<FetchedSource> => {
    const context = Context.current();
    // A fetch may run to its deadline; the call's heartbeat timeout may be shorter.
    const beat = setInterval(() => context.heartbeat(), 1_000);
    try {
      const { url, bytes, mediaType } = await fetchConfinedSource(
        uri,
        confinement,
        context.cancellationSignal,
      );
      return {
        uri,
        path: `web/${url.host}${url.pathname}`,
        checksum: await evidence.put(bytes),
        sizeBytes: bytes.length,
        mediaType: mediaType ?? MEDIA_TYPES[extname(url.pathname)] ?? 'application/octet-stream',
      };
    } catch (error) {
      if (error instanceof SourceUnreachableError) return reference(uri, objective, error.message);
      throw error;
    } finally {
      clearInterval(beat);
    }
  };

  const sourcesRequest = (sources: FetchedSource[]): PolicyEvaluationRequest => ({
    subject: {
      kind: 'ingestion',
      sources: sources.map((s) => ({
        path: s.path,
        sizeBytes: s.sizeBytes,
        mediaType: s.mediaType,
        checksum: s.checksum,
      })),
    },
  });

  return {
    /** The orchestrator's public key: pinned into the mission config, the signer of its own steps. */
    orchestratorIdentity: (): Promise<{ key: string }> => Promise.resolve({ key: orchestrator.keyId }),

    /** The licence verdict (cached by the checker), shaped for the licence guards. */
    licenceVerdict: async (): Promise<LicenceIO> => licenceIO(await deps.checkLicence()),

    /**
     * Fetches every source into the content store; the content hash covers all of them. A source
     * the confinement refuses fails the fetch (`SourceRefused`), never falls back to a reference.
     */
    fetchSources: async (input: {
      mission: string;
      objective: string;
      sources: string[];
    }): Promise<{ sources: FetchedSource[]; content_hash: string }> => {
      const fetched: FetchedSource[] = [];
      for (const uri of input.sources) {
        try {
          if (uri.startsWith('file://')) fetched.push(await fileSource(uri));
          else if (/^https?:\/\//i.test(uri)) fetched.push(await webSource(uri, input.objective));
          // No fetcher for other schemes: the reference itself, with its objective, is the source.
          else fetched.push(await reference(uri, input.objective));
        } catch (error) {
          if (error instanceof SourceRefusedError) {
            throw ApplicationFailure.nonRetryable(
              `source ${shown(uri)} refused: ${error.message}`,
              'SourceRefused',
            );
          }
          if (error instanceof SourceUnreadableError) {
            throw ApplicationFailure.create({
              message: `cannot read source ${shown(uri)}: ${error.message}`,
              type: 'SourceUnreadable',
              nonRetryable: !error.retryable,
            });
          }
          throw error;
        }
      }
      return { sources: fetched, content_hash: hashCanonical(fetched.map((s) => [s.uri, s.checksum])) };
    },

    /** Validates fetched content under the SHHH policy; the report is stored as evidence. */
    validateSources: async (input: {
      mission: string;
      sources: FetchedSource[];
    }): Promise<{ report_hash: string; passed: boolean; violations: string[]; policy: PolicyIO }> => {
      const verdict = await deps.evaluatePolicy(sourcesRequest(input.sources));
      // The sources are validated as one artifact, named by their checksums together.
      const artifactId = artifactIdOf(hashCanonical(input.sources.map((s) => s.checksum)));
      const createdAt = firstScheduledAt();
      const { version, hash } = verdict.policy;
      const report: ValidationReport = {
        kind: 'validation-report',
        reportId: reportIdOf({ reviewer: 'shhh-policy', artifactId, createdAt }),
        missionId: input.mission,
        artifactId,
        reviewer: 'shhh-policy',
        result: verdict.outcome === 'clean' ? 'pass' : 'fail',
        coverage: 1,
        findings: [
          {
            id: 'shhh-policy',
            ok: verdict.outcome === 'clean',
            detail: `policy v${version} (${hash}): ${verdict.rationale.join('; ') || 'clean'}`,
          },
        ],
        createdAt,
      };
      const report_hash = await evidence.putJson(report);
      const violations = verdict.rationale.slice(0, 64).map((r) => r.slice(0, 1024));
      return { report_hash, passed: verdict.outcome === 'clean', violations, policy: policyIO(verdict) };
    },

    /** The scan a policy transition (update, quarantine, termination) needs, over the mission's content. */
    policyScan: async (input: { sources: FetchedSource[] }): Promise<PolicyIO> =>
      policyIO(await deps.evaluatePolicy(sourcesRequest(input.sources))),

    /** The index: a manifest of content hashes, itself content-addressed. */
    buildIndex: async (input: {
      mission: string;
      sources: FetchedSource[];
    }): Promise<{ index_hash: string }> => {
      const manifest = {
        kind: 'swoosh.index/v1',
        mission: input.mission,
        entries: [...input.sources]
          .sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0))
          .map((s) => ({ uri: s.uri, checksum: s.checksum, sizeBytes: s.sizeBytes, mediaType: s.mediaType })),
      };
      return { index_hash: await evidence.putJson(manifest) };
    },

    /** Tool servers as the tooling guard sees them, with the pins the council syncs to. */
    toolStatus: async (): Promise<{ tools: ToolIO[]; pins: Record<string, string>; reasons: string[] }> => {
      const report = await deps.probeToolServers();
      return {
        tools: report.servers.map((s) => ({
          name: s.name,
          reachable: s.reachable,
          version: s.serverInfo?.version ?? null,
        })),
        pins: Object.fromEntries(report.servers.map((s) => [s.name, s.pinnedVersion])),
        reasons: report.reasons,
      };
    },

    /** Signs the orchestrator's council vote (its key is a member in single-node missions). */
    signCouncilVote: (input: {
      mission: string;
      member: string;
      council_set_hash: string;
    }): Promise<{ member: string; council_set_hash: string; signature: string }> =>
      Promise.resolve({
        member: input.member,
        council_set_hash: input.council_set_hash,
        signature: orchestrator.sign(voteSigningBytes(input, input.mission)),
      }),

    /** Provisions one workspace directory per allocation: the environment's assets. */
    provisionWorkspace: async (input: {
      mission: string;
      allocations: { resource: string; amount: number }[];
    }): Promise<{ id: string; kind: string; ref: string }[]> => {
      const assets: { id: string; kind: string; ref: string }[] = [];
      for (const a of input.allocations) {
        for (let i = 0; i < a.amount; i++) {
          const dir = resolve(workspaces, input.mission, `${a.resource}-${i}`);
          // Owner-only like the rest of the data folder: agents run as the worker's user.
          await mkdir(dir, { recursive: true, mode: 0o700 });
          await writeFile(join(dir, '.swoosh-workspace'), `${input.mission}\n`, { mode: 0o600 });
          assets.push({ id: `${a.resource}-${i}`, kind: 'workspace-dir', ref: `file://${dir}` });
        }
      }
      return assets;
    },

    /** Health-checks provisioned workspaces: present, a directory, writable. */
    healthCheck: async (input: {
      assets: { id: string; kind: string; ref: string }[];
    }): Promise<{ name: string; ok: boolean; detail: string | null }[]> =>
      Promise.all(
        input.assets.map(async (asset) => {
          try {
            const path = fileURLToPath(asset.ref);
            const info = await stat(path);
            if (!info.isDirectory()) return { name: asset.id, ok: false, detail: 'not a directory' };
            await access(path, 2);
            return { name: asset.id, ok: true, detail: null };
          } catch (error) {
            return { name: asset.id, ok: false, detail: String(error).slice(0, 1024) };
          }
        }),
      ),

    /** DEPROVISION: removes the mission's workspaces (idempotent). */
    deprovisionWorkspace: async (input: { mission: string }): Promise<void> => {
      await rm(resolve(workspaces, input.mission), { recursive: true, force: true });
    },

    /**
     * Stores an agent run's result as artifact evidence; returns its checksum and, when the policy's
     * secret rules match it (or the run's output was already withheld for that), the findings:
     * rule, pattern and line, never the text. Such content is stored as the withheld notice, so
     * the evidence served to readers carries no secret either.
     */
    storeArtifact: async (input: {
      mission: string;
      uri: string;
      content: string;
      producedBy: string;
    }): Promise<{ checksum: string; breaches?: SecretFinding[] }> => {
      const found = secretsInText((await deps.loadPolicy()).document, input.content);
      const breaches = [...withheldFindings(input.content), ...found];
      const content = found.length > 0 ? withheldNotice(breaches) : input.content;
      const checksum = await evidence.put(content);
      const artifact: ArtifactEvidence = {
        kind: 'artifact',
        artifactId: artifactIdOf(checksum),
        missionId: input.mission,
        type: 'agent-output',
        uri: input.uri,
        checksum,
        producedBy: input.producedBy,
        sizeBytes: Buffer.byteLength(content),
        mediaType: 'text/plain',
        createdAt: firstScheduledAt(),
      };
      await evidence.putJson(artifact);
      return breaches.length > 0 ? { checksum, breaches } : { checksum };
    },
  };
}

export type MissionStepActivities = ReturnType<typeof createMissionStepActivities>;
