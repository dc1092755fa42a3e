/**
 * Policy (SHHH) contracts: the versioned policy document, what it is evaluated over, and the
 * verdict that sends a mission to QUARANTINED. The default document is `default-policy.yaml`
 * beside this file.
 */
import { z } from 'zod';
import { Sha256Schema } from './proposal';

const RuleId = z
  .string()
  .regex(/^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$/, 'rule ids are UPPER-KEBAB, e.g. SHHH-PATH-KEYS');

const ruleBase = {
  id: RuleId,
  /** Why the rule exists; it is quoted in the quarantine rationale. */
  rationale: z.string().min(1),
};

const compiles = (source: string, flags?: string): boolean => {
  try {
    new RegExp(source, flags);
    return true;
  } catch {
    return false;
  }
};

export const SecretPattern = z
  .strictObject({
    name: z.string().min(1),
    regex: z.string().min(1),
    flags: z
      .string()
      .regex(/^[imsu]*$/, 'only the i, m, s and u flags')
      .optional(),
  })
  .refine((p) => compiles(p.regex, p.flags), { message: 'regex does not compile', path: ['regex'] });
export type SecretPattern = z.infer<typeof SecretPattern>;

/** Ingestion sources whose path matches a glob (`**`, `*`, `?`; no slash = any folder). */
export const ForbiddenPathRule = z.strictObject({
  ...ruleBase,
  kind: z.literal('forbidden-path'),
  paths: z.array(z.string().min(1)).min(1),
});

/** Secret-like content in ingestion sources and in proposal inputs. */
export const SecretContentRule = z.strictObject({
  ...ruleBase,
  kind: z.literal('secret-content'),
  patterns: z.array(SecretPattern).min(1),
});

export const SizeLimitRule = z.strictObject({
  ...ruleBase,
  kind: z.literal('size-limit'),
  maxBytes: z.int().positive(),
  maxTotalBytes: z.int().positive().optional(),
});

/** Denied file extensions and, when listed, the only media types allowed (`text/*` works). */
export const TypeLimitRule = z
  .strictObject({
    ...ruleBase,
    kind: z.literal('type-limit'),
    deniedExtensions: z.array(z.string().regex(/^\.[^/]+$/, 'extensions start with a dot')).optional(),
    allowedMediaTypes: z.array(z.string().min(1)).optional(),
  })
  .refine((r) => r.deniedExtensions !== undefined || r.allowedMediaTypes !== undefined, {
    message: 'a type-limit needs deniedExtensions or allowedMediaTypes',
  });

/** Proposals for matching transitions (globs) must cite evidence with each listed prefix. */
export const RequiredEvidenceRule = z.strictObject({
  ...ruleBase,
  kind: z.literal('required-evidence'),
  transitions: z.array(z.string().min(1)).min(1),
  prefixes: z.array(z.string().min(1)).min(1),
});

/**
 * Credential-like tokens in ingested content, found by their randomness rather than their shape
 * (proposal inputs carry signatures and keys by design, so they are not scanned): runs of at least
 * `minLength` token characters (letters, digits, `+/=_-`) whose Shannon entropy is at least
 * `minBitsPerChar`. Hex digests (at most 4 bits per character) stay below a threshold above 4.
 */
export const HighEntropyRule = z.strictObject({
  ...ruleBase,
  kind: z.literal('high-entropy'),
  minLength: z.int().min(16).max(1024),
  minBitsPerChar: z.number().min(1).max(6),
  /** Tokens right after one of these prefixes are public (e.g. `ed25519:` public keys). */
  ignoreAfter: z.array(z.string().min(1)).optional(),
});

export const PolicyRule = z.discriminatedUnion('kind', [
  ForbiddenPathRule,
  SecretContentRule,
  HighEntropyRule,
  SizeLimitRule,
  TypeLimitRule,
  RequiredEvidenceRule,
]);
export type PolicyRule = z.infer<typeof PolicyRule>;

export const PolicyDocument = z
  .strictObject({
    /** Raised with every change; a policy update is a recorded transition carrying it. */
    version: z.int().positive(),
    rules: z.array(PolicyRule),
  })
  .refine((d) => new Set(d.rules.map((r) => r.id)).size === d.rules.length, {
    message: 'rule ids must be unique',
    path: ['rules'],
  });
export type PolicyDocument = z.infer<typeof PolicyDocument>;

/** A loaded policy: the document and the hash a policy-update transition records. */
export const PolicySnapshot = z.strictObject({
  version: z.int().positive(),
  hash: Sha256Schema,
  document: PolicyDocument,
});
export type PolicySnapshot = z.infer<typeof PolicySnapshot>;

/** One ingested source. Content comes inline or by checksum from the evidence store. */
export const IngestionSource = z
  .strictObject({
    path: z.string().min(1),
    sizeBytes: z.int().nonnegative(),
    mediaType: z.string().min(1).optional(),
    content: z.string().optional(),
    checksum: Sha256Schema.optional(),
  })
  .refine((s) => s.content !== undefined || s.checksum !== undefined, {
    message: 'a source needs content or a checksum, so its content can be scanned',
  });
export type IngestionSource = z.infer<typeof IngestionSource>;

export const PolicySubject = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('ingestion'), sources: z.array(IngestionSource) }),
  z.strictObject({
    kind: z.literal('proposal'),
    transition: z.string().min(1),
    evidence: z.array(z.string()),
    inputs: z.unknown(),
  }),
]);
export type PolicySubject = z.infer<typeof PolicySubject>;

