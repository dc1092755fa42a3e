/**
 * The reviewer's work, pure: an artifact checked for size, format, required sections and, with the
 * deployment's SHHH policy, secret-like content. Each check says why it failed; a finding names
 * a rule and a line, never the matched text.
 */
import { checkPolicy } from '../activities/policy';
import type { ValidationCheck, ValidationReport } from '../schemas/evidence';
import { type AgentDocument, DocumentIndex, type ReviewRules } from '../schemas/example-agents';
import { sha256Text, utf8 } from '../schemas/hash';
import type { PolicySnapshot } from '../schemas/policy';
import { headingsOf } from './index-documents';

type Format = Exclude<ReviewRules['format'], 'auto'>;

export interface ReviewRequest {
  mission: string;
  validator: string;
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
  const checks: ValidationCheck[] = [
    {
      id: 'size',
      ok: sizeBytes <= rules.maxBytes,
      detail: `${sizeBytes} bytes, at most ${rules.maxBytes}`,
    },
    { id: 'format', ok: read.problem === undefined, detail: read.problem ?? `a valid ${format}` },
  ];
  if (rules.requiredSections.length > 0) {
    const present = new Set(
      read.problem ? [] : sectionsOf(format, artifact.text, read.value).map((s) => s.toLowerCase()),
    );
    const missing = rules.requiredSections.filter((s) => !present.has(s.toLowerCase()));
    checks.push({
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
  checks.push({
    id: 'policy',
    ok: verdict.outcome === 'clean',
    detail:
      verdict.outcome === 'clean'
        ? `clean under policy v${verdict.policy.version}`
        : verdict.breaches.map((b) => `${b.ruleId}: ${b.detail}`).join('; '),
  });
  return {
    kind: 'validation-report',
    mission: request.mission,
    subject: sha256Text(artifact.text),
    validator: request.validator,
    outcome: checks.every((c) => c.ok) ? 'pass' : 'fail',
    checks,
    createdAt: request.now.toISOString(),
  };
}
