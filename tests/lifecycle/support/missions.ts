/**
 * Small real dependencies for lifecycle tests: a temporary data folder with a generated
 * orchestrator key, a development licence, the file ledger, the content store, the default
 * policy, no tool servers and the local process job runner. Test signers are tweetnacl keys made
 * here; proposals are signed exactly as an outside caller would sign them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import nacl from 'tweetnacl';
import { swooshSearchAttributes } from '../../../schemas/search-attributes';
import type { ActivityDeps } from '../../../activities';
import { dataPaths, defaultPolicyFile } from '../../../host/data-dir';
import { FileContentStore } from '../../../ledger/evidence-store';
import { ProcessJobRunner } from '../../../activities/jobs/process/runner';
import { ensureKeyFile, loadSigner } from '../../../host/keys';
import { FileLedger } from '../../../ledger';
import { initDevLicence, licenceCheckerFromEnv } from '../../../host/licence/setup';
import {
  missionWorkflowId,
  type MissionPrompt,
  type MissionView,
  type TransitionRequest,
} from '../../../schemas/mission';
import type { MissionConfigInput } from '../../../schemas/mission-config';
import { ledgerTelemetrySink } from '../../../workers/dependencies';
import { stateQuery, transitionUpdate } from '../../../schemas/mission-messages';
import type { TransitionProposal } from '../../../schemas/proposal';
import {
  buildProposal,
  signDetached,
  signProposal,
  signVote,
  windowIdAt,
  type WindowSchedule,
} from '../../../workflows/statechart';
import { signerKeyFromPublicKey, signOwnerCommand } from '../../../schemas/signed-bytes';
import { OwnerControlCommand, type SignedOwnerCommand } from '../../../schemas/owner-controls';
import { formatHlc, type Hlc, hlcSend, parseHlc } from '../../../schemas/hlc';
import { hashCanonical } from '../../../schemas/hash';
import { TRANSITIONS, type TransitionName } from '../../../schemas/statechart';
import { type StateDocument } from '../../../schemas/state-document';
import type { LedgerRecord } from '../../../schemas/decision-record';

export async function testDeps(): Promise<ActivityDeps> {
  const dataDir = mkdtempSync(join(tmpdir(), 'swoosh-lifecycle-'));
  const paths = dataPaths(dataDir);
  await ensureKeyFile(paths.orchestratorKey, 'orchestrator');
  const orchestrator = await loadSigner(paths.orchestratorKey, 'orchestrator');
  await initDevLicence(dataDir);
  // Mission sources come from their own folder, as in a deployment (SWOOSH_INPUTS_DIR).
  const inputsDir = mkdtempSync(join(tmpdir(), 'swoosh-inputs-'));
  const ledger = new FileLedger({ dir: paths.ledgerDir, signer: orchestrator });
  return {
    dataDir,
    orchestrator,
    licence: await licenceCheckerFromEnv({}, dataDir),
    ledger,
    evidence: new FileContentStore(paths.evidenceDir),
    policyFile: defaultPolicyFile,
    toolServers: [],
    runner: new ProcessJobRunner({ dataDir, pollIntervalMs: 100 }),
    telemetry: ledgerTelemetrySink(ledger),
    inputsDir,
    // The default: nothing beyond public addresses.
    outbound: { allow: [] },
  };
}

export interface TestSigner {
  key: ReturnType<typeof signerKeyFromPublicKey>;
  secret: Uint8Array;
}

export function newSigner(): TestSigner {
  const pair = nacl.sign.keyPair();
  return { key: signerKeyFromPublicKey(pair.publicKey), secret: pair.secretKey };
}

/** A 4-second BACKBEAT bar: windows open often enough for tests on a real dev server. */
export const FAST_SCHEDULE = {
  name: 'backbeat',
  tempoBpm: 600,
  barBeats: 40,
  phases: { PLAN: 0.2, WORK: 0.5, REVIEW: 0.2, REVERB: 0.1 },
  amplitude: 0.25,
  backoffBaseMs: 200,
  backoffMaxMs: 2_000,
};

/** A schedule for time-skipping tests: 40-minute bars at 3 bpm. */
export const TEST_SCHEDULE = {
  name: 'backbeat',
  tempoBpm: 3,
  barBeats: 120,
  phases: { PLAN: 0.2, WORK: 0.5, REVIEW: 0.2, REVERB: 0.1 },
  amplitude: 0.25,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
} satisfies WindowSchedule;

export function prompt(id: string, overrides: Partial<MissionPrompt> = {}): MissionPrompt {
  return {
    id,
    objective: 'Summarise the onboarding docs',
    priority: 'P1',
    originatingSpec: 'https://specs.example.org/onboarding',
    createdAt: '2026-11-23T09:00:00.000Z',
    ...overrides,
  };
}

