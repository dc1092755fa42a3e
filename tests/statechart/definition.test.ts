import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { StateDocumentSchema } from '../../schemas/state-document';
import { expectedFiles, renderMermaid, renderYaml, YAML_PATH } from '../../temporal-dev/generate-statechart';
import {
  GLOBAL_GUARDS,
  GUARD_NAMES,
  REGION_NAMES,
  REGIONS,
  STATECHART,
  TRANSITION_NAMES,
  TRANSITIONS,
  WINDOW_CLASSES,
} from '../../schemas/statechart';
import { GUARDS } from '../../workflows/statechart/guards';
import { HANDLERS, type TransitionRegistry } from '../../workflows/statechart/handlers';
import { INPUT_SCHEMAS } from '../../schemas/transition-inputs';
import { initialState } from '../../workflows/statechart/state';
import { DEFINITION_HASH, transitionIO } from '../../schemas/statechart';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

describe('the statechart definition and the code agree', () => {
  it('has a handler for every transition and a transition for every handler', () => {
    expect(sorted(Object.keys(HANDLERS))).toEqual(sorted(TRANSITION_NAMES));
  });

  it('has an inputs schema for exactly the transitions of the definition', () => {
    expect(sorted(Object.keys(INPUT_SCHEMAS))).toEqual(sorted(TRANSITION_NAMES));
  });

  it('implements every named guard, and every implemented guard is used by some transition', () => {
    expect(sorted(Object.keys(GUARDS))).toEqual(sorted(GUARD_NAMES));
    const used = new Set<string>([...GLOBAL_GUARDS, ...Object.values(TRANSITIONS).flatMap((t) => t.guards)]);
    expect(sorted(used)).toEqual(sorted(GUARD_NAMES));
  });

  it('matches the committed YAML both ways: same transitions, same fields', () => {
    const committed = YAML.parse(readFileSync(YAML_PATH, 'utf8')) as typeof STATECHART;
    expect(sorted(Object.keys(committed.transitions))).toEqual(sorted(Object.keys(HANDLERS)));
    expect(committed).toEqual(JSON.parse(JSON.stringify(STATECHART)));
  });

  it('parses its own YAML rendering back to the definition', () => {
    expect(YAML.parse(renderYaml())).toEqual(JSON.parse(JSON.stringify(STATECHART)));
  });

  it('keeps the committed YAML, Mermaid diagram and docs diagram up to date (run temporal-dev/generate-statechart.ts)', async () => {
    for (const { path, content } of await expectedFiles()) {
      expect(
        readFileSync(path, 'utf8'),
        `${path} is stale: run npx tsx temporal-dev/generate-statechart.ts`,
      ).toBe(content);
    }
  });

  it('draws every transition edge in the Mermaid diagram', () => {
    const mermaid = renderMermaid();
    for (const [name, def] of Object.entries(TRANSITIONS)) {
      for (const from of def.from) {
        expect(mermaid).toContain(`${def.region}_${from} --> ${def.region}_${def.to} : ${name}`);
      }
    }
  });

  it('covers the states and compensations the design names (docs/design.md#the-statechart)', () => {
    expect(REGIONS.boot.states).toEqual(expect.arrayContaining(['UNINITIALIZED', 'LICENSE_CHECK']));
    expect(REGIONS.ingestion.states).toEqual([
      'DISCOVER',
      'FETCH',
      'VALIDATE',
      'INDEX',
      'READY',
      'QUARANTINED',
    ]);
    expect(REGIONS.council.states).toEqual(['PLAN_ROLES', 'ELECT', 'TOOLING_SYNC', 'READY']);
    expect(REGIONS.environment.states).toEqual(['ALLOCATE', 'PROVISION', 'HEALTHCHECK', 'READY', 'DEGRADED']);
    expect(REGIONS.execution.states).toEqual(expect.arrayContaining(['PLAN', 'WORK', 'REVIEW', 'REVERB']));
    expect(REGIONS.control.states).toEqual(expect.arrayContaining(['PAUSED', 'RECOVERY', 'DEGRADED']));
    expect(REGIONS.policy.states).toContain('QUARANTINED');
    expect(REGIONS.terminal.states).toContain('TERMINATED');
    const compensations = TRANSITION_NAMES.filter((n) => TRANSITIONS[n].compensation);
    expect(sorted(compensations)).toEqual(
      sorted(['Environment_Deprovision', 'Council_Eject', 'Council_ReElect', 'Ingestion_RollbackIndex']),
    );
    expect(TRANSITIONS.Ingestion_Quarantine).toMatchObject({ from: ['VALIDATE'], to: 'QUARANTINED' });
    expect(TRANSITIONS.Terminal_Terminate.guards).toContain('confirmed-block');
  });

  it('only leaves QUARANTINED by an owner release or a policy update', () => {
    const leaving = TRANSITION_NAMES.filter((n) => {
      const t = TRANSITIONS[n];
      return (
        t.region === 'policy' &&
        (t.from as readonly string[]).includes('QUARANTINED') &&
        t.to !== 'QUARANTINED'
      );
    });
    expect(sorted(leaving)).toEqual(['Policy_Release', 'Policy_Update']);
    expect(TRANSITIONS.Policy_Release.class).toBe('owner');
  });

  it('names every transition Region_Action after its own region', () => {
    for (const name of TRANSITION_NAMES) {
      const prefix = name.split('_')[0]!.toLowerCase();
      expect(prefix, name).toBe(TRANSITIONS[name].region);
    }
  });

  it('gates REVIEW and REVERB (and the rest of the beat) by their windows', () => {
    expect(TRANSITIONS.Execution_Review.window).toBe('review');
    expect(TRANSITIONS.Execution_Approve.window).toBe('review');
    expect(TRANSITIONS.Execution_Reverb.window).toBe('reverb');
    const gated = TRANSITION_NAMES.filter((n) => TRANSITIONS[n].window !== null);
    for (const name of gated) {
      expect(TRANSITIONS[name].guards, name).toContain('window');
      expect(WINDOW_CLASSES).toContain(TRANSITIONS[name].window);
    }
  });

  it('lets every state be reached and left, except the absorbing TERMINATED', () => {
    for (const region of REGION_NAMES) {
      const spec = REGIONS[region];
      const defs = Object.values(TRANSITIONS).filter((t) => t.region === region);
      for (const state of spec.states) {
        const entered = state === spec.initial || defs.some((t) => t.to === state);
        const left = defs.some((t) => (t.from as readonly string[]).includes(state));
        expect(entered, `${region}.${state} is unreachable`).toBe(true);
        if (!(region === 'terminal' && state === 'TERMINATED'))
          expect(left, `${region}.${state} is a dead end`).toBe(true);
      }
    }
  });

  it('gives the state document one phase enum per region, equal to the region states, and one epoch per region', () => {
    const shape = StateDocumentSchema.shape;
    for (const region of REGION_NAMES) {
      expect(shape[region].shape.phase.options).toEqual([...REGIONS[region].states]);
    }
    expect(sorted(Object.keys(shape.epoch.shape))).toEqual(sorted(REGION_NAMES));
  });

  it('stamps the definition hash into new state documents', () => {
    expect(initialState('m-1').meta.schema_hash).toBe(DEFINITION_HASH);
    expect(readFileSync(YAML_PATH, 'utf8')).toContain(DEFINITION_HASH);
  });

  it('keeps the definition hash that running missions carry', () => {
    // parseStateDocument refuses a continued-as-new state whose meta.schema_hash differs, so a new
    // hash would strand every running mission: change it only together with a migration.
    expect(DEFINITION_HASH).toBe('sha256-7c7ec29db447d773330dbfee7ff62aeab1c7acb5900bfb097fa97e8f83e2e1c5');
  });

  it('declares the I/O verdicts each transition needs beside the definition, not inside the hashed object', () => {
    const declared: Record<string, string[]> = {};
    for (const name of TRANSITION_NAMES) {
      const { needs, proposalConfirmsBlock } = transitionIO(name);
      const listed = [...needs, ...(proposalConfirmsBlock ? ['confirmed by the proposal'] : [])];
      if (listed.length > 0) declared[name] = listed;
    }
    expect(declared).toEqual({
      Boot_Licensed: ['licence'],
      Boot_LicenseGrace: ['licence'],
      Council_ToolingReady: ['tools'],
      Policy_Quarantine: ['policy'],
      Policy_Update: ['policy'],
      Terminal_Terminate: ['policy', 'confirmed by the proposal'],
    });
    expect(JSON.stringify(STATECHART)).not.toContain('proposalConfirmsBlock');
  });

  it('makes a registry with a missing handler a compile error', () => {
    const incomplete = Object.fromEntries(
      Object.entries(HANDLERS).filter(([name]) => name !== 'Policy_Update'),
    ) as Omit<TransitionRegistry, 'Policy_Update'>;
    // @ts-expect-error Policy_Update is missing: the mapped registry type requires every transition.
    const registry: TransitionRegistry = incomplete;
    expect(Object.keys(registry)).not.toContain('Policy_Update');
  });
});
