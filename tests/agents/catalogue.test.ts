/**
 * The agent catalogue contract (schemas/agent-catalogue.ts, docs/agents.md): the default catalogue
 * that ships in the repo, what a declaration may say, and how a mission config names its
 * catalogue and beat agent — every refusal naming the field it is about.
 */
import { describe, expect, test } from 'vitest';
import {
  AgentCatalogue,
  beatAgent,
  DEFAULT_AGENT_CATALOGUE,
  DEFAULT_BEAT_AGENT,
  splitEnv,
} from '../../schemas/agent-catalogue';
import { AgentJobSpec } from '../../schemas/agent-job';
import { RunnableMissionConfig } from '../../schemas/mission-config';
import defaultAgents from '../../schemas/default-agents.json';

const indexer = {
  image: 'registry.example.org/swoosh/indexer:1',
  command: ['node', 'agents/indexer.js'],
  args: ['--headings'],
  env: {
    LOG_LEVEL: 'info',
    API_TOKEN: { secret: { name: 'indexer-credentials', key: 'token' } },
    CA_BUNDLE: { file: 'indexer/ca.pem' },
  },
  resources: { limits: { cpu: '500m', memory: '256Mi' } },
  capabilityProfile: { role: 'indexer', capabilities: ['read', 'index'] },
  energyBudget: { wallClockSeconds: 600 },
  timeouts: { activeDeadlineSeconds: 600, heartbeatSeconds: 20 },
};

/** The paths of every issue `value` raises against `schema`, joined with dots. */
function refusedAt(schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, value: unknown) {
  const result = schema.safeParse(value);
  expect(result.success).toBe(false);
  const issues = (result.error as { issues: { path: PropertyKey[] }[] }).issues;
  return issues.map((i) => i.path.map(String).join('.'));
}

describe('the default catalogue', () => {
  test('validates and declares the echo agent every beat ran before, with its capability profile', () => {
    expect(AgentCatalogue.safeParse(defaultAgents).success).toBe(true);
    expect(DEFAULT_BEAT_AGENT).toBe('echo');
    const echo = DEFAULT_AGENT_CATALOGUE.agents.echo;
    expect(echo).toMatchObject({
      image: 'node:20-alpine',
      command: ['node'],
      capabilityProfile: { role: 'worker', capabilities: ['summarise'] },
      env: {},
    });
    expect(echo?.args[0]).toBe('-e');
    expect(echo?.args[1]).toContain('process.env.SWOOSH_INPUTS');
  });

  test('a config without agents runs the echo agent', () => {
    expect(beatAgent(undefined)?.id).toBe('echo');
    expect(beatAgent({})?.declaration).toBe(DEFAULT_AGENT_CATALOGUE.agents.echo);
  });
});