export async function startMissionWith(
  client: Client,
  taskQueue: string,
  p: MissionPrompt,
  config: MissionConfigInput,
  controllers: string[] = [],
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  return client.workflow.start('missionWorkflow', {
    workflowId: missionWorkflowId(p.id),
    taskQueue,
    args: [p, { config, controllers }],
  });
}

/** Signs an owner command with a test key, for one mission or (null) every mission, issued at `issuedAtMs`. */
export function signedCommand(
  signer: TestSigner,
  command: OwnerControlCommand,
  missionId: string | null,
  issuedAtMs: number,
): SignedOwnerCommand {
  return signOwnerCommand(
    OwnerControlCommand.parse(command),
    { missionId, issuedAtMs },
    { keyId: signer.key, sign: (message) => signDetached(message, signer.secret) },
  );
}

export async function view(
  client: Client,
  missionId: string,
): Promise<MissionView & { state: StateDocument; hash: string }> {
  return (await client.workflow.getHandle(missionWorkflowId(missionId)).query(stateQuery)) as MissionView & {
    state: StateDocument;
    hash: string;
  };
}

/** Builds and signs a proposal against `state` at workflow time `now`. */
export function propose(
  state: StateDocument,
  signer: TestSigner,
  transition: TransitionName,
  inputs: Record<string, unknown>,
  now: number,
  schedule: WindowSchedule,
  evidence: string[] = [],
): ReturnType<typeof signProposal> {
  const last = state.hlc_last === null ? { wall: 0, counter: 0 } : parseHlc(state.hlc_last);
  const unsigned = buildProposal(state, {
    transition,
    inputs,
    signer: signer.key,
    idem_key: `${state.meta.mission_id}:${state.execution.beat}:${TRANSITIONS[transition].class}:${crypto.randomUUID()}`,
    hlc: formatHlc(hlcSend(last, now)),
    window_id: windowIdAt(schedule, now),
    evidence,
  });
  return signProposal(unsigned, signer.secret);
}

/**
 * Signs proposals as `signer` for mission `missionId` against a HEAD read over REST, each with a
 * fresh idem_key and an HLC later than the last, as a client outside the workflow would.
 */
export function proposalSigner(missionId: string, signer: TestSigner, schedule: WindowSchedule) {
  let last: Hlc = { wall: 0, counter: 0 };
  const sign = (head: string, transition: TransitionName, inputs: Record<string, unknown>) => {
    last = hlcSend(last, Date.now());
    return signProposal(
      {
        current_state_hash: head,
        transition,
        inputs_hash: hashCanonical(inputs),
        signer: signer.key,
        idem_key: `${missionId}:0:${TRANSITIONS[transition].class}:${crypto.randomUUID()}`,
        hlc: formatHlc(last),
        window_id: windowIdAt(schedule, Date.now()),
        evidence: [],
        inputs,
      },
      signer.secret,
    );
  };
  /** After an `hlc` rejection: the mission's clock is ahead of ours, so jump past it. */
  const catchUp = (): void => {
    last = { wall: Date.now() + 5, counter: 0 };
  };
  return Object.assign(sign, { catchUp });
}

export function vote(member: string, setHash: string, missionId: string, signer: TestSigner) {
  return signVote({ member, council_set_hash: setHash }, missionId, signer.secret);
}

export async function submit(
  client: Client,
  missionId: string,
  proposal: { idem_key: string } & Record<string, unknown>,
  request?: TransitionRequest,
) {
  const sent = proposal as TransitionProposal;
  const args: [TransitionProposal, TransitionRequest?] = request === undefined ? [sent] : [sent, request];
  return client.workflow
    .getHandle(missionWorkflowId(missionId))
    .executeUpdate(transitionUpdate, { args, updateId: proposal.idem_key });
}

/** The Java test server knows no custom search attributes until they are registered. */
export async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const { INDEXED_VALUE_TYPE_KEYWORD, INDEXED_VALUE_TYPE_INT } = proto.temporal.api.enums.v1.IndexedValueType;
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(
      swooshSearchAttributes.map((k) => [
        k.name,
        k.type === 'INT' ? INDEXED_VALUE_TYPE_INT : INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
}

/**
 * For `readLedger(...).catch(noLedgerYet)`: a mission whose first append has not landed yet (the
 * append gathers decisions for up to a second) has no ledger, so no records so far.
 */
export function noLedgerYet(error: unknown): { records: LedgerRecord[]; tornTail: boolean } {
  if (error instanceof Error && error.message.startsWith('no ledger for mission '))
    return { records: [], tornTail: false };
  throw error;
}
