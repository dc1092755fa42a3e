/**
 * A chaos run (docs/chaos.md): missions on a real Temporal dev server driven through the gateway
 * process by proposers that duplicate, reorder, abandon and race their proposals, while the run
 * SIGKILLs worker processes, kills the gateway and restarts the Temporal server. Then the verdict:
 * every accepted proposal is in its mission's ledger exactly once, no record id, UCXL id or seq
 * repeats, every ledger verifies, refused proposals left no event in history, no invariant was
 * reported violated, and every mission's history replays in three worker processes that all end
 * at the live HEAD.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import proto from '@temporalio/proto';
import { SwooshClient } from '../../api/client';
import { dataPaths } from '../../host/data-dir';
import { loadSigner } from '../../host/keys';
import { verifyLedger } from '../../ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import { decisionId } from '../../schemas/decision-id';
import { missionWorkflowId } from '../../schemas/mission';
import { newSigner, prompt, TEST_SCHEDULE, type TestSigner } from '../lifecycle/support/missions';
import {
  type BeatMission,
  type CouncilCounts,
  driveBeatMission,
  type FlappingToolServer,
  type LicenceEndpoint,
  licenceEnv,
  newCouncilCounts,
  type OwnerCommandsSent,
  sendOwnerBroadcast,
  startFlappingToolServer,
  startLicenceEndpoint,
} from './faults';
import { type ChaosCluster, startChaosCluster } from './processes';
import { seededRandom } from '../support/random';
import { eventually } from '../support/temporal';
import { type Counts, type FaultRates, newCounts, Proposer } from './traffic';

const { EventType } = proto.temporal.api.enums.v1;

export interface ChaosOptions {
  missions: number;
  /** Proposals to send in all (each mission gets its share). */
  transitions: number;
  seed: number;
  rates: FaultRates;
  /** SIGKILL a worker process this often (0: never); it is restarted a moment later. */
  workerKillEveryMs: number;
  /** At most this many worker kills (default: no limit). */
  maxWorkerKills?: number;
  workers: number;
  /** Times the gateway process is SIGKILLed and restarted, spread over the run. */
  gatewayKills: number;
  /** Times the Temporal dev server is stopped and started again on its SQLite file. */
  serverRestarts: number;
  /**
   * Missions that run beats beside the held ones: three council members vote through the gateway
   * and two approvers approve each beat (their licence and tool checks meet the faults below).
   */
  beatMissions?: number;
  /**
   * After the traffic and the faults, how long the beat missions get to complete a beat each
   * (default five minutes): their drivers go on voting and approving until they have.
   */
  beatWaitMs?: number;
  /** Times the licence endpoint denies, each for `licenceDenyMs` (workers' grace is a third of it). */
  licenceDenials?: number;
  licenceDenyMs?: number;
  /** Times the MCP tool server goes down, each for `toolDownMs`. */
  toolFlaps?: number;
  toolDownMs?: number;
  /** Owner pause-all, each followed by a resume-all `ownerPauseMs` later. */
  ownerPauses?: number;
  ownerPauseMs?: number;
  dataDir: string;
  progress?: (line: string) => void;
}

export const DEFAULT_RATES: FaultRates = { duplicate: 0.05, reorder: 0.05, drop: 0.03, race: 0.05, a2a: 0.3 };

export interface Faults {
  workerKills: number;
  gatewayKills: number;
  serverRestarts: number;
  licenceDenials: number;
  /** Licence requests the endpoint denied / granted. */
  licenceDenied: number;
  licenceGranted: number;
  toolFlaps: number;
  /** MCP sessions the tool server refused while down / served while up. */
  toolFailed: number;
  toolServed: number;
  ownerPauseAll: number;
  ownerResumeAll: number;
}

