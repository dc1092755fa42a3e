/**
 * The contract of an agent run (docs/design.md#agents): what the orchestrator asks for (AgentJobSpec), what it
 * gets back (AgentJobResult), the name a run is known by, and the activities' inputs. Both
 * job runner backends — Kubernetes Jobs and local processes — take the same spec and give the
 * same result, so a mission does not know or care where its agents ran.
 *
 * This module is imported by workflow code: it stays sandbox-safe (zod, pure hashing, no Node).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { AgentOutcome, DecisionEntry } from './decision-record';
import { CapabilityProfile, EnergyBudget } from './evidence';
import { Sha256Schema } from './proposal';

/** Label/annotation prefix the orchestrator owns; specs may not set keys under it (no spoofing). */
export const SWOOSH_KEY_PREFIX = 'swoosh.io/';

/** Environment variables under this prefix form the agent contract and are set by the runner. */
export const CONTRACT_ENV_PREFIX = 'SWOOSH_';

/** Inputs travel in one environment variable; Kubernetes caps a whole object at ~1 MiB. */
export const MAX_INPUTS_BYTES = 64 * 1024;

/**
 * SWOOSH_INPUTS with its attachments read in: one environment variable, which Linux caps at
 * 128 KiB, so a run whose attachments do not fit is refused before it starts.
 */
export const MAX_RESOLVED_INPUTS_BYTES = 120 * 1024;

/** Content in the evidence store, named by where it came from and addressed by its checksum. */
export const EvidenceRef = z.strictObject({ uri: z.string().min(1).max(2048), checksum: Sha256Schema });
export type EvidenceRef = z.infer<typeof EvidenceRef>;

/**
 * Evidence handed to the agent: read from the content store where the run is spawned and added
 * to its inputs as `documents` and `artifacts` (`{ uri, text }` each; the first artifact also as
 * `artifact`), so the spec and its history carry checksums, not the content.
 */
export const AgentAttachments = z.strictObject({
  documents: z.array(EvidenceRef).max(64).default([]),
  artifacts: z.array(EvidenceRef).max(8).default([]),
});
export type AgentAttachments = z.output<typeof AgentAttachments>;

/** A Kubernetes resource quantity such as `500m`, `1`, `256Mi` (apimachinery's grammar). */
const Quantity = z
  .string()
  .regex(/^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/, 'must be a Kubernetes quantity, e.g. 500m or 256Mi');

const ResourceList = z.strictObject({ cpu: Quantity, memory: Quantity });

/** CPU and memory of one run; requests default to the limits. */
export const AgentResources = z.strictObject({ limits: ResourceList, requests: ResourceList.optional() });
export type AgentResources = z.infer<typeof AgentResources>;

/** `prefix/name` or `name`, as Kubernetes validates label and annotation keys. */
const QualifiedKey = z
  .string()
  .max(253)
  .regex(
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
    'must be a Kubernetes qualified name',
  )
  .refine((key) => !key.startsWith(SWOOSH_KEY_PREFIX), `keys under ${SWOOSH_KEY_PREFIX} are set by SWOOSH`);

const LabelValue = z
  .string()
  .max(63)
  .regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/, 'must be a Kubernetes label value');

export const AgentEnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a POSIX environment variable name')
  .refine(
    (name) => !name.startsWith(CONTRACT_ENV_PREFIX),
    `${CONTRACT_ENV_PREFIX}* variables are set by SWOOSH`,
  );

/** A Kubernetes object name (DNS-1123 subdomain), as Secrets are named. */
const ObjectName = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a Kubernetes object name',
  );

/** A path below the agent secrets folder: relative, no `..`, no empty segment. */
const SecretPath = z
  .string()
  .max(1024)
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/,
    'must be a relative path of plain segments',
  );

/**
 * Where an environment value comes from when it is not written down (docs/agents.md#environment):
 * a key of a Secret, or a file below the worker's agent secrets folder. Only the reference
 * travels through the workflow; the value is read where the run is spawned, never logged.
 */
export const AgentEnvReference = z.union([
  z.strictObject({
    secret: z.strictObject({
      name: ObjectName,
      key: z
        .string()
        .max(253)
        .regex(/^[-._a-zA-Z0-9]+$/, 'must be a Secret data key'),
    }),
  }),
  z.strictObject({ file: SecretPath }),
]);
export type AgentEnvReference = z.infer<typeof AgentEnvReference>;

export const AgentJobTimeouts = z.strictObject({
  /** Wall-clock limit of the whole run, retries included; Kubernetes' `activeDeadlineSeconds`. */
  activeDeadlineSeconds: z
    .int()
    .min(1)
    .max(7 * 24 * 3600),
  /** Between SIGTERM and SIGKILL when a run is stopped; the pod's `terminationGracePeriodSeconds`. */
  terminationGraceSeconds: z.int().min(0).max(300).default(10),
  /** How often the orchestrator must hear from the activity following the run before it retries it. */
  heartbeatSeconds: z.int().min(1).max(300).default(30),
});
export type AgentJobTimeouts = z.infer<typeof AgentJobTimeouts>;

