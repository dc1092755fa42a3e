/**
 * Workers on separate hosts (README.md, "Running on more than one machine"; docs/chaos.md): two
 * worker processes and two gateway processes, each with a data folder of its own, sharing only the
 * Temporal server and one PostgreSQL database (SWOOSH_STORE=postgres). Three missions start on
 * worker 1 alone, then worker 2 joins; signed proposals go through both gateways in turn (REST and
 * A2A, a duplicate copy landing on the other gateway), worker 1 is SIGKILLed half-way and never
 * comes back, and the traffic goes on. The verdict: every mission's later workflow tasks ran on
 * worker 2, every accepted proposal is in its ledger once, no record repeats, both gateways page
 * the same ledger, it verifies against the one orchestrator key, an event stream from each gateway
 * saw every decision, and no host wrote a ledger or evidence file of its own. Webhook timers are
 * created through both gateways, before the kill and after it: each reaches a real target signed
 * by the one orchestrator key under one delivery id, and both gateways read it settled by that
 * delivery (the timer event log is still per host, so its stream is not checked here).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { afterAll, expect, it } from 'vitest';
import { SwooshClient } from '../../api/client';
import { loadSigner } from '../../host/keys';
import { PostgresLedgerReader, verifyLedger } from '../../ledger';
import type { DecisionRecord } from '../../schemas/decision-record';
import { decisionId } from '../../schemas/decision-id';
import { missionWorkflowId } from '../../schemas/mission';
import { TEST_SCHEDULE } from '../lifecycle/support/missions';
import { seededRandom } from '../support/random';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { eventually } from '../support/temporal';
import { startWebhookTarget, type WebhookTarget } from '../timers/support/webhook-target';
import { allDecisions, repeats, startMissions } from './harness';
import { type ChaosCluster, startChaosCluster } from './processes';
import { type FaultRates, newCounts, Proposer } from './traffic';

const { EventType } = proto.temporal.api.enums.v1;

const MISSIONS = 3;
/** Proposals per mission before worker 1 is killed, and as many again after. */
const PER_PHASE = 8;
/** No abandoned requests: every answer is awaited, so the books hold definitive answers. */
const RATES: FaultRates = { duplicate: 0.1, reorder: 0.05, drop: 0, race: 0.05, a2a: 0.3 };

const dataDir = mkdtempSync(join(tmpdir(), 'swoosh-two-hosts-'));
let passed = false;
let cluster: ChaosCluster | undefined;
let postgres: TestPostgres | undefined;
let connection: Connection | undefined;
let target: WebhookTarget | undefined;
const readers: PostgresLedgerReader[] = [];

afterAll(async () => {
  await connection?.close();
  await target?.close();
  await cluster?.stop();
  for (const r of readers) await r.close();
  await postgres?.stop();
  // Kept when the run failed: the processes' logs say why.
  if (passed) rmSync(dataDir, { recursive: true, force: true });
});

/** The record ids one gateway's event stream of one mission delivers, collected as they arrive. */
function watch(api: SwooshClient, mission: string, signal: AbortSignal) {
  const seen = new Set<string>();
  const problems: string[] = [];
  const done = (async () => {
    for await (const e of api.events(mission, { signal })) {
      if (e.event === 'transition') seen.add((JSON.parse(e.data) as { id: string }).id);
      else problems.push(`${e.event} event: ${e.data}`);
    }
    if (!signal.aborted) problems.push('the stream ended before the run did');
  })().catch((error: unknown) => {
    if (!signal.aborted) problems.push(error instanceof Error ? error.message : String(error));
  });
  return { seen, problems, done };
}

