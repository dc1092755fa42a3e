/**
 * The layer table (docs/design.md#layers) is enforced by a lint rule; these tests keep the rule
 * honest: it refuses upward imports, allows the two type-only idioms, and the documented table
 * says exactly what the rule enforces.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import swoosh, { LAYERS } from '../../eslint/layers.js';

const root = join(import.meta.dirname, '..', '..');

function lint(file: string, code: string): string[] {
  const linter = new Linter({ configType: 'flat', cwd: root });
  const messages = linter.verify(
    code,
    [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { swoosh },
        rules: { 'swoosh/layers': 'error' },
      },
    ],
    join(root, file),
  );
  return messages.map((m) => m.message);
}

describe('the layers lint rule', () => {
  it('refuses a contract that imports workflow code', () => {
    const problems = lint('schemas/x.ts', "import { reduce } from '../workflows/statechart/reducer';\n");
    expect(problems).toEqual([
      'schemas/ may import from no other folder; \'../workflows/statechart/reducer\' reaches into workflows/ (docs/design.md, "Layers").',
    ]);
  });

  it('refuses the gateway reaching into activities, workers or workflow values', () => {
    expect(lint('api/x.ts', "import { a } from '../activities/ledger';\n")).toHaveLength(1);
    expect(lint('api/x.ts', "import { b } from '../workers/timers';\n")).toHaveLength(1);
    expect(lint('api/x.ts', "import { c } from '../workflows';\n")).toHaveLength(1);
    expect(lint('api/x.ts', "export * from '../workers/worker';\n")).toHaveLength(1);
  });

  it('refuses workflow code importing activity values, and a folder index counts as the folder', () => {
    expect(
      lint('workflows/mission/x.ts', "import { createActivities } from '../../activities';\n"),
    ).toHaveLength(1);
  });

  it('allows downward imports and the two type-only idioms', () => {
    expect(
      lint('api/x.ts', "import { z } from '../schemas/proposal';\nimport { k } from '../host/keys';\n"),
    ).toEqual([]);
    expect(lint('workflows/x.ts', "import type * as activities from '../activities';\n")).toEqual([]);
    expect(lint('workflows/x.ts', "import { type A } from '../activities/index';\n")).toEqual([]);
    expect(
      lint('api/x.ts', "import type { agentReportWorkflow } from '../workflows/agent-report';\n"),
    ).toEqual([]);
    expect(lint('tests/x.ts', "import { anything } from '../workers/worker';\n")).toEqual([]);
  });
});

describe('docs/design.md', () => {
  it('documents exactly the layer table the rule enforces', () => {
    const design = readFileSync(join(root, 'docs', 'design.md'), 'utf8');
    const table = design.slice(design.indexOf('<!-- BEGIN LAYERS'), design.indexOf('<!-- END LAYERS'));
    const documented: Record<string, string[]> = {};
    for (const line of table.split('\n')) {
      const cells = line.split('|').map((cell) => cell.trim());
      const folder = /^`([a-z-]+)\/`$/.exec(cells[1] ?? '')?.[1];
      if (folder === undefined) continue;
      const may = cells[3] ?? '';
      documented[folder] = may === 'nothing of ours' ? [] : may.split(',').map((name) => name.trim());
    }
    expect(documented).toEqual(LAYERS);
  });
});