describe('a declaration', () => {
  test('with literal values, Secret and file references, resources, profile and timeouts validates', () => {
    const parsed = AgentCatalogue.parse({ agents: { indexer } });
    expect(parsed.agents.indexer?.env.API_TOKEN).toEqual({
      secret: { name: 'indexer-credentials', key: 'token' },
    });
    expect(splitEnv(parsed.agents.indexer?.env ?? {})).toEqual({
      env: { LOG_LEVEL: 'info' },
      envFrom: {
        API_TOKEN: { secret: { name: 'indexer-credentials', key: 'token' } },
        CA_BUNDLE: { file: 'indexer/ca.pem' },
      },
    });
  });

  const refused: [string, unknown, string][] = [
    ['an empty command', { ...indexer, command: [] }, 'agents.indexer.command'],
    [
      'no capability profile',
      { ...indexer, capabilityProfile: undefined },
      'agents.indexer.capabilityProfile',
    ],
    ['a field nobody defined', { ...indexer, privileged: true }, 'agents.indexer'],
    [
      'a SWOOSH_ variable',
      { ...indexer, env: { SWOOSH_AGENT_ID: 'me' } },
      'agents.indexer.env.SWOOSH_AGENT_ID',
    ],
    [
      'an absolute file reference',
      { ...indexer, env: { KEY: { file: '/etc/shadow' } } },
      'agents.indexer.env.KEY.file',
    ],
    [
      'a file reference that climbs out',
      { ...indexer, env: { KEY: { file: 'a/../../key' } } },
      'agents.indexer.env.KEY.file',
    ],
    [
      'a Secret reference without a key',
      { ...indexer, env: { KEY: { secret: { name: 'creds' } } } },
      'agents.indexer.env.KEY',
    ],
    [
      'a resource that is no quantity',
      { ...indexer, resources: { limits: { cpu: 'lots', memory: '1Gi' } } },
      'agents.indexer.resources.limits.cpu',
    ],
    [
      'a zero deadline',
      { ...indexer, timeouts: { activeDeadlineSeconds: 0 } },
      'agents.indexer.timeouts.activeDeadlineSeconds',
    ],
    [
      'a negative energy budget',
      { ...indexer, energyBudget: { costUnits: -1 } },
      'agents.indexer.energyBudget.costUnits',
    ],
  ];
  test.each(refused)('%s is refused at its field', (_, declaration, field) => {
    expect(refusedAt(AgentCatalogue, { agents: { indexer: declaration } })).toContain(field);
  });

  test('an agent id that is not a lower-case id is refused', () => {
    expect(refusedAt(AgentCatalogue, { agents: { 'Bad Agent': indexer } })).toContain('agents.Bad Agent');
  });
});

describe('a mission config names its catalogue and beat agent', () => {
  test('its own agent, declared over the default catalogue, is the beat agent; echo stays declared', () => {
    const config = RunnableMissionConfig.parse({
      agents: { catalogue: { agents: { indexer } }, beat: 'indexer' },
    });
    expect(beatAgent(config.agents)).toMatchObject({ id: 'indexer', declaration: { image: indexer.image } });
    expect(beatAgent({ ...config.agents, beat: 'echo' })?.id).toBe('echo');
  });

  test('a beat agent no catalogue declares is refused at agents.beat, naming the ones that are', () => {
    const result = RunnableMissionConfig.safeParse({ agents: { beat: 'summariser' } });
    expect(result.success).toBe(false);
    const issue = result.error?.issues.find((i) => i.path.join('.') === 'agents.beat');
    expect(issue?.message).toContain('one of echo, indexer, reviewer');
  });

  test('an id Object.prototype has is not declared by it', () => {
    expect(refusedAt(RunnableMissionConfig, { agents: { beat: 'constructor' } })).toContain('agents.beat');
  });

  test('a bad declaration in the config is refused at its path inside the config', () => {
    const bad = {
      agents: { catalogue: { agents: { indexer: { ...indexer, command: [] } } }, beat: 'indexer' },
    };
    expect(refusedAt(RunnableMissionConfig, bad)).toContain('agents.catalogue.agents.indexer.command');
  });
});

describe('the job spec carries references, not values', () => {
  const spec = {
    mission: 'mission-7',
    region: 'execution',
    windowId: 'w',
    agentId: 'task-1-1',
    capabilityProfile: { role: 'worker', capabilities: [] },
    image: 'x',
    command: ['node'],
    timeouts: { activeDeadlineSeconds: 60 },
  };
  test('envFrom validates and defaults to none', () => {
    expect(AgentJobSpec.parse(spec).envFrom).toEqual({});
    expect(AgentJobSpec.parse({ ...spec, envFrom: { TOKEN: { file: 'token' } } }).envFrom).toEqual({
      TOKEN: { file: 'token' },
    });
  });
  test('a variable both written down and referenced is refused at envFrom', () => {
    expect(
      refusedAt(AgentJobSpec, { ...spec, env: { TOKEN: 'x' }, envFrom: { TOKEN: { file: 'token' } } }),
    ).toContain('envFrom.TOKEN');
  });
});
