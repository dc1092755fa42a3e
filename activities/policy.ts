/**
 * Policy (SHHH). A versioned YAML document of declarative rules, evaluated over ingestion sources
 * and transition proposals. Evaluation is a pure function of (policy, subject); the activities
 * add the I/O: reading the policy file and fetching content from the evidence store.
 *
 * A mission records the policy it runs under (a policy update is a transition carrying the
 * snapshot's hash); `evaluatePolicy` refuses to judge under a policy the mission has not recorded.
 */
import { basename } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import {
  globToRegExp,
  type IngestionSource,
  PolicyEvaluationRequest,
  type PolicyBreach,
  type PolicyRule,
  type PolicySnapshot,
  type PolicySubject,
  type PolicyVerdict,
  secretsInValue,
  unmetEvidencePrefixes,
} from '../schemas/policy';
import { loadPolicyFile, parsePolicy } from '../host/policy';
import { EvidenceNotFoundError, type ContentStore } from '../ledger/evidence-store';

export { loadPolicyFile, parsePolicy };

function pathMatches(glob: string, path: string): boolean {
  const normalized = path.replace(/\\/g, '/').replace(/^(?:\.\/|\/)+/, '');
  // Case-insensitive: on macOS and Windows `.ENV` is the same file as `.env`.
  return globToRegExp(glob, 'i').test(glob.includes('/') ? normalized : basename(normalized));
}

/** A source whose content has been fetched, ready for pure evaluation. */
export type ResolvedSource = Omit<IngestionSource, 'content' | 'checksum'> & { content: string };
export type ResolvedSubject =
  { kind: 'ingestion'; sources: ResolvedSource[] } | Extract<PolicySubject, { kind: 'proposal' }>;

type Finding = Omit<PolicyBreach, 'ruleId'>;

/** Evaluates every rule over the subject; pure, so the same inputs always give the same verdict. */
export function checkPolicy(policy: PolicySnapshot, subject: ResolvedSubject): PolicyVerdict {
  const breaches: PolicyBreach[] = [];
  const rationale: string[] = [];
  for (const rule of policy.document.rules) {
    for (const finding of findingsFor(rule, subject)) {
      breaches.push({ ruleId: rule.id, ...finding });
      rationale.push(`${rule.id}: ${rule.rationale} (${finding.location}: ${finding.detail})`);
    }
  }
  return {
    outcome: breaches.length === 0 ? 'clean' : 'breach',
    policy: { version: policy.version, hash: policy.hash },
    ruleIds: [...new Set(breaches.map((b) => b.ruleId))],
    rationale,
    breaches,
  };
}

function findingsFor(rule: PolicyRule, subject: ResolvedSubject): Finding[] {
  switch (rule.kind) {
    case 'forbidden-path':
      return subject.kind !== 'ingestion'
        ? []
        : subject.sources.flatMap((source) => {
            const glob = rule.paths.find((g) => pathMatches(g, source.path));
            return glob ? [{ location: source.path, detail: `path matches forbidden pattern ${glob}` }] : [];
          });
    case 'secret-content':
      return subject.kind === 'ingestion'
        ? subject.sources.flatMap((source) => secretsInContent(rule.patterns, source))
        : secretValues(rule, subject.inputs).map((detail) => ({
            location: `proposal ${subject.transition}`,
            detail,
          }));
    case 'high-entropy':
      // Ingested content only: proposal inputs carry signatures and keys by design.
      return subject.kind === 'ingestion'
        ? subject.sources.flatMap((source) => entropyFindings(rule, source))
        : [];
    case 'size-limit':
      return subject.kind === 'ingestion' ? sizeFindings(rule, subject.sources) : [];
    case 'type-limit':
      return subject.kind === 'ingestion'
        ? subject.sources.flatMap((source) => typeFindings(rule, source))
        : [];
    case 'required-evidence':
      if (subject.kind !== 'proposal') return [];
      return unmetEvidencePrefixes(rule, subject.transition, subject.evidence).map((prefix) => ({
        location: `proposal ${subject.transition}`,
        detail: `no evidence reference starting with ${prefix}`,
      }));
  }
}

type Patterns = Extract<PolicyRule, { kind: 'secret-content' }>['patterns'];

/** Names the pattern and line; never the matched text, which would copy the secret into the ledger. */
function secretsInContent(patterns: Patterns, source: ResolvedSource): Finding[] {
  const hits = patterns.flatMap((pattern) => {
    const match = new RegExp(pattern.regex, pattern.flags).exec(source.content);
    if (!match) return [];
    const line = source.content.slice(0, match.index).split('\n').length;
    return [`${pattern.name} at line ${line}`];
  });
  return hits.length === 0
    ? []
    : [{ location: source.path, detail: `secret-like content: ${hits.join(', ')}` }];
}

/** One detail per field path, naming the patterns that matched there. */
function secretValues(rule: PolicyRule, inputs: unknown): string[] {
  const byPath = new Map<string, string[]>();
  for (const f of secretsInValue({ rules: [rule] }, inputs, 'inputs'))
    byPath.set(f.at, [...(byPath.get(f.at) ?? []), f.pattern]);
  return [...byPath].map(([path, names]) => `secret-like value (${names.join(', ')}) at ${path}`);
}

type EntropyRule = Extract<PolicyRule, { kind: 'high-entropy' }>;