export const AgentJobSpec = z
  .strictObject({
    mission: DecisionEntry.shape.mission,
    region: DecisionEntry.shape.region,
    windowId: z.string().min(1).max(200),
    /** Stable id of the agent within the mission, e.g. `reviewer-2`. */
    agentId: z.string().min(1).max(200),
    capabilityProfile: CapabilityProfile,
    energyBudget: EnergyBudget.default({}),
    /** Container image on Kubernetes; the process backend runs `command` on the host instead. */
    image: z.string().min(1),
    command: z.array(z.string().min(1)).min(1),
    args: z.array(z.string()).default([]),
    env: z.record(AgentEnvName, z.string()).default({}),
    /** Variables whose values are resolved where the run is spawned (a name is in `env` or here, not both). */
    envFrom: z.record(AgentEnvName, AgentEnvReference).default({}),
    /** Handed to the agent as JSON in `SWOOSH_INPUTS`. */
    inputs: z
      .record(z.string(), z.json())
      .default({})
      .refine((inputs) => new TextEncoder().encode(JSON.stringify(inputs)).length <= MAX_INPUTS_BYTES, {
        message: `inputs must encode to at most ${MAX_INPUTS_BYTES} bytes of JSON`,
      }),
    attachments: AgentAttachments.optional(),
    timeouts: AgentJobTimeouts,
    resources: AgentResources.default({ limits: { cpu: '1', memory: '1Gi' } }),
    /** Retries of the agent itself inside one run; 0 leaves retrying to the orchestrator. */
    backoffLimit: z.int().min(0).max(10).default(0),
    /** Kubernetes deletes a finished Job after this long, a safety net behind the reaper. */
    ttlSecondsAfterFinished: z
      .int()
      .min(0)
      .default(24 * 3600),
    /** The identity the agent acts as (annotation `swoosh.io/workload-identity`); else the template's. */
    workloadIdentity: z.string().min(1).max(253).optional(),
    /** References to the infrastructure the agent works on (annotation `swoosh.io/infrastructure-refs`). */
    infrastructureRefs: z.array(z.string().min(1)).default([]),
    labels: z.record(QualifiedKey, LabelValue).default({}),
    annotations: z.record(QualifiedKey, z.string()).default({}),
  })
  .superRefine((spec, ctx) => {
    for (const name of Object.keys(spec.envFrom)) {
      if (name in spec.env)
        ctx.addIssue({
          code: 'custom',
          path: ['envFrom', name],
          message: 'this variable is also set in env',
        });
    }
  });
/** A spec as validated: defaults applied. */
export type AgentJobSpec = z.infer<typeof AgentJobSpec>;
/** A spec as a caller writes it: defaulted fields may be left out. */
export type AgentJobSpecInput = z.input<typeof AgentJobSpec>;

export const JobBackend = z.enum(['process', 'kubernetes']);
export type JobBackend = z.infer<typeof JobBackend>;

const Timestamp = z.iso.datetime({ offset: true });

export const AgentJobResult = z.strictObject({
  jobName: z.string().min(1),
  backend: JobBackend,
  outcome: AgentOutcome,
  /** The agent's exit code, when it exited by itself (not when it was killed). */
  exitCode: z.int().optional(),
  startedAt: Timestamp,
  finishedAt: Timestamp,
  durationMs: z.int().nonnegative(),
  /** The last bytes of the agent's combined stdout and stderr. */
  logTail: z.string(),
  /** True when `logTail` is not the whole log. */
  logTruncated: z.boolean(),
});
export type AgentJobResult = z.infer<typeof AgentJobResult>;

/**
 * Who a run belongs to. Its job name and its ledger record id both derive from this, never from
 * an attempt number, so an activity retried after a worker crash finds the run it started.
 */
export interface JobOwner {
  workflowId: string;
  /** Distinguishes runs of one workflow; 0 for `agentJobWorkflow`, which runs exactly one. */
  seq: number;
}

/**
 * The DNS-1123 name of the run `owner` started: `swoosh-agent-` and 20 hex digits of a SHA-256.
 * Short enough for the `job-name` label Kubernetes puts on the Job's pods (63 characters).
 */
export function agentJobName(owner: JobOwner): string {
  const digest = bytesToHex(sha256(new TextEncoder().encode(`${owner.workflowId}\n${owner.seq}`)));
  return `swoosh-agent-${digest.slice(0, 20)}`;
}

/** Input of the run activity: which run, on whose behalf, doing what. */
export interface RunAgentJobInput {
  jobName: string;
  owner: JobOwner;
  spec: AgentJobSpecInput;
}

export interface ReapFinishedJobsInput {
  /** Finished runs younger than this are left for their owners to collect. */
  olderThanSeconds: number;
}

export interface ReapFinishedJobsResult {
  /** Runs deleted after their telemetry was exported. */
  reaped: string[];
  /** Finished runs not old enough yet. */
  kept: string[];
  /** Runs still going; the reaper never touches those. */
  running: string[];
}

/** ApplicationFailure types the job workflows and activities fail with. */
export const AgentJobFailureType = {
  /** The agent exited non-zero (details: the AgentJobResult). */
  failed: 'AgentJobFailed',
  /** The agent ran past `activeDeadlineSeconds` (details: the AgentJobResult). */
  timedOut: 'AgentJobTimedOut',
  /** The spec does not validate. */
  invalidSpec: 'InvalidAgentJobSpec',
  /** A run by this name exists but belongs to another owner. */
  nameConflict: 'AgentJobNameConflict',
  /** An `envFrom` reference could not be read where the run is spawned; nothing was started. */
  envUnresolved: 'AgentEnvUnresolved',
  /** An attachment is not in the content store, or the inputs it makes are too large; nothing was started. */
  attachmentUnresolved: 'AgentAttachmentUnresolved',
  /** A run this activity had started vanished before it was collected (deleted by hand?). */
  lost: 'AgentJobLost',
} as const;
