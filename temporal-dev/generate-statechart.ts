/**
 * Writes the machine-readable statechart (schemas/statechart.yaml), its Mermaid diagram
 * (schemas/statechart.mmd) and the diagram block of docs/statechart.md from the typed definition in
 * schemas/statechart.ts — the one source. Run `npx tsx temporal-dev/generate-statechart.ts`
 * after changing the definition; `--check` exits non-zero instead of writing when anything is out
 * of date (the statechart tests run the same comparison).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import YAML from 'yaml';
import {
  DEFINITION_HASH,
  GROUPS,
  REGIONS,
  STATECHART,
  TRANSITIONS,
  type Group,
  type Region,
  type TransitionName,
} from '../schemas/statechart';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const YAML_PATH = join(ROOT, 'schemas', 'statechart.yaml');
export const MERMAID_PATH = join(ROOT, 'schemas', 'statechart.mmd');
export const DOCS_PATH = join(ROOT, 'docs', 'statechart.md');
export const DOCS_BEGIN =
  '<!-- BEGIN GENERATED: statechart.mmd (npx tsx temporal-dev/generate-statechart.ts) -->';
export const DOCS_END = '<!-- END GENERATED: statechart.mmd -->';

const HEADER = [
  '# GENERATED from schemas/statechart.ts by temporal-dev/generate-statechart.ts. Do not edit.',
  `# Definition hash (meta.schema_hash of every state document): ${DEFINITION_HASH}`,
].join('\n');

/** The YAML text of the statechart definition. Parsing it gives back the definition exactly. */
export function renderYaml(): string {
  const doc = new YAML.Document(JSON.parse(JSON.stringify(STATECHART)) as unknown);
  // Short lists (from-states, guards) read better on one line; long ones stay as blocks.
  YAML.visit(doc, {
    Seq(_key, node) {
      if (node.items.length <= 8 && node.items.every((item) => YAML.isScalar(item))) node.flow = true;
    },
  });
  return `${HEADER}\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
}

const REGION_TITLE: Record<Region, string> = {
  boot: 'Boot',
  ingestion: 'Ingestion',
  council: 'Council',
  environment: 'Environment',
  execution: 'Execution',
  control: 'Control',
  policy: 'Policy',
  terminal: 'Terminal',
};

const stateId = (region: Region, state: string): string => `${region}_${state}`;

function edgeLabel(name: TransitionName): string {
  const def = TRANSITIONS[name];
  const notes: string[] = [];
  if (def.window !== null) notes.push(`window ${def.window}`);
  if (def.compensation) notes.push('compensation');
  return notes.length > 0 ? `${name} (${notes.join(', ')})` : name;
}

function regionBody(region: Region, indent: string): string[] {
  const spec = REGIONS[region];
  const lines: string[] = [];
  for (const state of spec.states) lines.push(`${indent}state "${state}" as ${stateId(region, state)}`);
  lines.push(`${indent}[*] --> ${stateId(region, spec.initial)}`);
  for (const name of Object.keys(TRANSITIONS) as TransitionName[]) {
    const def = TRANSITIONS[name];
    if (def.region !== region) continue;
    for (const from of def.from) {
      lines.push(`${indent}${stateId(region, from)} --> ${stateId(region, def.to)} : ${edgeLabel(name)}`);
    }
  }
  if (region === 'terminal') lines.push(`${indent}${stateId('terminal', 'TERMINATED')} --> [*]`);
  return lines;
}

/** The Mermaid `stateDiagram-v2` text: groups as composite states, parallel regions split by `--`. */
export function renderMermaid(): string {
  const lines = [
    '%% GENERATED from schemas/statechart.ts by temporal-dev/generate-statechart.ts. Do not edit.',
    'stateDiagram-v2',
    '  [*] --> BOOT',
  ];
  const regionsOf = (group: Group): Region[] =>
    (Object.keys(REGIONS) as Region[]).filter((r) => REGIONS[r].group === group);
  for (const group of GROUPS) {
    const regions = regionsOf(group);
    lines.push(`  state ${group} {`);
    if (regions.length === 1) {
      lines.push(...regionBody(regions[0]!, '    '));
    } else {
      regions.forEach((region, i) => {
        if (i > 0) lines.push('    --');
        lines.push(`    state ${REGION_TITLE[region]} {`, ...regionBody(region, '      '), '    }');
      });
    }
    lines.push('  }');
  }
  lines.push(
    '  BOOT --> PROJECT_LIFECYCLE : boot LICENSED',
    '  PROJECT_LIFECYCLE --> EXECUTION : Execution_Enter (all regions READY, plan locked to their hashes)',
    '  POLICY --> TERMINAL : QUARANTINED and a confirmed block',
    '',
  );
  return lines.join('\n');
}

/** docs/statechart.md with its generated diagram block replaced by the current diagram. */
export function renderDocs(current: string): string {
  const begin = current.indexOf(DOCS_BEGIN);
  const end = current.indexOf(DOCS_END);
  if (begin < 0 || end < begin) throw new Error(`${DOCS_PATH} lacks the generated-diagram markers`);
  const block = `${DOCS_BEGIN}\n\n\`\`\`mermaid\n${renderMermaid()}\`\`\`\n\n`;
  return current.slice(0, begin) + block + current.slice(end);
}

/** Formats generated text the way `prettier --write` would, so the repo's format check agrees. */
async function pretty(path: string, text: string): Promise<string> {
  const options = await resolveConfig(path);
  return format(text, { ...options, filepath: path });
}

/** Each generated file with its expected content (prettier-formatted where prettier applies). */
export async function expectedFiles(): Promise<{ path: string; content: string }[]> {
  return [
    { path: YAML_PATH, content: await pretty(YAML_PATH, renderYaml()) },
    // Prettier has no Mermaid parser; the diagram is written as generated.
    { path: MERMAID_PATH, content: renderMermaid() },
    { path: DOCS_PATH, content: await pretty(DOCS_PATH, renderDocs(readFileSync(DOCS_PATH, 'utf8'))) },
  ];
}

async function main(argv: readonly string[]): Promise<number> {
  const check = argv.includes('--check');
  let stale = 0;
  for (const { path, content } of await expectedFiles()) {
    let existing: string | null = null;
    try {
      existing = readFileSync(path, 'utf8');
    } catch {
      existing = null;
    }
    if (existing === content) continue;
    if (check) {
      console.error(`out of date: ${path}`);
      stale++;
    } else {
      writeFileSync(path, content);
      console.log(`wrote ${path}`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
