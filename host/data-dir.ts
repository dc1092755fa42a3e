/**
 * Where SWOOSH keeps local state (keys, licence, ledger, evidence) and how that folder is laid
 * out, in one place so the worker, the gateway and the CLI agree on every path.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The application's folder: the clone, or `/app` in the image. Agents on the process backend start
 * here, as they start in the image's working folder on Kubernetes (docs/agents.md#working-folder).
 */
export const appRoot = fileURLToPath(new URL('..', import.meta.url));

/** SWOOSH_DATA_DIR when set, else `.swoosh/` in the clone (git-ignored). Creates nothing. */
export function resolveDataDir(env: Record<string, string | undefined> = process.env): string {
  const configured = env.SWOOSH_DATA_DIR?.trim();
  return configured ? resolve(configured) : join(appRoot, '.swoosh');
}

export interface DataPaths {
  ledgerDir: string;
  evidenceDir: string;
  /** The orchestrator's ed25519 signing key (mode 0600). */
  orchestratorKey: string;
  /** The gateway's key for signing owner commands (mode 0600); created at first use. */
  gatewayKey: string;
  /** The development licence issuer's key (mode 0600); production issuers keep theirs elsewhere. */
  licenceIssuerKey: string;
  /** The trusted issuer's public key id, as text. */
  licenceIssuerPublicKey: string;
  licenceToken: string;
}

export function dataPaths(dataDir: string): DataPaths {
  return {
    ledgerDir: join(dataDir, 'ledger'),
    evidenceDir: join(dataDir, 'evidence'),
    orchestratorKey: join(dataDir, 'keys', 'orchestrator.key.json'),
    licenceIssuerKey: join(dataDir, 'keys', 'licence-issuer.key.json'),
    gatewayKey: join(dataDir, 'keys', 'gateway.key.json'),
    licenceIssuerPublicKey: join(dataDir, 'licence', 'issuer.pub'),
    licenceToken: join(dataDir, 'licence', 'licence.token'),
  };
}

/**
 * The orchestrator key's file: SWOOSH_ORCHESTRATOR_KEY_FILE when set, else the data folder's. In a
 * cluster the key comes from a Secret only the worker mounts, so the gateway, which shares the data
 * volume, never holds it.
 */
export function orchestratorKeyFile(
  dataDir: string,
  env: Record<string, string | undefined> = process.env,
): string {
  const configured = env.SWOOSH_ORCHESTRATOR_KEY_FILE?.trim();
  return configured ? resolve(configured) : dataPaths(dataDir).orchestratorKey;
}

/**
 * The only folder `file://` mission sources are read from: SWOOSH_INPUTS_DIR when set, else
 * `inputs/` in the clone (activities/source-confinement.ts). Never the data folder.
 */
export function resolveInputsDir(env: Record<string, string | undefined> = process.env): string {
  const configured = env.SWOOSH_INPUTS_DIR?.trim();
  return configured ? resolve(configured) : join(appRoot, 'inputs');
}

/** The largest source a mission may ingest (SWOOSH_SOURCE_MAX_BYTES, default 10 MiB). */
export function sourceMaxBytes(env: Record<string, string | undefined> = process.env): number {
  const configured = env.SWOOSH_SOURCE_MAX_BYTES?.trim();
  if (!configured) return 10 * 1024 * 1024;
  const value = Number(configured);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error('SWOOSH_SOURCE_MAX_BYTES must be a positive integer (bytes)');
  }
  return value;
}

/** The default SHHH policy shipped with the code. */
export const defaultPolicyFile = join(appRoot, 'schemas', 'default-policy.yaml');
