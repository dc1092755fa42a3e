/**
 * The reviewer's work, pure: an artifact checked for size, format, required sections and, with the
 * deployment's SHHH policy, secret-like content. Each finding says why it failed, naming a rule and
 * a line, never the matched text. The artifact is named by its content (`artifactIdOf`), as SWOOSH
 * names the agent outputs it stores, so a report on one names the same artifact.
 */
import { checkPolicy } from '../activities/policy';
import { artifactIdOf, reportIdOf, type ValidationFinding, type ValidationReport } from '../schemas/evidence';
import { type AgentDocument, DocumentIndex, type ReviewRules } from '../schemas/example-agents';
import { sha256Text, utf8 } from '../schemas/hash';
import type { PolicySnapshot } from '../schemas/policy';
import { headingsOf } from './index-documents';

type Format = Exclude<ReviewRules['format'], 'auto'>;

export interface ReviewRequest {
  missionId: string;
  reviewer: string;
  artifact: AgentDocument;
  rules: ReviewRules;
  policy: PolicySnapshot;
  now: Date;
}

/** The artifact read as its format: the parsed value, or why it is not that format. */
function readAs(format: Format, text: string): { value?: unknown; problem?: string } {
  if (format === 'markdown' || format === 'text') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `not JSON: ${(error as Error).message}` };
  }
  if (format === 'json') return { value };
  const parsed = DocumentIndex.safeParse(value);
  if (parsed.success) return { value: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { problem: `not a document index: ${issue.path.join('.') || '(root)'}: ${issue.message}` };
}

function detectFormat(text: string): Format {
  if (!readAs('document-index', text).problem) return 'document-index';
  if (!readAs('json', text).problem) return 'json';
  return headingsOf(text).length > 0 ? 'markdown' : 'text';
}

function sectionsOf(format: Format, text: string, value: unknown): string[] {
  switch (format) {
    case 'document-index':
      return (value as DocumentIndex).documents.flatMap((d) => d.headings.map((h) => h.text));
    case 'json':
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
    case 'markdown':
    case 'text':
      return headingsOf(text).map((h) => h.text);
  }
}

export function reviewArtifact(request: ReviewRequest): ValidationReport {
  const { artifact, rules } = request;
  const sizeBytes = utf8(artifact.text).length;
  const format = rules.format === 'auto' ? detectFormat(artifact.text) : rules.format;
  const read = readAs(format, artifact.text);
  const findings: ValidationFinding[] = [
    {
      id: 'size',
      ok: sizeBytes <= rules.maxBytes,
      detail: `${sizeBytes} bytes, at most ${rules.maxBytes}`,
    },
    { id: 'format', ok: read.problem === undefined, detail: read.problem ?? `a valid ${format}` },
  ];
  // Sections cannot be judged in what does not read as its format: that check reached no verdict.
  let unjudged = 0;
  if (rules.requiredSections.length > 0 && read.problem) {
    unjudged += 1;
    findings.push({ id: 'sections', ok: false, detail: `not checked: not a valid ${format}` });
  } else if (rules.requiredSections.length > 0) {
    const present = new Set(sectionsOf(format, artifact.text, read.value).map((s) => s.toLowerCase()));
    const missing = rules.requiredSections.filter((s) => !present.has(s.toLowerCase()));
    findings.push({
      id: 'sections',
      ok: missing.length === 0,
      detail:
        missing.length === 0
          ? `has ${rules.requiredSections.join(', ')}`
          : `missing ${missing.map((s) => JSON.stringify(s)).join(', ')}`,
    });
  }
  const verdict = checkPolicy(request.policy, {
    kind: 'ingestion',
    sources: [{ path: artifact.uri, sizeBytes, content: artifact.text }],
  });
  findings.push({
    id: 'policy',
    ok: verdict.outcome === 'clean',
    detail:
      verdict.outcome === 'clean'
        ? `clean under policy v${verdict.policy.version}`
        : verdict.breaches.map((b) => `${b.ruleId}: ${b.detail}`).join('; '),
  });
  const artifactId = artifactIdOf(sha256Text(artifact.text));
  const createdAt = request.now.toISOString();
  return {
    kind: 'validation-report',
    reportId: reportIdOf({ reviewer: request.reviewer, artifactId, createdAt }),
    missionId: request.missionId,
    artifactId,
    reviewer: request.reviewer,
    result: findings.every((f) => f.ok) ? 'pass' : 'fail',
    coverage: (findings.length - unjudged) / findings.length,
    findings,
    createdAt,
  };
}
