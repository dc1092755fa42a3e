/**
 * What the two example agents of the default catalogue read and write (docs/agents.md#the-example-agents):
 * the indexer turns documents into a DocumentIndex, the reviewer checks an artifact against rules
 * and writes a ValidationReport (schemas/evidence.ts). Both read their inputs from SWOOSH_INPUTS.
 */
import { z } from 'zod';
import { Sha256Schema } from './proposal';

/** A document handed to an agent inline. */
export const AgentDocument = z.strictObject({
  uri: z.string().min(1),
  text: z.string(),
});
export type AgentDocument = z.infer<typeof AgentDocument>;

/**
 * The indexer's inputs. A beat passes `objective`, `task` and `beat` (and may pass more, which is
 * ignored); without `documents` the objective is the one document indexed.
 */
export const IndexerInputs = z.object({
  objective: z.string().optional(),
  documents: z.array(AgentDocument).max(1000).optional(),
  /** Terms kept per document and for the whole index, most frequent first. */
  topTerms: z.int().min(1).max(1000).default(50),
});
export type IndexerInputs = z.output<typeof IndexerInputs>;

export const TermCount = z.strictObject({ term: z.string().min(1), count: z.int().positive() });

export const IndexedDocument = z.strictObject({
  uri: z.string().min(1),
  checksum: Sha256Schema,
  sizeBytes: z.int().nonnegative(),
  /** Markdown headings (`#` … `######`), in order. */
  headings: z.array(z.strictObject({ level: z.int().min(1).max(6), text: z.string() })),
  /** Markdown links and bare http(s) URLs, in order, each once. */
  links: z.array(z.strictObject({ href: z.string().min(1), text: z.string().optional() })),
  terms: z.array(TermCount),
});
export type IndexedDocument = z.infer<typeof IndexedDocument>;

export const DocumentIndex = z.strictObject({
  kind: z.literal('document-index'),
  mission: z.string().min(1),
  documents: z.array(IndexedDocument),
  /** Terms over every document; `documents` counts the documents a term occurs in. */
  terms: z.array(TermCount.extend({ documents: z.int().positive() })),
});
export type DocumentIndex = z.infer<typeof DocumentIndex>;

/** What the reviewer checks; every rule has a default, so `{}` reviews size, format and secrets. */
export const ReviewRules = z.strictObject({
  maxBytes: z
    .int()
    .positive()
    .default(1024 * 1024),
  /** `auto`: a DocumentIndex when the artifact parses as one, else JSON when it parses, else text. */
  format: z.enum(['auto', 'document-index', 'json', 'markdown', 'text']).default('auto'),
  /**
   * Sections that must be present, compared without case: markdown headings; for a DocumentIndex
   * the headings of its documents; for other JSON the top-level keys.
   */
  requiredSections: z.array(z.string().min(1)).max(100).default([]),
});
export type ReviewRules = z.output<typeof ReviewRules>;

/** The reviewer's inputs; without `artifact` it reviews the mission's objective. */
export const ReviewerInputs = z.object({
  objective: z.string().optional(),
  artifact: AgentDocument.optional(),
  rules: ReviewRules.prefault({}),
});
export type ReviewerInputs = z.output<typeof ReviewerInputs>;