/** The beat missions' council and approvals, and what their ledgers show of the licence fault. */
export interface CouncilReport extends CouncilCounts {
  beatsCompleted: number;
  /** Boot_LicenseGrace and Boot_Licensed-after-grace decisions in the beat missions' ledgers. */
  licenceGraces: number;
  licenceRecoveries: number;
}

export interface MissionVerdict {
  mission: string;
  accepted: number;
  ledgerDecisions: number;
  problems: string[];
}

export interface ChaosReport {
  counts: Counts;
  faults: Faults;
  council: CouncilReport;
  missions: MissionVerdict[];
  /** Accepted proposals missing from their ledger. */
  lost: number;
  /** Owner broadcasts the gateway never acknowledged (each fails the run), with its last answer. */
  ownerUnacknowledged: string[];
  /** Per replaying process: missions whose every run replayed, chained and ended at the live HEAD. */
  replays: { process: number; ok: number; runs: number; failed: string[] }[];
  seconds: number;
  throughput: number;
  p95Ms: number;
  passed: number;
  failed: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Started {
  id: string;
  owner: TestSigner;
}

/**
 * Missions held in council ELECT (a member who never votes): only the proposers move HEAD.
 * `api` may be a function of the mission's index, to start them through several gateways.
 */
export async function startMissions(
  api: SwooshClient | ((index: number) => SwooshClient),
  count: number,
): Promise<Started[]> {
  const silent = newSigner();
  const via = typeof api === 'function' ? api : () => api;
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const owner = newSigner();
      const id = randomUUID();
      const res = await via(i).startMission({
        ...prompt(id),
        config: {
          signers: [{ key: owner.key, classes: ['control', 'policy'], label: 'chaos proposer' }],
          council: { roles: ['planner'], members: [{ id: 'silent', key: silent.key }] },
          schedule: TEST_SCHEDULE,
        },
      });
      if (res.status !== 201)
        throw new Error(`mission not started: ${res.status} ${JSON.stringify(res.body)}`);
      return { id, owner };
    }),
  );
}

/** A 20-second bar: review windows long enough for approvals on a loaded machine. */
export const BEAT_SCHEDULE = {
  ...TEST_SCHEDULE,
  tempoBpm: 120,
  barBeats: 40,
  backoffBaseMs: 500,
  backoffMaxMs: 5_000,
};

/** Missions that run beats: a council of three that votes, two approvers out of two. */
async function startBeatMissions(api: SwooshClient, count: number): Promise<BeatMission[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const id = randomUUID();
      const members = ['alice', 'bob', 'carol'].map((name) => ({ id: name, signer: newSigner() }));
      const approvers = [newSigner(), newSigner()];
      const res = await api.startMission({
        ...prompt(id),
        config: {
          signers: approvers.map((a, i) => ({
            key: a.key,
            classes: ['approval'],
            label: `approver ${i + 1}`,
          })),
          council: { roles: ['planner'], members: members.map((m) => ({ id: m.id, key: m.signer.key })) },
          approvalsRequired: 2,
          schedule: BEAT_SCHEDULE,
        },
      });
      if (res.status !== 201)
        throw new Error(`beat mission not started: ${res.status} ${JSON.stringify(res.body)}`);
      return { id, members, approvers };
    }),
  );
}

/**
 * Waits until every beat mission's ledger holds a completed beat (an Execution_Reverb), or
 * `withinMs` passes: a beat that never completes is the verdict's to report, not a reason to hang.
 */
async function beatsDone(api: SwooshClient, missions: BeatMission[], withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  const pending = new Set(missions.map((m) => m.id));
  while (pending.size > 0 && Date.now() < until) {
    for (const id of [...pending]) {
      const decisions = await allDecisions(api, id).catch(() => []);
      if (decisions.some((d) => d.transition === 'Execution_Reverb')) pending.delete(id);
    }
    if (pending.size > 0) await sleep(2_000);
  }
}

