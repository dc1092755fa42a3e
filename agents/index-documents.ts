/**
 * The indexer's work, pure: each document's headings, links and most frequent terms, and the
 * terms over all of them. Deterministic (ties sort by term), so one input always gives one index.
 */
import type { AgentDocument, DocumentIndex, IndexedDocument } from '../schemas/example-agents';
import { sha256Text, utf8 } from '../schemas/hash';

// Words too common to say anything about a document.
const STOPWORDS = new Set(
  (
    'the and for are but not you all any can had her was one our out day get has him his how man new now old ' +
    'see two way who boy did its let put say she too use that with have this will your from they know want ' +
    'been good much some time very when come here just like long make many over such take than them well ' +
    'were what into more only also each which their there these those about would could should other after ' +
    'before where while because through between being does done then'
  ).split(' '),
);

const MARKDOWN_LINK = /\[([^\]\n]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;
const BARE_URL = /\bhttps?:\/\/[^\s<>()[\]"'`]+/g;
const HEADING = /^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$/;
const WORD = /[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu;

export function headingsOf(text: string): IndexedDocument['headings'] {
  const headings: IndexedDocument['headings'] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const match = fenced ? null : HEADING.exec(line);
    if (match?.[2]) headings.push({ level: match[1]!.length, text: match[2] });
  }
  return headings;
}

function linksOf(text: string): IndexedDocument['links'] {
  const links = new Map<string, IndexedDocument['links'][number]>();
  for (const [, label, href] of text.matchAll(MARKDOWN_LINK)) {
    if (href && !links.has(href)) links.set(href, label ? { href, text: label } : { href });
  }
  for (const [url] of text.replace(MARKDOWN_LINK, ' ').matchAll(BARE_URL)) {
    const href = url.replace(/[.,;:!?]+$/, '');
    if (!links.has(href)) links.set(href, { href });
  }
  return [...links.values()];
}

function countTerms(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  const prose = text.replace(MARKDOWN_LINK, ' $1 ').replace(BARE_URL, ' ');
  for (const [word] of prose.toLowerCase().matchAll(WORD)) {
    const term = word.replace(/['’-]+$/, '');
    if (term.length < 3 || STOPWORDS.has(term) || /^\d+$/.test(term)) continue;
    counts.set(term, (counts.get(term) ?? 0) + 1);
  }
  return counts;
}

function top<T extends { term: string; count: number }>(entries: T[], n: number): T[] {
  return entries
    .sort((a, b) => b.count - a.count || (a.term < b.term ? -1 : a.term > b.term ? 1 : 0))
    .slice(0, n);
}

export function indexDocuments(mission: string, documents: AgentDocument[], topTerms: number): DocumentIndex {
  const overall = new Map<string, { count: number; documents: number }>();
  const indexed = documents.map((document): IndexedDocument => {
    const counts = countTerms(document.text);
    for (const [term, count] of counts) {
      const seen = overall.get(term) ?? { count: 0, documents: 0 };
      overall.set(term, { count: seen.count + count, documents: seen.documents + 1 });
    }
    return {
      uri: document.uri,
      checksum: sha256Text(document.text),
      sizeBytes: utf8(document.text).length,
      headings: headingsOf(document.text),
      links: linksOf(document.text),
      terms: top(
        [...counts].map(([term, count]) => ({ term, count })),
        topTerms,
      ),
    };
  });
  return {
    kind: 'document-index',
    mission,
    documents: indexed,
    terms: top(
      [...overall].map(([term, seen]) => ({ term, ...seen })),
      topTerms,
    ),
  };
}