it('two workers and two gateways on separate data folders, one worker SIGKILLed: missions go on, ledgers whole', async () => {
  postgres = await startPostgres();
  const store = { SWOOSH_STORE: 'postgres', SWOOSH_DATABASE_URL: postgres.url };
  cluster = await startChaosCluster(dataDir, 2, {
    // The webhook target listens on loopback, which a worker allows only when told to.
    // Each host issues itself a development licence: the licence is not what this test is about.
    workers: { ...store, SWOOSH_OUTBOUND_ALLOW: '127.0.0.1', SWOOSH_DEV_LICENCE: 'true' },
    gateway: store,
    gateways: 2,
    separateHosts: true,
  });
  const [first, second] = cluster.workers as [ChaosCluster['workers'][0], ChaosCluster['workers'][0]];
  const urls = cluster.gatewayUrls;
  const tokens = cluster.tokens;
  let turn = 0;
  /** Each request through the next gateway in turn. */
  const through = (role: keyof typeof tokens) => () =>
    new SwooshClient(urls[turn++ % urls.length]!, tokens[role]);
  const gatewayClients = urls.map((url) => new SwooshClient(url, tokens.operator));
  const orchestrator = await loadSigner(cluster.orchestratorKeyFile!, 'orchestrator');
  target = await startWebhookTarget(orchestrator.keyId);
  const timers: { id: string; via: number }[] = [];
  /** One timer through each gateway, due at once. */
  const createTimers = async (label: string) => {
    for (const [via, api] of gatewayClients.entries()) {
      const id = `two-hosts-${label}-${via + 1}`;
      const res = await api.createTimer({ id, delayMs: 1, action: { type: 'webhook', url: target!.url } });
      if (res.status !== 201)
        throw new Error(`timer ${id} not created: ${res.status} ${JSON.stringify(res.body)}`);
      timers.push({ id, via });
    }
  };

  // Worker 2 joins only once every mission has started on worker 1, so the kill strands work the
  // other worker must take over (sticky workflow tasks, activities in flight).
  await second.stop();
  const missions = await startMissions((i) => gatewayClients[i % gatewayClients.length]!, MISSIONS);
  for (const m of missions) {
    await eventually(
      () => gatewayClients[0]!.getState(m.id, 'Council,Ingestion,Environment').catch(() => undefined),
      (s) => {
        const p = s?.ok ? (s.body.projection as Record<string, { phase?: string }>) : undefined;
        return (
          p?.council?.phase === 'ELECT' && p.ingestion?.phase === 'READY' && p.environment?.phase === 'READY'
        );
      },
      120_000,
    );
  }
  const firstIdentity = `${first.pid}@${hostname()}`;
  await second.start();
  const secondIdentity = `${second.pid}@${hostname()}`;

  const abort = new AbortController();
  const streams = missions.flatMap((m) =>
    gatewayClients.map((api, g) => ({ mission: m.id, gateway: g + 1, ...watch(api, m.id, abort.signal) })),
  );

  const counts = newCounts();
  const proposers = missions.map(
    (m, i) =>
      new Proposer(m.id, m.owner, TEST_SCHEDULE, through('agent'), RATES, seededRandom(2_000 + i), counts),
  );
  await Promise.all(proposers.map((p) => p.refresh()));
  const drive = (upTo: number) =>
    Promise.all(
      proposers.map(async (p) => {
        while (p.sent < upTo && p.ended === undefined) await p.step();
      }),
    );

  await createTimers('before');
  await drive(PER_PHASE);
  const acceptedBeforeKill = proposers.map((p) => p.book.accepted.size);
  await first.kill();
  await createTimers('after');
  await drive(2 * PER_PHASE);
  await Promise.all(proposers.map((p) => p.drain()));
  expect(first.running).toBe(false);

  // The verdict.
  const problems: string[] = [];
  connection = await Connection.connect({ address: cluster.address });
  const temporal = new Client({ connection, namespace: 'default' });
  const ledgerReader = new PostgresLedgerReader({ url: postgres.url });
  readers.push(ledgerReader);
  const summary: string[] = [];
  for (const [i, p] of proposers.entries()) {
    const say = (text: string) => problems.push(`mission ${i + 1} (${p.missionId}): ${text}`);
    if (p.ended !== undefined) say(`left the run: ${p.ended}`);
    for (const c of p.book.contradictions) say(c);
    for (const key of p.book.unresolved) say(`${key}: never got a definitive answer`);
    if (p.book.accepted.size <= acceptedBeforeKill[i]!) say('no proposal accepted after worker 1 was killed');

    // Appends trail the answers (docs/lifecycle.md#the-ledger-append), and one in flight on the
    // killed worker is retried on the other once its attempt times out.
    const decisions = await eventually(
      () => allDecisions(gatewayClients[0]!, p.missionId),
      (all) => {
        const keys = new Set(all.map((d) => d.idem_key));
        return [...p.book.accepted.keys()].every((k) => keys.has(k));
      },
      180_000,
    );
    const byKey = new Map<string, DecisionRecord[]>();
    for (const d of decisions) byKey.set(d.idem_key, [...(byKey.get(d.idem_key) ?? []), d]);
    for (const [key, hash] of p.book.accepted) {
      const found = byKey.get(key) ?? [];
      if (found.length !== 1) say(`${key}: accepted, ${found.length} records in the ledger`);
      else if (found[0]!.post_state_hash !== hash)
        say(`${key}: answered ${hash}, the ledger says ${found[0]!.post_state_hash}`);
    }
    for (const [key, guard] of p.book.refused)
      if (!p.book.accepted.has(key) && byKey.has(key)) say(`${key}: refused (${guard}) yet in the ledger`);
    for (const key of repeats(decisions.map((d) => d.idem_key))) say(`idem_key ${key} repeats`);
    for (const id of repeats(decisions.map((d) => d.id))) say(`record id ${id} repeats`);
    for (const id of repeats(decisions.map((d) => decisionId(d)))) say(`UCXL id ${id} repeats`);
    for (const seq of repeats(decisions.map((d) => String(d.seq)))) say(`seq ${seq} repeats`);

    // The other gateway pages the same ledger from the same database.
    const other = await allDecisions(gatewayClients[1]!, p.missionId);
    const ids = decisions.map((d) => d.id);
    if (JSON.stringify(other.slice(0, ids.length).map((d) => d.id)) !== JSON.stringify(ids))
      say('gateway 2 pages a different ledger from gateway 1');

    const verification = await verifyLedger(ledgerReader, p.missionId, [orchestrator.keyId]);
    if (!verification.ok)
      say(
        `ledger does not verify: ${JSON.stringify(verification.firstBad)} ${verification.notes.join('; ')}`,
      );

    // Worker 1 ran the mission first; after the kill, only worker 2 can have completed its tasks.
    const history = await temporal.workflow.getHandle(missionWorkflowId(p.missionId)).fetchHistory();
    const completedBy = (history.events ?? [])
      .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
      .map((e) => e.workflowTaskCompletedEventAttributes?.identity ?? '');
    if (!completedBy.includes(firstIdentity))
      say(`no workflow task completed by worker 1 (${firstIdentity})`);
    if (completedBy.at(-1) !== secondIdentity)
      say(`last workflow task completed by ${completedBy.at(-1)}, not worker 2 (${secondIdentity})`);

    for (const s of streams.filter((x) => x.mission === p.missionId)) {
      await eventually(
        () => Promise.resolve(s.seen),
        (seen) => ids.every((id) => seen.has(id)),
        60_000,
      );
      const missed = ids.filter((id) => !s.seen.has(id));
      if (missed.length > 0) say(`gateway ${s.gateway}'s event stream missed ${missed.length} decisions`);
      for (const x of s.problems) say(`gateway ${s.gateway}'s event stream: ${x}`);
    }
    summary.push(
      `mission ${i + 1}: ${p.book.accepted.size} accepted (${acceptedBeforeKill[i]} before the kill), ${decisions.length} decisions, ${verification.verified} records verified`,
    );
  }
  abort.abort();
  await Promise.all(streams.map((s) => s.done));

  // Each timer reached the target, signed by the one key, under one delivery id, and both
  // gateways read it settled by that delivery (a webhook without escalation settles on delivery).
  for (const t of timers) {
    const say = (text: string) => problems.push(`timer ${t.id}: ${text}`);
    const other = gatewayClients[(t.via + 1) % gatewayClients.length]!;
    const ended = await eventually(
      () => other.getTimer(t.id),
      (res) => res.ok && ['Settled', 'Cancelled', 'DeadLettered'].includes(res.body.state),
      120_000,
    );
    const deliveries = target.delivered().filter((d) => d.timerId === t.id);
    if (deliveries.length === 0) say('no delivery reached the target');
    if (deliveries.some((d) => !d.verified)) say('a delivery whose signature does not verify');
    const deliveryIds = [...new Set(deliveries.map((d) => d.deliveryId))];
    if (deliveryIds.length > 1) say(`${deliveryIds.length} delivery ids`);
    const reads = [
      { gateway: t.via + 1, res: await gatewayClients[t.via]!.getTimer(t.id) },
      { gateway: ((t.via + 1) % gatewayClients.length) + 1, res: ended },
    ];
    for (const { gateway, res } of reads) {
      if (!res.ok || res.body.state !== 'Settled' || res.body.settledBy !== 'delivery')
        say(`gateway ${gateway} reads ${res.status} ${JSON.stringify(res.body)}`);
      else if (res.body.deliveryId !== deliveryIds[0])
        say(
          `gateway ${gateway} reads delivery ${res.body.deliveryId}, the target got ${deliveryIds.join(', ')}`,
        );
    }
  }

  // Nothing went to a host's own folder: the ledger and evidence live in the database only.
  for (const [name, dir] of cluster.dataDirs)
    for (const sub of ['ledger', 'evidence'])
      if (existsSync(join(dir, sub))) problems.push(`${name} wrote ${join(dir, sub)}`);

  const refused = [...counts.rejectedByGuard.values()].reduce((a, b) => a + b, 0) + counts.stale;
  console.log(
    [
      `[two hosts] sent ${counts.sent}, accepted ${counts.accepted} (duplicates answered ${counts.duplicatesAnswered}), refused ${refused}, retried ${counts.retried}; ${timers.length} timers, ${target.requests.length} webhook requests`,
      ...summary,
    ].join('\n'),
  );
  expect(problems).toEqual([]);
  passed = true;
}, 900_000);