/** Every decision record of a mission, paged through a gateway's ledger API. */
export async function allDecisions(api: SwooshClient, mission: string): Promise<DecisionRecord[]> {
  const records: DecisionRecord[] = [];
  let pageToken: string | undefined;
  do {
    const page = await api.ledger(mission, { pageSize: 500, pageToken });
    if (!page.ok) throw new Error(`ledger of ${mission}: HTTP ${page.status}`);
    for (const r of page.body.records) if (r.kind === 'decision') records.push(r);
    pageToken = page.body.nextPageToken;
  } while (pageToken !== undefined);
  return records;
}

/** The values that occur more than once. */
export function repeats(values: string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const v of values) (seen.has(v) ? twice : seen).add(v);
  return [...twice];
}

/** Runs three replaying processes over the exported histories, one after the other. */
async function replayThrice(
  folder: string,
  say: (line: string) => void,
): Promise<{ process: number; lines: ReplayLine[] }[]> {
  const results = [];
  const histories = readdirSync(folder).length;
  for (let i = 1; i <= 3; i++) {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'tests/chaos/replay-child.ts', folder], {
        cwd: new URL('../../', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      // A process takes minutes for a full-size run: say how far it is.
      const progress = setInterval(() => {
        const done = text.split('\n').filter((l) => l.startsWith('{')).length;
        say(`\r[chaos] replay process ${i}/3: ${done}/${histories} histories   `);
      }, 5_000);
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('exit', (code) => {
        clearInterval(progress);
        if (code === 0) resolve(text);
        else reject(new Error(`replay process ${i} exited ${code}`));
      });
    });
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as ReplayLine);
    results.push({ process: i, lines });
  }
  return results;
}