/** Shannon entropy of `text` in bits per character. */
export function bitsPerChar(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Line numbers of high-entropy tokens in `text` (the tokens themselves are never reported). */
function entropyLines(rule: EntropyRule, text: string): number[] {
  const token = new RegExp(`[A-Za-z0-9+/=_-]{${rule.minLength},1024}`, 'g');
  const lines: number[] = [];
  for (const match of text.matchAll(token)) {
    const before = text.slice(Math.max(0, match.index - 32), match.index);
    if (rule.ignoreAfter?.some((prefix) => before.endsWith(prefix))) continue;
    if (bitsPerChar(match[0]) < rule.minBitsPerChar) continue;
    lines.push(text.slice(0, match.index).split('\n').length);
  }
  return lines;
}

function entropyFindings(rule: EntropyRule, source: ResolvedSource): Finding[] {
  const lines = entropyLines(rule, source.content);
  return lines.length === 0
    ? []
    : [
        {
          location: source.path,
          detail: `high-entropy credential-like token at line ${lines.slice(0, 5).join(', ')}`,
        },
      ];
}

function sizeFindings(
  rule: Extract<PolicyRule, { kind: 'size-limit' }>,
  sources: ResolvedSource[],
): Finding[] {
  // The larger of declared and actual size: a source cannot shrink itself by under-declaring.
  const sized = sources.map((s) => ({
    path: s.path,
    bytes: Math.max(s.sizeBytes, Buffer.byteLength(s.content)),
  }));
  const findings: Finding[] = sized
    .filter((s) => s.bytes > rule.maxBytes)
    .map((s) => ({ location: s.path, detail: `${s.bytes} bytes exceeds the ${rule.maxBytes}-byte limit` }));
  const total = sized.reduce((sum, s) => sum + s.bytes, 0);
  if (rule.maxTotalBytes !== undefined && total > rule.maxTotalBytes) {
    findings.push({
      location: 'all sources',
      detail: `${total} bytes in total exceeds the ${rule.maxTotalBytes}-byte limit`,
    });
  }
  return findings;
}

function typeFindings(rule: Extract<PolicyRule, { kind: 'type-limit' }>, source: ResolvedSource): Finding[] {
  const findings: Finding[] = [];
  const path = source.path.toLowerCase();
  const denied = rule.deniedExtensions?.find((ext) => path.endsWith(ext.toLowerCase()));
  if (denied) findings.push({ location: source.path, detail: `extension ${denied} is denied` });
  if (rule.allowedMediaTypes) {
    const mediaType = source.mediaType?.split(';')[0]?.trim().toLowerCase();
    if (mediaType === undefined) {
      findings.push({ location: source.path, detail: 'media type not declared' });
    } else if (
      !rule.allowedMediaTypes.some((allowed) => mediaTypeMatches(allowed.toLowerCase(), mediaType))
    ) {
      findings.push({ location: source.path, detail: `media type ${mediaType} is not allowed` });
    }
  }
  return findings;
}

function mediaTypeMatches(allowed: string, actual: string): boolean {
  return allowed.endsWith('/*') ? actual.startsWith(allowed.slice(0, -1)) : allowed === actual;
}

export interface PolicyActivityDeps {
  /** The policy in force; SWOOSH ships `schemas/default-policy.yaml`. */
  policyFile: string;
  /** Where ingestion content referenced by checksum is read from. */
  evidence: ContentStore;
}

export function createPolicyActivities({ policyFile, evidence }: PolicyActivityDeps) {
  async function resolve(subject: PolicySubject): Promise<ResolvedSubject> {
    if (subject.kind === 'proposal') return subject;
    const sources = await Promise.all(
      subject.sources.map(async ({ content, checksum, ...rest }) => ({
        ...rest,
        content: content ?? (await readEvidence(evidence, checksum)),
      })),
    );
    return { kind: 'ingestion', sources };
  }

  return {
    /** The policy file as a snapshot; a policy-update transition records its version and hash. */
    loadPolicy: (): Promise<PolicySnapshot> => loadPolicyFile(policyFile),

    /** The SHHH guard input: a clean verdict, or the breaches that quarantine the mission. */
    evaluatePolicy: async (request: PolicyEvaluationRequest): Promise<PolicyVerdict> => {
      const parsed = PolicyEvaluationRequest.safeParse(request);
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(
          `invalid policy evaluation request: ${parsed.error.message}`,
          'InvalidPolicyRequest',
        );
      }
      const policy = await loadPolicyFile(policyFile);
      const recorded = parsed.data.policyHash;
      if (recorded !== undefined && recorded !== policy.hash) {
        throw ApplicationFailure.nonRetryable(
          `policy file is version ${policy.version} (${policy.hash}) but the mission recorded ${recorded}; ` +
            'record the policy update before evaluating under it',
          'PolicyNotRecorded',
        );
      }
      return checkPolicy(policy, await resolve(parsed.data.subject));
    },
  };
}

async function readEvidence(store: ContentStore, checksum: string | undefined): Promise<string> {
  // The schema guarantees content or checksum; this narrows the type.
  if (checksum === undefined) throw new Error('ingestion source has neither content nor checksum');
  try {
    return (await store.get(checksum)).toString('utf8');
  } catch (error) {
    if (error instanceof EvidenceNotFoundError) {
      throw ApplicationFailure.nonRetryable(error.message, 'EvidenceNotFound');
    }
    throw error;
  }
}