export const PolicyEvaluationRequest = z.strictObject({
  subject: PolicySubject,
  /** The policy hash the mission has recorded; evaluation refuses a policy it has not recorded. */
  policyHash: Sha256Schema.optional(),
});
export type PolicyEvaluationRequest = z.infer<typeof PolicyEvaluationRequest>;

export const PolicyBreach = z.strictObject({
  ruleId: z.string(),
  /** Where: a source path, or `proposal <transition>` with a field path. Never the secret itself. */
  location: z.string(),
  detail: z.string(),
});
export type PolicyBreach = z.infer<typeof PolicyBreach>;

export const PolicyVerdict = z.strictObject({
  outcome: z.enum(['clean', 'breach']),
  policy: z.strictObject({ version: z.int().positive(), hash: Sha256Schema }),
  /** Distinct ids of the rules that fired, in policy order. */
  ruleIds: z.array(z.string()),
  /** One line per breach, `<rule id>: <rationale> (<location>: <detail>)`: the quarantine reason. */
  rationale: z.array(z.string()),
  breaches: z.array(PolicyBreach),
});
export type PolicyVerdict = z.infer<typeof PolicyVerdict>;

/**
 * Where a secret-content rule matched: the rule, the pattern's name and a place (a field path such
 * as `inputs.auth.key`, or `line 3`). Never the matched text, which would copy the secret onward.
 */
export interface SecretFinding {
  readonly ruleId: string;
  readonly pattern: string;
  readonly at: string;
}

type SecretRule = Extract<PolicyRule, { kind: 'secret-content' }>;

/** A policy document, or any of its rules (`{ rules: [rule] }`). */
type Rules = Pick<PolicyDocument, 'rules'>;

const secretRules = (document: Rules): SecretRule[] =>
  document.rules.filter((r): r is SecretRule => r.kind === 'secret-content');

/** Every string in a JSON value with its field path (`inputs.auth[0].key`), as the scans name them. */
export function stringLeaves(value: unknown, path: string): [at: string, text: string][] {
  if (typeof value === 'string') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((item, i) => stringLeaves(item, `${path}[${i}]`));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => stringLeaves(item, `${path}.${key}`));
  return [];
}

/**
 * The secret-content rules' findings in a JSON value, one per string and pattern, by field path.
 * Pure regular expressions, so the gateway, the activities and workflow code all judge alike.
 */
export function secretsInValue(document: Rules, value: unknown, path: string): SecretFinding[] {
  const rules = secretRules(document);
  return stringLeaves(value, path).flatMap(([at, text]) =>
    rules.flatMap((rule) =>
      rule.patterns
        .filter((p) => new RegExp(p.regex, p.flags).test(text))
        .map((p) => ({ ruleId: rule.id, pattern: p.name, at })),
    ),
  );
}

/** The secret-content rules' findings in a text, by line (the first match of each pattern). */
export function secretsInText(document: Rules, text: string): SecretFinding[] {
  return secretRules(document).flatMap((rule) =>
    rule.patterns.flatMap((p) => {
      const match = new RegExp(p.regex, p.flags).exec(text);
      if (!match) return [];
      return [
        { ruleId: rule.id, pattern: p.name, at: `line ${text.slice(0, match.index).split('\n').length}` },
      ];
    }),
  );
}

const WITHHELD_LINE =
  /^\[swoosh\] output withheld: ([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*) \(([a-z0-9-]+) at ([^)\n]+)\)$/gm;

/**
 * What stands in for a text the policy found secrets in: one line per finding, naming rule,
 * pattern and place. The whole text goes, not just the match: a pattern may match only the head of
 * a secret (a private key block's first line) and the rest would stay.
 */
export function withheldNotice(findings: readonly SecretFinding[]): string {
  return findings.map((f) => `[swoosh] output withheld: ${f.ruleId} (${f.pattern} at ${f.at})`).join('\n');
}

/** The findings a withheld notice names, so a later step still knows why the text was withheld. */
export function withheldFindings(text: string): SecretFinding[] {
  return [...text.matchAll(WITHHELD_LINE)].map((m) => ({ ruleId: m[1]!, pattern: m[2]!, at: m[3]! }));
}

/**
 * Glob to RegExp: `**` spans folders (`**\/` also matches none), `*` and `?` stay within one.
 * A glob without a slash is matched against the file name alone, at any depth (as in gitignore).
 */
export function globToRegExp(glob: string, flags = ''): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charAt(i);
    if (c === '*' && glob[i + 1] === '*') {
      const spansFolders = glob[i + 2] === '/';
      source += spansFolders ? '(?:.*/)?' : '.*';
      i += spansFolders ? 2 : 1;
    } else if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else {
      source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, flags);
}

/**
 * The prefixes of a required-evidence rule that a proposal of `transition` cites no evidence
 * under; none when the rule does not name the transition. The gateway and the policy activity both
 * judge by it.
 */
export function unmetEvidencePrefixes(
  rule: Extract<PolicyRule, { kind: 'required-evidence' }>,
  transition: string,
  evidence: readonly string[],
): string[] {
  if (!rule.transitions.some((glob) => globToRegExp(glob).test(transition))) return [];
  return rule.prefixes.filter((prefix) => !evidence.some((e) => e.startsWith(prefix)));
}

/**
 * The required-evidence rules a proposal of `transition` breaks: each names the prefix none of its
 * evidence references starts with. Pure, so the gateway judges a proposal before it is sent.
 */
export function missingEvidence(document: Rules, transition: string, evidence: readonly string[]): string[] {
  return document.rules.flatMap((rule) =>
    rule.kind === 'required-evidence'
      ? unmetEvidencePrefixes(rule, transition, evidence).map(
          (prefix) => `${rule.id}: ${transition} must cite evidence starting with ${prefix}`,
        )
      : [],
  );
}
