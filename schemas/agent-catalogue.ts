/**
 * The agent catalogue (docs/agents.md): per agent id, what runs — image, command and args,
 * environment (written down, or a reference to a Secret key or a file), resources, capability
 * profile, energy budget and timeouts. A mission's config may bring its own catalogue and name
 * the agent its beats run; whatever it does not declare comes from the default catalogue shipped
 * in schemas/default-agents.json, whose `echo` agent is what every beat ran before.
 *
 * Imported by workflow code: sandbox-safe (zod and a JSON document, nothing from Node).
 */
import { z } from 'zod';
import { AgentEnvName, AgentEnvReference, AgentJobTimeouts, AgentResources } from './agent-job';
import { CapabilityProfile, EnergyBudget } from './evidence';
import defaultAgents from './default-agents.json';

export const AgentId = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a lower-case id: a letter, then letters, digits or -');
export type AgentId = z.infer<typeof AgentId>;

/** A value written down, or where to read it (never logged, resolved where the run is spawned). */
export const AgentEnvValue = z.union([z.string(), AgentEnvReference]);
export type AgentEnvValue = z.infer<typeof AgentEnvValue>;

export const AgentDeclaration = z.strictObject({
  description: z.string().max(500).optional(),
  /** The container image on Kubernetes; the process backend ignores it and runs `command` on the host. */
  image: z.string().min(1),
  command: z.array(z.string().min(1)).min(1),
  args: z.array(z.string()).default([]),
  env: z.record(AgentEnvName, AgentEnvValue).default({}),
  /** Absent: the job spec's default (1 CPU, 1 GiB). */
  resources: AgentResources.optional(),
  capabilityProfile: CapabilityProfile,
  energyBudget: EnergyBudget.default({}),
  /**
   * The run's own limits. `activeDeadlineSeconds` is capped by the mission's `agent` latency
   * budget (an owner control) and is that budget when left out.
   */
  timeouts: z
    .strictObject({
      activeDeadlineSeconds: AgentJobTimeouts.shape.activeDeadlineSeconds.optional(),
      terminationGraceSeconds: AgentJobTimeouts.shape.terminationGraceSeconds.unwrap().optional(),
      heartbeatSeconds: AgentJobTimeouts.shape.heartbeatSeconds.unwrap().optional(),
    })
    .default({}),
});
export type AgentDeclarationInput = z.input<typeof AgentDeclaration>;
export type AgentDeclaration = z.output<typeof AgentDeclaration>;

export const AgentCatalogue = z.strictObject({
  agents: z
    .record(AgentId, AgentDeclaration)
    .refine((agents) => Object.keys(agents).length <= 64, { message: 'at most 64 agents' })
    // Stated in the OpenAPI document too, so a request it calls valid is one the gateway accepts.
    .meta({ maxProperties: 64 }),
});
export type AgentCatalogueInput = z.input<typeof AgentCatalogue>;
export type AgentCatalogue = z.output<typeof AgentCatalogue>;

/** The agent a beat runs when the mission's config names none. */
export const DEFAULT_BEAT_AGENT = 'echo';

/** The catalogue shipped in the repo (schemas/default-agents.json); parsed once, so a broken file fails at load. */
export const DEFAULT_AGENT_CATALOGUE: AgentCatalogue = AgentCatalogue.parse(defaultAgents);

/** The default catalogue with the mission's own declarations over it (a mission may redefine `echo`). */
export function missionCatalogue(own: AgentCatalogue | undefined): AgentCatalogue {
  return { agents: { ...DEFAULT_AGENT_CATALOGUE.agents, ...own?.agents } };
}

/** What a mission config says about agents (schemas/mission-config.ts `agents`). */
export const MissionAgentsInput = z.strictObject({
  /** Declarations of this mission, over the default catalogue. */
  catalogue: AgentCatalogue.optional(),
  /** The agent every task of a beat runs; default `echo`. */
  beat: AgentId.optional(),
});
export type MissionAgents = z.output<typeof MissionAgentsInput>;

/** The id and declaration of the agent a beat runs; undefined when the id is not declared. */
export function beatAgent(
  agents: MissionAgents | undefined,
): { id: string; declaration: AgentDeclaration } | undefined {
  const id = agents?.beat ?? DEFAULT_BEAT_AGENT;
  const catalogue = missionCatalogue(agents?.catalogue).agents;
  // Own keys only: an id like `constructor` is not declared by Object.prototype.
  return Object.hasOwn(catalogue, id) ? { id, declaration: catalogue[id] as AgentDeclaration } : undefined;
}

/** Splits a declaration's environment into the values written down and the references to resolve. */
export function splitEnv(env: Record<string, AgentEnvValue>): {
  env: Record<string, string>;
  envFrom: Record<string, AgentEnvReference>;
} {
  const literal: Record<string, string> = {};
  const envFrom: Record<string, AgentEnvReference> = {};
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === 'string') literal[name] = value;
    else envFrom[name] = value;
  }
  return { env: literal, envFrom };
}