interface ReplayLine {
  /** The exported file: `<workflowId>~<run number>`. */
  file: string;
  workflowId: string;
  ok: boolean;
  error?: string;
  /** The snapshot hash a continued run started from (null for a first run). */
  startHash: string | null;
  lastPostHash: string | null;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const say = options.progress ?? (() => undefined);
  const started = performance.now();
  const licenceDenyMs = options.licenceDenyMs ?? 15_000;
  const licence: LicenceEndpoint = await startLicenceEndpoint(options.dataDir);
  const tools: FlappingToolServer = await startFlappingToolServer();
  const ownerKey = newSigner();
  let cluster: ChaosCluster;
  try {
    cluster = await startChaosCluster(options.dataDir, options.workers, {
      workers: {
        // The workers' grace is shorter than a denial: DEGRADED, then DENIED, then granted again.
        ...licenceEnv(licence, Math.round(licenceDenyMs / 3)),
        SWOOSH_TOOL_SERVERS: JSON.stringify([tools.config]),
        // One deployment, one owner key set: the workers' timer shards check owner commands too.
        SWOOSH_OWNER_KEYS: ownerKey.key,
      },
      gateway: { SWOOSH_OWNER_KEYS: ownerKey.key },
    });
  } catch (error) {
    await Promise.all([licence.close(), tools.close()]);
    throw error;
  }
  const faults: Faults = {
    workerKills: 0,
    gatewayKills: 0,
    serverRestarts: 0,
    licenceDenials: 0,
    licenceDenied: 0,
    licenceGranted: 0,
    toolFlaps: 0,
    toolFailed: 0,
    toolServed: 0,
    ownerPauseAll: 0,
    ownerResumeAll: 0,
  };
  const counts = newCounts();
  const councilCounts = newCouncilCounts();
  const ownerSent: OwnerCommandsSent = { pauses: [], resumes: [], signalled: 0, unacknowledged: [] };
  let connection: Connection | undefined;
  try {
    const operator = new SwooshClient(cluster.gatewayUrl, cluster.tokens.operator);
    const agent = () => new SwooshClient(cluster.gatewayUrl, cluster.tokens.agent);
    const owner = () => new SwooshClient(cluster.gatewayUrl, cluster.tokens.owner);
    const missions = await startMissions(operator, options.missions);
    const beatMissions = await startBeatMissions(operator, options.beatMissions ?? 0);
    const random = seededRandom(options.seed);
    const proposers = missions.map(
      (m, i) =>
        new Proposer(
          m.id,
          m.owner,
          TEST_SCHEDULE,
          agent,
          options.rates,
          seededRandom(options.seed * 1_000 + i),
          counts,
        ),
    );
    // Held: ingestion and environment READY, council waiting in ELECT for a vote that never comes.
    for (const m of missions) {
      for (;;) {
        const s = await operator.getState(m.id, 'Council,Ingestion,Environment').catch(() => undefined);
        const p = s?.ok ? (s.body.projection as Record<string, { phase?: string }>) : undefined;
        if (
          p?.council?.phase === 'ELECT' &&
          p.ingestion?.phase === 'READY' &&
          p.environment?.phase === 'READY'
        )
          break;
        await sleep(300);
      }
    }
    await Promise.all(proposers.map((p) => p.refresh()));
    // Beat missions book their approvals like any proposal; they get no random traffic.
    const beatProposers = beatMissions.map(
      (m, i) =>
        new Proposer(
          m.id,
          m.approvers[0]!,
          BEAT_SCHEDULE,
          agent,
          options.rates,
          seededRandom(options.seed * 1_000 + missions.length + i),
          counts,
        ),
    );
    say(
      `[chaos] ${missions.length} missions held, ${beatMissions.length} running beats; sending ${options.transitions} proposals`,
    );

    const perMission = Math.ceil(options.transitions / missions.length);
    let done = false;
    /** Set once the beat missions have done their part (`beatsDone`): their drivers stop. */
    let councilsDone = false;
    const traffic = Promise.all(
      proposers.map(async (p) => {
        while (p.sent < perMission && p.ended === undefined) await p.step();
        await p.drain();
      }),
    ).finally(() => (done = true));
    const councils = Promise.all(
      beatMissions.map((m, i) =>
        driveBeatMission(m, agent, beatProposers[i]!, BEAT_SCHEDULE, councilCounts, () => councilsDone),
      ),
    );

    // The faults, on their own clock while the traffic runs.
    const total = options.transitions;
    const gatewayAt = Array.from(
      { length: options.gatewayKills },
      (_, i) => ((i + 1) * total) / (options.gatewayKills + 1),
    );
    const serverAt = Array.from(
      { length: options.serverRestarts },
      (_, i) => ((i + 0.5) * total) / (options.serverRestarts + 0.5),
    );
    const spread = (n: number, from: number, to: number) =>
      Array.from({ length: n }, (_, i) => total * (from + ((to - from) * (i + 0.5)) / n));
    const licenceAt = spread(options.licenceDenials ?? 0, 0.15, 0.75);
    // The first flap as the traffic starts, when the beat missions' councils check their tooling.
    const toolsAt = Array.from(
      { length: options.toolFlaps ?? 0 },
      (_, i) => (total * 0.9 * i) / (options.toolFlaps ?? 1),
    );
    const ownerAt = spread(options.ownerPauses ?? 0, 0.3, 0.8);
    /** Faults that end on their own clock (a resume-all after its pause-all): awaited before the verdict. */
    const pending: Promise<void>[] = [];
    let lastWorkerKill = performance.now();
    const progress = setInterval(() => {
      const refused = [...counts.rejectedByGuard.values()].reduce((a, b) => a + b, 0) + counts.stale;
      say(
        `\r[chaos] sent ${counts.sent}/${total} accepted ${counts.accepted} (duplicates ${counts.duplicatesAnswered}) refused ${refused} unknown ${counts.unknownAnswers} | worker kills ${faults.workerKills} gateway kills ${faults.gatewayKills} server restarts ${faults.serverRestarts} licence denials ${faults.licenceDenials} tool flaps ${faults.toolFlaps} pause-all ${faults.ownerPauseAll} | votes ${councilCounts.votesAccepted} approvals ${councilCounts.approvalsAccepted}   `,
      );
    }, 1_000);
    try {
      // A fault is due at a count of proposals sent; one still due when the traffic ends (a fast
      // run) happens then, so every configured fault happens once the traffic is over.
      const due = (at: number[]) => at.length > 0 && (done || counts.sent >= at[0]!);
      const workerKillOwed = () =>
        options.workerKillEveryMs > 0 && (options.maxWorkerKills ?? 1) > 0 && faults.workerKills === 0;
      const faultsOwed = () =>
        [gatewayAt, serverAt, licenceAt, toolsAt, ownerAt].some((at) => at.length > 0) || workerKillOwed();
      while (!done || faultsOwed()) {
        await sleep(250 + random() * 250);
        if (
          options.workerKillEveryMs > 0 &&
          faults.workerKills < (options.maxWorkerKills ?? Infinity) &&
          (performance.now() - lastWorkerKill > options.workerKillEveryMs || (done && workerKillOwed()))
        ) {
          lastWorkerKill = performance.now();
          const w = cluster.workers[Math.floor(random() * cluster.workers.length)]!;
          await w.kill();
          faults.workerKills++;
          await sleep(500 + random() * 1_500);
          await w.start();
        }
        if (due(gatewayAt)) {
          gatewayAt.shift();
          await cluster.gateway.kill();
          faults.gatewayKills++;
          await sleep(500 + random() * 1_500);
          await cluster.gateway.start();
        }
        if (due(licenceAt)) {
          licenceAt.shift();
          licence.deny();
          faults.licenceDenials++;
          // Workers ask the endpoint only when a mission checks its licence (a beat's PLAN, or the
          // licence watch on the token's refresh schedule), so the denial lasts until one has been
          // refused (bounded), then licenceDenyMs more.
          const deniedBefore = licence.counts.denied;
          const askedBy = Date.now() + 10 * licenceDenyMs;
          pending.push(
            (async () => {
              while (licence.counts.denied === deniedBefore && Date.now() < askedBy) await sleep(250);
              await sleep(licenceDenyMs);
              licence.grant();
            })(),
          );
        }
        if (due(toolsAt)) {
          toolsAt.shift();
          tools.down();
          faults.toolFlaps++;
          pending.push(sleep(options.toolDownMs ?? 10_000).then(() => tools.up()));
        }
        if (due(ownerAt)) {
          ownerAt.shift();
          pending.push(
            (async () => {
              if (await sendOwnerBroadcast(owner, ownerKey, 'chaos-owner', 'pause', ownerSent))
                faults.ownerPauseAll++;
              await sleep(options.ownerPauseMs ?? 5_000);
              if (await sendOwnerBroadcast(owner, ownerKey, 'chaos-owner', 'resume', ownerSent))
                faults.ownerResumeAll++;
            })(),
          );
        }
        if (due(serverAt)) {
          serverAt.shift();
          await cluster.server.stop();
          faults.serverRestarts++;
          await sleep(1_000);
          await cluster.server.start();
        }
      }
      await traffic;
      await Promise.all(pending);
      await beatsDone(operator, beatMissions, options.beatWaitMs ?? 300_000);
      councilsDone = true;
      await councils;
    } finally {
      clearInterval(progress);
      say('\n');
    }
    const seconds = (performance.now() - started) / 1000;

    // The verdict.
    say('[chaos] checking ledgers, histories and replays');
    connection = await Connection.connect({ address: cluster.address });
    const client = new Client({ connection, namespace: 'default' });
    const orchestrator = await loadSigner(dataPaths(cluster.dataDir).orchestratorKey, 'orchestrator');
    const historiesDir = join(cluster.dataDir, 'histories');
    mkdirSync(historiesDir, { recursive: true });
    const verdicts: MissionVerdict[] = [];
    const liveHeads = new Map<string, string>();
    const runsOf = new Map<string, number>();
    const council: CouncilReport = {
      ...councilCounts,
      beatsCompleted: 0,
      licenceGraces: 0,
      licenceRecoveries: 0,
    };
    const beatIds = new Set(beatMissions.map((m) => m.id));
    let lost = 0;
    for (const p of [...proposers, ...beatProposers]) {
      const problems: string[] = [...p.book.contradictions];
      if (p.ended !== undefined) problems.push(`the mission left the run: ${p.ended}`);
      for (const key of p.book.unresolved) problems.push(`${key}: never got a definitive answer`);
      // Appends trail the answers (docs/lifecycle.md#the-ledger-append): give the queue time to
      // drain; a record that never arrives is still reported lost below.
      const decisions = await eventually(
        () => allDecisions(operator, p.missionId),
        (all) => {
          const keys = new Set(all.map((d) => d.idem_key));
          const owners = [...ownerSent.pauses, ...ownerSent.resumes].map((id) => `owner:${id}`);
          return [...p.book.accepted.keys(), ...owners].every((k) => keys.has(k));
        },
        120_000,
      );
      const byKey = new Map<string, number>();
      for (const d of decisions) byKey.set(d.idem_key, (byKey.get(d.idem_key) ?? 0) + 1);
      for (const [key, hash] of p.book.accepted) {
        const n = byKey.get(key) ?? 0;
        if (n === 0) {
          lost++;
          problems.push(`${key}: accepted (${hash}) but not in the ledger`);
        } else if (n > 1) problems.push(`${key}: in the ledger ${n} times`);
        const record = decisions.find((d) => d.idem_key === key);
        if (record && record.post_state_hash !== hash)
          problems.push(`${key}: answered ${hash}, ledger says ${record.post_state_hash}`);
      }
      for (const key of repeats(decisions.map((d) => d.idem_key)))
        problems.push(`idem_key ${key} repeats in the ledger`);
      for (const id of repeats(decisions.map((d) => d.id))) problems.push(`record id ${id} repeats`);
      for (const id of repeats(decisions.map((d) => decisionId(d)))) problems.push(`UCXL id ${id} repeats`);
      for (const seq of repeats(decisions.map((d) => String(d.seq)))) problems.push(`seq ${seq} repeats`);
      for (const [key, guard] of p.book.refused) {
        if (byKey.has(key)) problems.push(`${key}: refused (${guard}) yet in the ledger`);
      }
      // Every owner broadcast reached the mission and was applied once, retries and all.
      for (const id of [...ownerSent.pauses, ...ownerSent.resumes]) {
        const n = byKey.get(`owner:${id}`) ?? 0;
        if (n !== 1) problems.push(`owner command ${id}: ${n} records in the ledger, not 1`);
      }
      if (beatIds.has(p.missionId)) {
        let graced = false;
        for (const d of decisions) {
          if (d.transition === 'Execution_Reverb') council.beatsCompleted++;
          if (d.transition === 'Boot_LicenseGrace') {
            council.licenceGraces++;
            graced = true;
          }
          if (d.transition === 'Boot_Licensed' && graced) {
            council.licenceRecoveries++;
            graced = false;
          }
        }
      }
      const verification = await verifyLedger(dataPaths(cluster.dataDir).ledgerDir, p.missionId, [
        orchestrator.keyId,
      ]);
      if (!verification.ok)
        problems.push(
          `ledger does not verify: ${JSON.stringify(verification.firstBad)} ${verification.notes.join('; ')}`,
        );

      const handle = client.workflow.getHandle(missionWorkflowId(p.missionId));
      const state = await operator.getState(p.missionId);
      if (state.ok) liveHeads.set(missionWorkflowId(p.missionId), state.body.hash);
      // A mission that ended (failed) during the run has nothing to terminate.
      await handle.terminate('chaos run: verdict').catch((error: unknown) => {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      });
      // Every run of the mission, oldest first: a long history continued as new (docs/lifecycle.md).
      const runs = await runIds(client, missionWorkflowId(p.missionId));
      runsOf.set(missionWorkflowId(p.missionId), runs.length);
      const histories = await Promise.all(
        runs.map((runId) => client.workflow.getHandle(missionWorkflowId(p.missionId), runId).fetchHistory()),
      );
      histories.forEach((history, i) =>
        writeFileSync(
          join(historiesDir, `${missionWorkflowId(p.missionId)}~${String(i + 1).padStart(3, '0')}.json`),
          historyToJSON(history),
        ),
      );
      // Refused by the validator means no event: no accepted update may carry a refused idem_key.
      const acceptedUpdates = new Set(
        histories
          .flatMap((h) => h.events ?? [])
          .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
          .map(
            (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId ?? '',
          ),
      );
      for (const [key, guard] of p.book.refused)
        if (acceptedUpdates.has(key) && !p.book.accepted.has(key))
          problems.push(`${key}: refused (${guard}) but its update is in history`);
      verdicts.push({
        mission: p.missionId,
        accepted: p.book.accepted.size,
        ledgerDecisions: decisions.length,
        problems,
      });
    }
    const invariantLines = cluster.workers.flatMap((_, i) =>
      readFileSync(join(cluster.dataDir, `worker-${i + 1}.log`), 'utf8')
        .split('\n')
        .filter((l) => /invariant violation/i.test(l)),
    );
    if (invariantLines.length > 0)
      verdicts.push({
        mission: '(workers)',
        accepted: 0,
        ledgerDecisions: 0,
        problems: invariantLines.slice(0, 20),
      });

    await cluster.stop();
    Object.assign(faults, {
      licenceDenied: licence.counts.denied,
      licenceGranted: licence.counts.granted,
      toolFailed: tools.counts.failed,
      toolServed: tools.counts.served,
    });
    const sorted = [...counts.latencies].sort((a, b) => a - b);
    const p95Ms = sorted[Math.floor(sorted.length * 0.95)] ?? 0;
    // Said before the replays, which take longest: a run stopped during them still shows these.
    say(
      formatReport({
        counts,
        faults,
        council,
        missions: verdicts,
        lost,
        ownerUnacknowledged: ownerSent.unacknowledged,
        replays: [],
        seconds,
        throughput: counts.accepted / seconds,
        p95Ms,
        passed: verdicts.filter((v) => v.problems.length === 0).length,
        failed: verdicts.filter((v) => v.problems.length > 0).length,
      }).replace(/\nchaos: .*$/, '\n[chaos] replaying every run in three processes'),
    );
    const replayed = await replayThrice(historiesDir, say);
    say('\n');
    const expectedRuns = [...runsOf.values()].reduce((a, b) => a + b, 0);
    const replays = replayed.map(({ process, lines }) => {
      const failed: string[] = [];
      const byMission = new Map<string, ReplayLine[]>();
      for (const l of [...lines].sort((a, b) => a.file.localeCompare(b.file)))
        byMission.set(l.workflowId, [...(byMission.get(l.workflowId) ?? []), l]);
      let ok = 0;
      for (const [workflowId, runs] of byMission) {
        const before = failed.length;
        // Each run starts from the HEAD the run before it ended at; the last one ends at the live HEAD.
        let end: string | null = null;
        runs.forEach((l, i) => {
          if (!l.ok) failed.push(`${l.file}: ${l.error}`);
          if (i > 0 && l.startHash !== end)
            failed.push(`${l.file}: starts at ${l.startHash}, the run before ended at ${end}`);
          end = l.lastPostHash ?? l.startHash;
        });
        if (end !== liveHeads.get(workflowId))
          failed.push(`${workflowId}: replay ends at ${end}, live HEAD was ${liveHeads.get(workflowId)}`);
        if (runs.length !== runsOf.get(workflowId))
          failed.push(`${workflowId}: replayed ${runs.length} of ${runsOf.get(workflowId)} runs`);
        if (failed.length === before) ok++;
      }
      if (lines.length !== expectedRuns) failed.push(`replayed ${lines.length} of ${expectedRuns} histories`);
      return { process, ok, runs: lines.length, failed };
    });

    const failedMissions =
      verdicts.filter((v) => v.problems.length > 0).length +
      replays.filter((r) => r.failed.length > 0).length +
      ownerSent.unacknowledged.length;
    return {
      counts,
      faults,
      council,
      missions: verdicts,
      lost,
      ownerUnacknowledged: ownerSent.unacknowledged,
      replays,
      seconds,
      throughput: counts.accepted / seconds,
      p95Ms,
      passed:
        verdicts.filter((v) => v.problems.length === 0).length +
        replays.filter((r) => r.failed.length === 0).length,
      failed: failedMissions,
    };
  } finally {
    await connection?.close();
    await cluster.stop();
    await Promise.all([licence.close(), tools.close()]);
  }
}

/** The run ids of a workflow id, oldest first. */
async function runIds(client: Client, workflowId: string): Promise<string[]> {
  const runs: { runId: string; startTime: Date }[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
    runs.push({ runId: w.runId, startTime: w.startTime });
  return runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime()).map((r) => r.runId);
}

export function formatReport(r: ChaosReport): string {
  const refused = [...r.counts.rejectedByGuard].map(([g, n]) => `${g} ${n}`).join(', ') || 'none';
  const lines = [
    `sent ${r.counts.sent}, accepted ${r.counts.accepted} (duplicates answered ${r.counts.duplicatesAnswered}), stale ${r.counts.stale}, refused by guard: ${refused}, answers lost in transit ${r.counts.unknownAnswers} (retried ${r.counts.retried}), lost = ${r.lost}`,
    `faults: worker SIGKILLs ${r.faults.workerKills}, gateway SIGKILLs ${r.faults.gatewayKills}, Temporal server restarts ${r.faults.serverRestarts}`,
    `faults: licence denials ${r.faults.licenceDenials} (endpoint denied ${r.faults.licenceDenied} requests, granted ${r.faults.licenceGranted}), MCP tool server flaps ${r.faults.toolFlaps} (sessions failed ${r.faults.toolFailed}, served ${r.faults.toolServed}), owner pause-all ${r.faults.ownerPauseAll} / resume-all ${r.faults.ownerResumeAll}`,
    `council: votes ${r.council.votesAccepted}/${r.council.votesSent} accepted, approvals ${r.council.approvalsAccepted}/${r.council.approvalsSent} accepted, beats completed ${r.council.beatsCompleted}, licence graces ${r.council.licenceGraces} (recovered ${r.council.licenceRecoveries})`,
    `${r.seconds.toFixed(0)} s, ${r.throughput.toFixed(1)} accepted/s, p95 of accepted ${r.p95Ms.toFixed(0)} ms`,
  ];
  for (const u of r.ownerUnacknowledged) lines.push(`owner command never acknowledged: ${u}`);
  for (const m of r.missions) {
    lines.push(
      `mission ${m.mission}: ${m.accepted} accepted, ${m.ledgerDecisions} decisions in the ledger${m.problems.length ? `, ${m.problems.length} problem(s)` : ', ok'}`,
    );
    for (const p of m.problems.slice(0, 10)) lines.push(`  - ${p}`);
  }
  for (const rp of r.replays) {
    lines.push(
      `replay process ${rp.process}: ${rp.ok} missions (${rp.runs} runs) replayed to the live HEAD${rp.failed.length ? `, ${rp.failed.length} failed` : ''}`,
    );
    for (const f of rp.failed.slice(0, 10)) lines.push(`  - ${f}`);
  }
  lines.push(`chaos: ${r.passed} passed, ${r.failed} failed`);
  return lines.join('\n');
}
