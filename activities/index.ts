/**
 * Every activity SWOOSH registers, from one factory with its dependencies injected (samples
 * `activities-dependency-injection`). The worker wires real dependencies (workers/dependencies.ts);
 * tests wire small real ones in a temporary data folder.
 */
import type { LicenceChecker } from '../host/licence/checker';
import type { ContentStore } from '../ledger/evidence-store';
import type { LedgerWriter } from '../ledger';
import type { JobRunner } from './jobs/runner';
import type { JobTelemetrySink } from './jobs/telemetry';
import type { Signer } from '../host/keys';
import type { OutboundPolicy } from '../host/outbound';
import type { ToolServerConfig } from '../schemas/tool-health';
import { createJobActivities } from './jobs/activities';
import { createLedgerActivities } from './ledger';
import { createLicenceActivities } from './licence';
import { createMissionStepActivities } from './mission-steps';
import { createPolicyActivities } from './policy';
import { createToolHealthActivities } from './tool-health';
import { createTimerActivities, type TimerActivityDeps } from './timers';

export interface ActivityDeps {
  dataDir: string;
  orchestrator: Signer;
  licence: LicenceChecker;
  ledger: LedgerWriter;
  evidence: ContentStore;
  policyFile: string;
  toolServers: ToolServerConfig[];
  runner: JobRunner;
  telemetry: JobTelemetrySink;
  /** Which non-public addresses outbound requests may reach (SWOOSH_OUTBOUND_ALLOW; none by default). */
  outbound: OutboundPolicy;
  /** The timer shards' activities (webhooks, updates, dead letters); they need a Temporal client. */
  timers?: TimerActivityDeps;
  /** The only folder `file://` mission sources are read from (SWOOSH_INPUTS_DIR unless given). */
  inputsDir?: string;
}

export function createActivities(deps: ActivityDeps) {
  const licence = createLicenceActivities({ licence: deps.licence });
  const policy = createPolicyActivities({ policyFile: deps.policyFile, evidence: deps.evidence });
  const tools = createToolHealthActivities({ servers: deps.toolServers });
  const activities = {
    ...licence,
    ...policy,
    ...tools,
    ...createLedgerActivities({ ledger: deps.ledger, evidence: deps.evidence }),
    ...createJobActivities({
      runner: deps.runner,
      telemetry: deps.telemetry,
      content: deps.evidence,
      policy: policy.loadPolicy,
    }),
    ...createMissionStepActivities({
      dataDir: deps.dataDir,
      evidence: deps.evidence,
      orchestrator: deps.orchestrator,
      checkLicence: licence.checkLicence,
      evaluatePolicy: policy.evaluatePolicy,
      loadPolicy: policy.loadPolicy,
      probeToolServers: tools.probeToolServers,
      sources: {
        outbound: deps.outbound,
        ...(deps.inputsDir !== undefined && { inputsDir: deps.inputsDir }),
      },
    }),
  };
  // Timer shards type theirs with TimerShardActivities, registered only where shards run.
  return deps.timers
    ? Object.assign(activities, createTimerActivities({ licence: deps.licence, ...deps.timers }))
    : activities;
}

export type SwooshActivities = ReturnType<typeof createActivities>;

/** What a timer shard calls; registered only on workers that run timer shards. */
export type TimerShardActivities = ReturnType<typeof createTimerActivities>;
