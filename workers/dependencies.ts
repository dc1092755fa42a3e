/**
 * Real activity dependencies, built from the environment at worker start: the data folder, the
 * orchestrator key (generated on first run, mode 0600), the licence (a development one only when
 * SWOOSH_DEV_LICENCE=true and no SWOOSH_LICENCE_* is set; README "Licence (KACHING)"), the decision ledger (the store SWOOSH_STORE names: files by
 * default, or PostgreSQL at SWOOSH_DATABASE_URL; docs/ledger.md, "Stores"), the evidence store
 * (the same choice; docs/ledger.md, "Evidence and dead letters"),
 * the policy file, the tool servers (SWOOSH_TOOL_SERVERS, JSON; default none, which the tooling
 * guard accepts as "nothing to sync" because an empty pin set has nothing to mismatch), the job
 * runner and the outbound address policy (SWOOSH_OUTBOUND_ALLOW, so a bad value stops the worker
 * at start).
 */
import { z } from 'zod';
import type { ActivityDeps } from '../activities';
import { dataPaths, defaultPolicyFile, orchestratorKeyFile, resolveDataDir } from '../host/data-dir';
import { openContentStore } from '../ledger';
import { createJobRunner, loadJobRunnerConfig, type JobRunnerConfig } from '../activities/jobs/config';
import type { JobTelemetrySink } from '../activities/jobs/telemetry';
import { ensureKeyFile, loadSigner } from '../host/keys';
import { outboundPolicyFromEnv } from '../host/outbound';
import { LedgerConflictError, type LedgerWriter, openLedgerStore } from '../ledger';
import { loadStoreConfig } from '../schemas/config';
import { workerLicence } from '../host/licence/setup';
import { ToolServerConfig } from '../schemas/tool-health';

export interface WorkerDependencies {
  deps: ActivityDeps;
  jobs: JobRunnerConfig;
  /** Where the licence comes from, said at start. */
  licenceNote: string;
}

/** Telemetry of agent runs goes to the ledger; a record already there was delivered before. */
export function ledgerTelemetrySink(ledger: LedgerWriter): JobTelemetrySink {
  return {
    async record(item) {
      try {
        if (item.kind === 'lifecycle') await ledger.appendAgentLifecycle(item.event);
        else await ledger.appendAgentDeployment(item.entry);
      } catch (error) {
        if (!(error instanceof LedgerConflictError)) throw error;
      }
    },
  };
}

export async function buildDependencies(
  env: Record<string, string | undefined> = process.env,
): Promise<WorkerDependencies> {
  const dataDir = resolveDataDir(env);
  // First: a bad SWOOSH_STORE or a missing SWOOSH_DATABASE_URL stops the worker before any work.
  const storeConfig = loadStoreConfig(env);
  const paths = dataPaths(dataDir);
  const keyFile = orchestratorKeyFile(dataDir, env);
  await ensureKeyFile(keyFile, 'orchestrator');
  const orchestrator = await loadSigner(keyFile, 'orchestrator');
  const { checker: licence, note: licenceNote } = await workerLicence(env, dataDir);
  const ledger = openLedgerStore({ config: storeConfig, ledgerDir: paths.ledgerDir }, orchestrator);
  const evidence = openContentStore(storeConfig, paths.evidenceDir);
  const toolServers = z
    .array(ToolServerConfig)
    .parse(JSON.parse(env.SWOOSH_TOOL_SERVERS?.trim() || '[]') as unknown);
  const jobs = loadJobRunnerConfig(env);
  const runner = await createJobRunner(jobs, { ...env, SWOOSH_DATA_DIR: dataDir });
  return {
    jobs,
    licenceNote,
    deps: {
      dataDir,
      orchestrator,
      licence,
      ledger,
      evidence,
      policyFile: env.SWOOSH_POLICY_FILE?.trim() || defaultPolicyFile,
      toolServers,
      runner,
      telemetry: ledgerTelemetrySink(ledger),
      outbound: outboundPolicyFromEnv(env),
    },
  };
}
