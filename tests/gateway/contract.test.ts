/**
 * The gateway's contract through the typed client on a real dev server and worker: every
 * endpoint's success and 4xx answers, role denials, pagination, SSE resume and idempotency.
 */
import { randomUUID } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dataPaths } from '../../host/data-dir';
import { generateSigner } from '../../host/keys';
import { FileLedger, readLedger } from '../../ledger';
import type { ProblemBody } from '../../api/client';
import type { Role } from '../../schemas/auth';
import { A2AAnswer, JsonRpcIdValue } from '../../schemas/a2a';
import { missionWorkflowId } from '../../schemas/mission';
import { decisionEntry, deploymentEntry } from '../ledger/support/entries';
import { prompt } from '../lifecycle/support/missions';
import { eventually } from '../support/temporal';
import {
  type GatewayFixture,
  ledgerAtHead,
  ledgerGrowth,
  type OwnedMission,
  startOwnedMission,
  startWithHeldMission,
} from './support/gateway';

let fx: GatewayFixture;
/** A mission paused after its regions are READY: only the tests' proposals move its HEAD. */
let held: OwnedMission;

beforeAll(async () => {
  ({ fx, held } = await startWithHeldMission('gateway-contract'));
}, 180_000);

afterAll(async () => {
  await fx?.stop();
});

function fieldsOf(body: ProblemBody): string[] {
  return (body.errors ?? []).map((e) => e.field);
}

describe('missions', () => {
  test('POST /missions starts a mission that GET /missions/:id reads back; a repeat is 200 with the same run', async () => {
    const body = prompt(randomUUID());
    const first = await fx.as.operator.startMission(body);
    expect(first.status).toBe(201);
    const again = await fx.as.operator.startMission(body);
    expect(again.status).toBe(200);
    if (!first.ok || !again.ok) throw new Error('unreachable');
    expect(again.body).toEqual({ ...first.body, created: false });
    const view = await fx.as.viewer.getMission(body.id);
    expect(view.status).toBe(200);
    if (view.ok) expect(view.body.prompt).toEqual(body);
  });

  test('POST /missions: bad body 400 naming the field, other prompt for the id 409, wrong content type 415', async () => {
    const body = prompt(randomUUID());
    const bad = await fx.as.operator.startMission({ ...body, priority: 'P7' as 'P0' });
    expect(bad.status).toBe(400);
    if (!bad.ok) expect(fieldsOf(bad.body)).toContain('body.priority');
    expect((await fx.as.operator.startMission(body)).status).toBe(201);
    const conflict = await fx.as.operator.startMission({ ...body, objective: 'another objective' });
    expect(conflict.status).toBe(409);
    const text = await fx.as.operator.request('POST', '/missions', {
      body: JSON.stringify(body),
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
  });

  test('GET /missions/:id: 404 unknown, 400 malformed id', async () => {
    expect((await fx.as.viewer.getMission(randomUUID())).status).toBe(404);
    const bad = await fx.as.viewer.getMission('nope');
    expect(bad.status).toBe(400);
    if (!bad.ok) expect(fieldsOf(bad.body)).toEqual(['params.id']);
  });

  test('GET /missions filters by priority and phase and pages with an opaque token', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids)
      expect((await fx.as.operator.startMission(prompt(id, { priority: 'P2' }))).status).toBe(201);
    const seen = await eventually(
      async () => {
        const all: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await fx.as.viewer.listMissions({ priority: 'P2', pageSize: 2, pageToken: token });
          if (!page.ok) throw new Error(`list failed: ${page.status}`);
          expect(page.body.missions.length).toBeLessThanOrEqual(2);
          for (const m of page.body.missions) {
            expect(m.priority).toBe('P2');
            all.push(m.missionId);
          }
          token = page.body.nextPageToken;
          pages++;
        } while (token !== undefined);
        return { all, pages };
      },
      (r) => ids.every((id) => r.all.includes(id)),
      20_000,
    );
    expect(ids.every((id) => seen.all.includes(id))).toBe(true);
    expect(seen.pages).toBeGreaterThanOrEqual(2);
    expect(new Set(seen.all).size).toBe(seen.all.length);

    const paused = await eventually(
      () => fx.as.viewer.listMissions({ phase: 'PAUSED' }),
      (r) => r.ok && r.body.missions.some((m) => m.missionId === held.id),
      20_000,
    );
    if (!paused.ok) throw new Error('list failed');
    expect(paused.body.missions.map((m) => m.phase)).toEqual(paused.body.missions.map(() => 'PAUSED'));
  });

  test('GET /missions refuses a bad filter, a forged page token and a token reused with other filters', async () => {
    const badPhase = await fx.as.viewer.listMissions({ phase: 'SLEEPING' as 'PAUSED' });
    expect(badPhase.status).toBe(400);
    if (!badPhase.ok) expect(fieldsOf(badPhase.body)).toContain('query.phase');
    const forged = await fx.as.viewer.listMissions({ pageToken: 'bm90LWEtdG9rZW4' });
    expect(forged.status).toBe(400);
    if (!forged.ok) expect(fieldsOf(forged.body)).toEqual(['query.pageToken']);
    for (const id of [randomUUID(), randomUUID()])
      await fx.as.operator.startMission(prompt(id, { priority: 'P0' }));
    const first = await eventually(
      () => fx.as.viewer.listMissions({ priority: 'P0', pageSize: 1 }),
      (r) => r.ok && r.body.nextPageToken !== undefined,
    );
    if (!first.ok || first.body.nextPageToken === undefined) throw new Error('no second page');
    const reused = await fx.as.viewer.listMissions({
      priority: 'P1',
      pageSize: 1,
      pageToken: first.body.nextPageToken,
    });
    expect(reused.status).toBe(400);
    if (!reused.ok) expect(reused.body.detail).toContain('other filters');
  });
});

describe('transitions and state', () => {
  test('GET /state projects the named regions with HEAD; unknown region 400; unknown mission 404', async () => {
    const state = await fx.as.viewer.getState(held.id, 'Council,Ingestion');
    expect(state.status).toBe(200);
    if (!state.ok) throw new Error('unreachable');
    expect(Object.keys(state.body.projection).sort()).toEqual(['council', 'ingestion']);
    expect(state.body.hash).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(state.body.phase).toBe('PAUSED');
    const bad = await fx.as.viewer.getState(held.id, 'Council,Weather');
    expect(bad.status).toBe(400);
    if (!bad.ok) expect(fieldsOf(bad.body)).toContain('query.projection');
    expect((await fx.as.viewer.getState(randomUUID())).status).toBe(404);
  });

  test('POST /transition: 202 with post hash and decision id, then 409 stale with the current hash, 400 forged', async () => {
    const head = await held.head();
    const ok = await fx.as.agent.propose(
      held.proposal(head, 'Policy_Update', { policy_version: 'c1', rationale: 'test' }),
    );
    expect(ok.status).toBe(202);
    if (!ok.ok) throw new Error(JSON.stringify(ok.body));
    expect(ok.body.post_hash).toMatch(/^sha256-/);
    expect(ok.body.decision_id).toMatch(new RegExp(`^ucxl://swoosh:${held.id}@policy/Policy_Update/\\d+$`));
    expect(await held.head()).toBe(ok.body.post_hash);

    const stale = await fx.as.agent.propose(
      held.proposal(head, 'Policy_Update', { policy_version: 'c2', rationale: 'x' }),
    );
    expect(stale.status).toBe(409);
    if (stale.ok) throw new Error('unreachable');
    expect(stale.body).toMatchObject({ failing_guard: 'concurrency', current_hash: ok.body.post_hash });

    const forged = held.proposal(ok.body.post_hash, 'Policy_Update', {
      policy_version: 'c3',
      rationale: 'x',
    });
    const tampered = { ...forged, inputs: { policy_version: 'c4', rationale: 'x' } };
    const refused = await fx.as.agent.propose(tampered);
    expect(refused.status).toBe(400);
    if (!refused.ok) expect(refused.body.failing_guard).toBeTruthy();
    expect(await held.head()).toBe(ok.body.post_hash);
  });

  test('POST /transition: malformed proposal 400 naming fields; unknown mission 404; no or another mission named 400', async () => {
    const head = await held.head();
    const good = held.proposal(head, 'Policy_Update', { policy_version: 'm1', rationale: 'x' });
    const bad = await fx.as.agent.propose({ ...good, current_state_hash: 'sha1-abc' });
    expect(bad.status).toBe(400);
    if (!bad.ok) expect(fieldsOf(bad.body)).toContain('body.current_state_hash');
    const unknown = randomUUID();
    const elsewhere = await fx.as.agent.propose({
      ...good,
      idem_key: good.idem_key.replace(held.id, unknown),
    });
    expect(elsewhere.status).toBe(404);
    // Sent to another mission than its idem_key names: the caller's mistake, named.
    const misaddressed = await fx.as.agent.propose(good, unknown);
    expect(misaddressed.status).toBe(400);
    if (!misaddressed.ok) expect(fieldsOf(misaddressed.body)).toEqual(['body.idem_key', 'query.mission']);
    const anonymous = { ...good, idem_key: good.idem_key.replace(held.id, 'not-a-uuid') };
    const unnamed = await fx.as.agent.propose(anonymous);
    expect(unnamed.status).toBe(400);
    if (!unnamed.ok) expect(fieldsOf(unnamed.body)).toEqual(['query.mission']);
    expect(await held.head()).toBe(head);
  });

  test('the same proposal sent 20 times at once yields one transition and 20 answers with its outcome', async () => {
    const ledger = await ledgerGrowth(fx, held.id);
    const head = await held.head();
    const proposal = held.proposal(head, 'Policy_Update', {
      policy_version: 'idem',
      rationale: 'twenty at once',
    });
    const answers = await Promise.all(Array.from({ length: 20 }, () => fx.as.agent.propose(proposal)));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => 202));
    // All 20 share one update and its first answer, which names the request that sent it first:
    // that one is told it applied the proposal, the other 19 that they repeated it.
    const outcomes = answers.map((a) => (a.ok ? `${a.body.post_hash} ${a.body.decision_id}` : a.status));
    expect(new Set(outcomes).size).toBe(1);
    expect(answers.filter((a) => a.ok && !a.body.duplicate)).toHaveLength(1);
    expect(await ledger.added()).toEqual([proposal.idem_key]);
  });

  test('POST /missions/:id/approvals accepts only Execution_Approve proposals', async () => {
    const head = await held.head();
    const wrong = await fx.as.agent.approve(
      held.id,
      held.proposal(head, 'Policy_Update', { policy_version: 'a', rationale: 'x' }),
    );
    expect(wrong.status).toBe(400);
    if (!wrong.ok) expect(fieldsOf(wrong.body)).toContain('body.transition');
    // Approving outside REVIEW is refused by the statechart, and changes nothing.
    const early = await fx.as.agent.approve(held.id, held.proposal(head, 'Execution_Approve', {}));
    expect(early.status).toBe(400);
    if (!early.ok) expect(early.body.failing_guard).toBeTruthy();
    expect(await held.head()).toBe(head);
  });

  test('POST /missions/:id/votes refuses a forged vote with 400 and an unknown mission with 404', async () => {
    const vote = {
      member: 'mallory',
      council_set_hash: `sha256-${'0'.repeat(64)}`,
      signature: 'A'.repeat(86) + '==',
    };
    const refused = await fx.as.agent.vote(held.id, vote);
    expect(refused.status).toBe(400);
    if (!refused.ok) expect(refused.body.detail).toBeTruthy();
    expect((await fx.as.agent.vote(randomUUID(), vote)).status).toBe(404);
  });

  test('POST /missions/:id/control pauses one mission, recorded in its ledger with the caller as actor', async () => {
    const mission = await startOwnedMission(fx.as.operator);
    await eventually(
      () => fx.as.viewer.getMission(mission.id),
      (r) => r.ok && r.body.phase !== 'UNINITIALIZED' && r.body.phase !== 'LICENSE_CHECK',
      60_000,
    );
    expect((await fx.as.operator.control(mission.id, 'pause', 'maintenance')).status).toBe(202);
    const paused = await eventually(
      () => fx.as.viewer.getMission(mission.id),
      (r) => r.ok && r.body.phase === 'PAUSED',
      30_000,
    );
    expect(paused.ok && paused.body.phase).toBe('PAUSED');
    const ledger = await eventually(
      () => fx.as.viewer.ledger(mission.id, { pageSize: 500 }),
      (r) => r.ok && r.body.records.some((x) => x.kind === 'decision' && x.transition === 'Owner_Pause'),
    );
    if (!ledger.ok) throw new Error('no ledger');
    const pause = ledger.body.records.find((x) => x.kind === 'decision' && x.transition === 'Owner_Pause');
    expect(pause?.kind === 'decision' && pause.guards[0]?.reasons).toContain('actor: test-operator');
    expect((await fx.as.operator.control(randomUUID(), 'pause', 'x')).status).toBe(404);
    const bad = await fx.as.operator.request('POST', `/missions/${mission.id}/control`, {
      body: { action: 'explode', reason: 'x' },
    });
    expect(bad.status).toBe(400);
  });
  test('a proposal without the evidence the policy requires is refused before the mission sees it', async () => {
    const head = await held.head();
    const review = held.proposal(head, 'Execution_Review', {});
    const refused = await fx.as.agent.propose(review);
    expect(refused.status).toBe(400);
    if (refused.ok) throw new Error('unreachable');
    expect(refused.body).toMatchObject({
      failing_guard: 'policy-scan',
      reasons: [
        'SHHH-EVIDENCE-RESULTS: Execution_Review must cite evidence starting with bubble://evidence/sha256-',
      ],
    });
    expect(await held.head()).toBe(head);
    const updates = (
      await fx.env.client.workflow.getHandle(missionWorkflowId(held.id)).fetchHistory()
    ).events!.map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId);
    expect(updates).not.toContain(review.idem_key);
  });
});

describe('ledger and events', () => {
  test('GET /missions/:id/ledger pages decision records in order with an opaque token', async () => {
    const all = await ledgerAtHead(fx, held.id);
    expect(all.records.length).toBeGreaterThan(3);
    expect(all.records.every((r) => r.kind === 'decision')).toBe(true);
    const paged: number[] = [];
    let token: string | undefined;
    do {
      const page = await fx.as.viewer.ledger(held.id, { pageSize: 2, pageToken: token });
      if (!page.ok) throw new Error('page failed');
      expect(page.body.records.length).toBeLessThanOrEqual(2);
      paged.push(...page.body.records.map((r) => r.index));
      token = page.body.nextPageToken;
    } while (token);
    expect(paged).toEqual(all.records.map((r) => r.index));
    expect((await fx.as.viewer.ledger(held.id, { pageToken: 'garbage' })).status).toBe(400);
    // A page token names a record and where it starts; one pointing anywhere else is refused.
    const first = await fx.as.viewer.ledger(held.id, { pageSize: 1 });
    if (!first.ok || !first.body.nextPageToken) throw new Error('no second page');
    const [index, offset] = Buffer.from(first.body.nextPageToken, 'base64url').toString().slice(1).split('@');
    for (const moved of [
      `i${index}@${Number(offset) + 1}`,
      `i${Number(index) + 1}@${offset}`,
      `i${index}@99999999`,
    ]) {
      const res = await fx.as.viewer.ledger(held.id, { pageToken: Buffer.from(moved).toString('base64url') });
      expect(res.status, moved).toBe(400);
      if (!res.ok) expect(fieldsOf(res.body)).toEqual(['query.pageToken']);
    }
    expect((await fx.as.viewer.ledger(randomUUID())).status).toBe(404);
    expect((await fx.as.viewer.ledger(held.id, { pageSize: 0 })).status).toBe(400);
  });

  test('paging a long ledger (many read chunks) returns exactly its records, decisions or all', async () => {
    // A ledger written straight to the gateway's data folder: 150 decisions and 150 deployments,
    // about 0.4 MB, so pages start and end across the gateway's 64 KiB reads.
    const mission = randomUUID();
    const signer = generateSigner().signer;
    const ledger = new FileLedger({ dir: dataPaths(fx.dataDir).ledgerDir, signer });
    const ids = { mission, workflow_id: `mission-${mission}` };
    for (let seq = 0; seq < 150; seq++) {
      await ledger.appendDecision(
        decisionEntry(signer.keyId, seq, {
          ...ids,
          evidence: [`ucxl://evidence/${'x'.repeat(1800)}/${seq}`],
        }),
      );
      await ledger.appendAgentDeployment(deploymentEntry(seq, ids));
    }
    const { records } = await readLedger(dataPaths(fx.dataDir).ledgerDir, mission);
    for (const [kind, pageSize] of [
      ['decision', 7],
      ['all', 500],
      ['all', 13],
    ] as const) {
      const seen: number[] = [];
      let token: string | undefined;
      do {
        const page = await fx.as.viewer.ledger(mission, { kind, pageSize, pageToken: token });
        if (!page.ok) throw new Error(`page failed: ${page.status}`);
        seen.push(...page.body.records.map((r) => r.index));
        token = page.body.nextPageToken;
      } while (token);
      const expected = records.filter((r) => kind === 'all' || r.kind === 'decision').map((r) => r.index);
      expect(seen, `${kind} by ${pageSize}`).toEqual(expected);
    }
  });

  test('GET /missions/:id/events streams accepted transitions and resumes after Last-Event-ID', async () => {
    const known = (await ledgerAtHead(fx, held.id)).records;
    const take = async (n: number, lastEventId?: string) => {
      const abort = new AbortController();
      const got: { id?: string; event: string; data: string }[] = [];
      for await (const event of fx.as.viewer.events(held.id, { lastEventId, signal: abort.signal })) {
        got.push(event);
        if (got.length === n) abort.abort();
      }
      return got;
    };
    const first = await take(known.length);
    expect(first.map((e) => Number(e.id))).toEqual(known.map((r) => r.index));
    expect(first.every((e) => e.event === 'transition')).toBe(true);
    expect(JSON.parse(first[0]!.data)).toEqual(known[0]);

    // Resume after the second-to-last known event, then a new transition arrives live.
    const resumeAfter = known.at(-2)!.index;
    const pending = take(2, String(resumeAfter));
    await new Promise((r) => setTimeout(r, 300));
    const applied = await held.apply('Policy_Update', { policy_version: 'sse', rationale: 'live event' });
    const resumed = await pending;
    expect(Number(resumed[0]!.id)).toBe(known.at(-1)!.index);
    const live = JSON.parse(resumed[1]!.data) as { post_state_hash: string; ucxl: string };
    expect(live.post_state_hash).toBe(applied.post_hash);
    expect(live.ucxl).toBe(applied.decision_id);

    const badId = await fx.as.viewer.request('GET', `/missions/${held.id}/events`, {
      headers: { 'last-event-id': 'x1' },
    });
    expect(badId.status).toBe(400);
    expect((await fx.as.viewer.request('GET', `/missions/${randomUUID()}/events`)).status).toBe(404);
  });
});

describe('agent-to-agent JSON-RPC', () => {
  test('swoosh.proposeTransition applies a proposal; a stale one is error -32002 with the current hash', async () => {
    const head = await held.head();
    const proposal = held.proposal(head, 'Policy_Update', { policy_version: 'rpc', rationale: 'a2a' });
    const ok = await fx.as.agent.call('swoosh.proposeTransition', { proposal }, 7);
    expect(ok).toMatchObject({ jsonrpc: '2.0', id: 7, result: { duplicate: false } });
    const post = (ok as { result: { post_hash: string } }).result.post_hash;
    const stale = await fx.as.agent.call('swoosh.proposeTransition', {
      proposal: held.proposal(head, 'Policy_Update', { policy_version: 'rpc2', rationale: 'a2a' }),
    });
    expect(stale).toMatchObject({ id: 1, error: { code: -32002, data: { current_hash: post } } });
  });

  test('swoosh.handOff takes only a signed Execution_Replan with a plan, and the mission judges it like any proposal', async () => {
    const head = await held.head();
    const notReplan = await fx.as.agent.call('swoosh.handOff', {
      proposal: held.proposal(head, 'Policy_Update', { policy_version: 'rpc3', rationale: 'a2a' }),
    });
    expect(notReplan).toMatchObject({
      error: {
        code: -32602,
        data: {
          errors: [
            { field: 'params.proposal.transition', reason: 'a handoff is a signed Execution_Replan' },
            { field: 'params.proposal.inputs.plan' },
          ],
        },
      },
    });
    const lock = {
      content_hash: `sha256-${'1'.repeat(64)}`,
      index_version: 1,
      council_set_hash: `sha256-${'2'.repeat(64)}`,
      environment_hash: `sha256-${'3'.repeat(64)}`,
    };
    const replan = (inputs: Record<string, unknown>) =>
      held.proposal(head, 'Execution_Replan', {
        plan_hash: `sha256-${'4'.repeat(64)}`,
        plan_lock: lock,
        reason: 'hand the index to the reviewer',
        ...inputs,
      });
    const withoutPlan = await fx.as.agent.call('swoosh.handOff', { proposal: replan({}) });
    expect(withoutPlan).toMatchObject({
      error: { code: -32602, data: { errors: [{ field: 'params.proposal.inputs.plan' }] } },
    });
    // Well formed, but signed by a key the mission does not let sign plan changes: refused, as POST /transition would.
    const refused = await fx.as.agent.call('swoosh.handOff', {
      proposal: replan({ plan: { tasks: [{ id: 'review', agent: 'reviewer' }] } }),
    });
    expect(refused).toMatchObject({ error: { code: -32001, data: { failing_guard: 'authorisation' } } });
    expect(await held.head()).toBe(head);
  });

  test('reportLifecycleEvent lands in the ledger and submitEvidence returns the checksum', async () => {
    const event = {
      agentId: 'reviewer-1',
      missionId: held.id,
      lifecycle: 'spawned' as const,
      capabilityProfile: { role: 'reviewer', capabilities: ['read'] },
      energyBudget: { tokens: 1000 },
      timestamp: '2026-11-23T10:00:00.000Z',
      jobId: 'job-1',
    };
    const reported = await fx.as.agent.call('swoosh.reportLifecycleEvent', event);
    expect((reported as { result?: { recordId?: string } }).result?.recordId).toMatch(/^rec-/);
    const ledger = await fx.as.viewer.ledger(held.id, { kind: 'all', pageSize: 500 });
    if (!ledger.ok) throw new Error('no ledger');
    expect(ledger.body.records.some((r) => r.kind === 'agent-lifecycle' && r.agentId === 'reviewer-1')).toBe(
      true,
    );

    const report = {
      kind: 'validation-report' as const,
      reportId: 'report-lint-1',
      missionId: held.id,
      artifactId: `artifact-${'a'.repeat(64)}`,
      reviewer: 'lint',
      result: 'pass' as const,
      coverage: 1,
      findings: [{ id: 'c1', ok: true, detail: 'fine' }],
      createdAt: '2026-11-23T10:00:00.000Z',
    };
    const stored = await fx.as.agent.call('swoosh.submitEvidence', report);
    expect((stored as { result?: { checksum?: string } }).result?.checksum).toMatch(/^sha256-[0-9a-f]{64}$/);
    const unknown = await fx.as.agent.call('swoosh.submitEvidence', { ...report, missionId: randomUUID() });
    expect(unknown).toMatchObject({ error: { code: -32004 } });
  });

  test('JSON-RPC errors: parse -32700, invalid request -32600, unknown method -32601, bad params -32602', async () => {
    const parse = await fx.as.agent.a2a('{"jsonrpc": "2.0", "method"');
    expect(parse.replies).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    const invalid = await fx.as.agent.a2a({ jsonrpc: '1.0', method: 'x', id: 3 });
    expect(invalid.replies).toMatchObject({ id: 3, error: { code: -32600 } });
    const missing = await fx.as.agent.a2a({ jsonrpc: '2.0', method: 'swoosh.launchRockets', id: 'a' });
    expect(missing.replies).toMatchObject({ id: 'a', error: { code: -32601 } });
    const params = await fx.as.agent.a2a({
      jsonrpc: '2.0',
      method: 'swoosh.submitEvidence',
      params: { kind: 'artifact' },
      id: 4,
    });
    expect(params.replies).toMatchObject({ id: 4, error: { code: -32602 } });
    const fields = (
      params.replies as { error: { data: { errors: { field: string }[] } } }
    ).error.data.errors.map((e) => e.field);
    expect(fields).toContain('params.checksum');
    // An event in the field names of before the seed contracts: refused, naming each field.
    const renamed = await fx.as.agent.a2a({
      jsonrpc: '2.0',
      method: 'swoosh.reportLifecycleEvent',
      params: {
        event: 'spawned',
        mission: held.id,
        agentId: 'reviewer-1',
        capabilityProfile: { role: 'reviewer', capabilities: ['read'] },
        energyBudget: {},
        at: '2026-11-23T10:00:00.000Z',
      },
      id: 6,
    });
    expect(renamed.replies).toMatchObject({ id: 6, error: { code: -32602 } });
    expect(
      (renamed.replies as { error: { data: { errors: { field: string }[] } } }).error.data.errors
        .map((e) => e.field)
        .sort(),
    ).toEqual([
      'params.at',
      'params.event',
      'params.lifecycle',
      'params.mission',
      'params.missionId',
      'params.timestamp',
    ]);
    const empty = await fx.as.agent.a2a([]);
    expect(empty.replies).toMatchObject({ id: null, error: { code: -32600 } });
    const proto = await fx.as.agent.a2a(
      '{"jsonrpc":"2.0","method":"swoosh.submitEvidence","id":5,"params":{"__proto__":{"x":1}}}',
    );
    expect(proto.replies).toMatchObject({ error: { code: -32600 } });
  });

  test('an id longer than the documented maximum is an invalid request answered with id null, never echoed', async () => {
    const max = JsonRpcIdValue.options[0].maxLength;
    if (max === null) throw new Error('the documented id has no maximum length');
    const tooLong = await fx.as.agent.a2a({
      jsonrpc: '2.0',
      method: 'swoosh.submitEvidence',
      params: {},
      id: 'x'.repeat(max + 1),
    });
    expect(tooLong.status).toBe(200);
    expect(tooLong.replies).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
    const fields = (
      tooLong.replies as { error: { data: { errors: { field: string }[] } } }
    ).error.data.errors.map((e) => e.field);
    expect(fields).toEqual(['request.id']);
    expect(A2AAnswer.safeParse(tooLong.replies).success).toBe(true);
    // The boundary: the longest id the document allows is still a valid request's id, echoed.
    const longest = 'x'.repeat(max);
    const atMax = await fx.as.agent.a2a({
      jsonrpc: '2.0',
      method: 'swoosh.submitEvidence',
      params: {},
      id: longest,
    });
    expect(atMax.replies).toMatchObject({ id: longest, error: { code: -32602 } });
  });

  test('a body declared in a charset other than UTF-8 is 415 naming the content type, on /a2a as on JSON routes', async () => {
    const utf16 = 'application/json; charset=utf-16';
    // /a2a reads its body raw: a notification sent this way was read as UTF-8 and answered 204.
    const notification = JSON.stringify({ jsonrpc: '2.0', method: 'swoosh.nothing' });
    const rpc = await fx.as.agent.request('POST', '/a2a', {
      body: notification,
      headers: { 'content-type': utf16 },
    });
    expect(rpc.status).toBe(415);
    if (!rpc.ok) expect(fieldsOf(rpc.body)).toEqual(['header.content-type']);
    // A JSON route decoded real UTF-16 as declared and ran it; it is refused the same way now.
    const body = prompt(randomUUID());
    const mission = await fetch(new URL('/missions', fx.running.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${fx.tokens.operator}`, 'content-type': utf16 },
      body: Buffer.from(`\ufeff${JSON.stringify(body)}`, 'utf16le'),
    });
    expect(mission.status).toBe(415);
    expect(fieldsOf((await mission.json()) as ProblemBody)).toEqual(['header.content-type']);
    expect((await fx.as.viewer.getMission(body.id)).status).toBe(404);
    // UTF-8 declared, however spelled, is read.
    for (const contentType of ['application/json; charset=UTF-8', 'application/json; charset="utf-8"']) {
      const quiet = await fx.as.agent.request('POST', '/a2a', {
        body: notification,
        headers: { 'content-type': contentType },
      });
      expect(quiet.status, contentType).toBe(204);
    }
  });

  test('a batch answers each request in kind; notifications get nothing; only notifications get 204', async () => {
    const batch = await fx.as.agent.a2a([
      { jsonrpc: '2.0', method: 'swoosh.nothing', id: 1 },
      { jsonrpc: '2.0', method: 'swoosh.nothing' },
      'not a request',
      { jsonrpc: '2.0', method: 'swoosh.submitEvidence', params: {}, id: 2 },
    ]);
    expect(batch.status).toBe(200);
    const replies = batch.replies as { id: unknown; error?: { code: number } }[];
    expect(replies.map((r) => [r.id, r.error?.code])).toEqual([
      [1, -32601],
      [null, -32600],
      [2, -32602],
    ]);
    const quiet = await fx.as.agent.a2a([{ jsonrpc: '2.0', method: 'swoosh.nothing' }]);
    expect(quiet.status).toBe(204);
    expect(quiet.replies).toBeUndefined();
  });
});

describe('operations', () => {
  test('GET /health reports real checks: Temporal reachable, the worker polling, the ledger writable', async () => {
    const health = await eventually(
      () => fx.as.viewer.health(),
      (r) => r.ok && r.body.status === 'ok',
      20_000,
    );
    if (!health.ok) throw new Error('unreachable');
    expect(health.body.checks.temporal.ok).toBe(true);
    expect(health.body.checks.worker.pollers).toBeGreaterThan(0);
    expect(health.body.checks.ledger.ok).toBe(true);
    expect(health.body.lastSnapshotHLC).toMatch(/#\d+$/);
    expect(['agreed', 'lagging']).toContain(health.body.consensus);
    expect(health.body.walLag).not.toBeNull();
    expect(health.body.sampledMissions).toBeGreaterThan(0);
  });

  test('GET /metrics counts requests by route pattern and status, with a latency histogram', async () => {
    await fx.as.viewer.getMission(held.id);
    const res = await fx.as.viewer.fetch('GET', '/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(
      /swoosh_http_requests_total\{method="GET",route="\/missions\/:id",status="200"\} \d+/,
    );
    expect(text).toContain(
      'swoosh_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/missions/:id"}',
    );
    expect(text).not.toContain(held.id);
    // The WAL lag gauge is the value /health reports (the held mission is paused: nothing moves).
    const health = await fx.as.viewer.health();
    const lag = /^swoosh_wal_lag_records (\d+)$/m.exec(text);
    expect(lag).not.toBeNull();
    expect(health.ok && health.body.walLag).toBe(Number(lag?.[1]));
  });

  test('access logs are JSON lines with the caller’s name and never a token', async () => {
    await fx.as.owner.getMission(held.id);
    const line = [...fx.accessLog].reverse().find((l) => l.principal === 'test-owner');
    expect(line).toMatchObject({
      msg: 'request',
      method: 'GET',
      route: '/missions/:id',
      status: 200,
      role: 'owner',
    });
    const all = JSON.stringify(fx.accessLog);
    for (const token of Object.values(fx.tokens)) expect(all).not.toContain(token);
  });

  test('a route without query parameters refuses a query string by name, its own routes and the timer routes alike', async () => {
    const health = await fx.as.viewer.request('GET', '/health', { query: { verbose: '1' } });
    expect(health.status).toBe(400);
    if (!health.ok) expect(fieldsOf(health.body)).toEqual(['query.verbose']);
    const mission = await fx.as.viewer.request('GET', `/missions/${held.id}`, { query: { fields: 'all' } });
    expect(mission.status).toBe(400);
    if (!mission.ok) expect(fieldsOf(mission.body)).toEqual(['query.fields']);
    const timer = await fx.as.viewer.request('GET', '/timers/some-timer', { query: { x: 'y' } });
    expect(timer.status).toBe(400);
    if (!timer.ok) expect(fieldsOf(timer.body)).toEqual(['query.x']);
    // Without the query string the same requests are served.
    expect((await fx.as.viewer.request('GET', `/missions/${held.id}`)).status).toBe(200);
  });
});

describe('timers through the gateway', () => {
  test('create is idempotent per id, readable by viewers, listed, and cancelled by the roles that schedule', async () => {
    const spec = {
      id: `contract-${randomUUID()}`,
      delayMs: 3_600_000,
      action: { type: 'webhook' as const, url: 'http://127.0.0.1:9/hook' },
    };
    const created = await fx.as.agent.createTimer(spec);
    expect(created.status).toBe(201);
    if (created.ok) expect(created.body.timer.state).toBe('Scheduled');
    const again = await fx.as.operator.createTimer(spec);
    expect(again.status).toBe(200);
    if (again.ok) expect(again.body.created).toBe(false);
    const other = await fx.as.operator.createTimer({ ...spec, delayMs: 60_000 });
    expect(other.status).toBe(409);

    const read = await fx.as.viewer.getTimer(spec.id);
    expect(read.ok && read.body.id).toBe(spec.id);
    const listed = await fx.as.viewer.listTimers({ state: 'Scheduled' });
    expect(listed.ok && listed.body.timers.map((t) => t.id)).toContain(spec.id);

    expect((await fx.as.viewer.cancelTimer(spec.id)).status).toBe(403);
    const cancelled = await fx.as.agent.cancelTimer(spec.id);
    expect(cancelled.ok && cancelled.body.state).toBe('Cancelled');
  });

  test('a bad timer is refused naming the field, and nothing is created', async () => {
    const id = `contract-${randomUUID()}`;
    const bad = await fx.as.agent.createTimer({
      id,
      delayMs: 1_000,
      action: { type: 'webhook', url: 'ftp://example.org/hook' },
    });
    expect(bad.status).toBe(400);
    if (!bad.ok) expect(bad.body.errors?.map((e) => e.field)).toContain('body.action.url');
    expect((await fx.as.viewer.getTimer(id)).status).toBe(404);
  });
});

describe('authentication and roles', () => {
  const id = randomUUID();
  /** Every route with a request that gets past validation, and the roles allowed on it. */
  const routes: { method: string; path: string; body?: unknown; allowed: Role[] }[] = [
    { method: 'GET', path: '/missions', allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'GET', path: `/missions/${id}`, allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'POST', path: '/missions', body: { nope: 1 }, allowed: ['owner', 'operator'] },
    { method: 'POST', path: '/transition', body: { nope: 1 }, allowed: ['owner', 'operator', 'agent'] },
    {
      method: 'POST',
      path: `/missions/${id}/votes`,
      body: { nope: 1 },
      allowed: ['owner', 'operator', 'agent'],
    },
    {
      method: 'POST',
      path: `/missions/${id}/approvals`,
      body: { nope: 1 },
      allowed: ['owner', 'operator', 'agent'],
    },
    { method: 'POST', path: `/missions/${id}/control`, body: { nope: 1 }, allowed: ['owner', 'operator'] },
    { method: 'POST', path: '/controls/pause-all', body: { nope: 1 }, allowed: ['owner'] },
    { method: 'POST', path: '/controls/resume-all', body: { nope: 1 }, allowed: ['owner'] },
    { method: 'POST', path: '/controls/reroute', body: { nope: 1 }, allowed: ['owner'] },
    { method: 'POST', path: '/controls/latency-budgets', body: { nope: 1 }, allowed: ['owner'] },
    { method: 'GET', path: '/controls', allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'POST', path: '/a2a', body: { nope: 1 }, allowed: ['owner', 'operator', 'agent'] },
    { method: 'GET', path: `/state?mission=${id}`, allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'GET', path: `/missions/${id}/ledger`, allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'GET', path: '/health', allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'GET', path: '/metrics', allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'GET', path: '/timers', allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'GET', path: '/timers/dead-letters', allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'GET', path: '/timers/no-such-timer', allowed: ['owner', 'operator', 'agent', 'viewer'] },
    { method: 'POST', path: '/timers', body: { nope: 1 }, allowed: ['owner', 'operator', 'agent'] },
    { method: 'DELETE', path: '/timers/no-such-timer', allowed: ['owner', 'operator', 'agent'] },
    { method: 'POST', path: '/timers/no-such-timer/ack', body: {}, allowed: ['owner', 'operator', 'agent'] },
    {
      method: 'POST',
      path: '/timers/no-such-timer/replay',
      body: {},
      allowed: ['owner', 'operator', 'agent'],
    },
  ];

  test.each(routes)(
    '$method $path: 401 without or with a wrong token, 403 for roles not allowed',
    async (route) => {
      const send = (role: Role | 'anonymous', token?: string) =>
        (token === undefined ? fx.as[role] : fx.as.anonymous.as(token)).request(route.method, route.path, {
          body: route.body,
        });
      const anonymous = await send('anonymous');
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
      expect((await send('anonymous', `swt_${'x'.repeat(43)}`)).status).toBe(401);
      for (const role of ['owner', 'operator', 'agent', 'viewer'] as const) {
        const res = await send(role);
        if (route.allowed.includes(role)) expect([200, 202, 400, 404]).toContain(res.status);
        else expect(res.status).toBe(403);
      }
    },
  );

  test('documentation is public: /openapi.json and /docs', async () => {
    const doc = await fx.as.anonymous.request<{ openapi: string }>('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    if (doc.ok) expect(doc.body.openapi).toBe('3.1.0');
    const page = await fx.as.anonymous.fetch('GET', '/docs');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('POST /transition');
  });
});

describe('the OpenAPI document describes what the gateway sent', () => {
  test('every response above has a documented status and a body valid against its documented schema', async () => {
    const doc = await fx.as.anonymous.request<OpenApiDoc>('GET', '/openapi.json');
    if (!doc.ok) throw new Error('no document');
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema({ $id: 'swoosh:openapi', components: doc.body.components });
    const operations = Object.entries(doc.body.paths).flatMap(([template, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        pattern: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
        op,
      })),
    );
    const exchanges = fx.exchanges.filter((e) => e.status !== 401 && e.status !== 403);
    expect(exchanges.length).toBeGreaterThan(100);
    const checked = new Set<string>();
    for (const e of exchanges) {
      const match = operations.find((o) => o.method === e.method && o.pattern.test(e.path));
      if (!match) throw new Error(`undocumented route ${e.method} ${e.path}`);
      const response = match.op.responses[String(e.status)];
      expect(response, `${e.method} ${e.path} answered an undocumented ${e.status}`).toBeDefined();
      const media = response?.content ? Object.entries(response.content)[0] : undefined;
      if (!media || typeof e.body === 'string') continue;
      const validate = ajv.getSchema(
        `swoosh:openapi#/components/schemas/${media[1].schema.$ref.split('/').pop()}`,
      );
      if (!validate) throw new Error(`no schema for ${e.method} ${e.path} ${e.status}`);
      expect(validate(e.body), `${e.method} ${e.path} ${e.status}: ${ajv.errorsText(validate.errors)}`).toBe(
        true,
      );
      expect(e.contentType.split(';')[0]).toBe(media[0]);
      checked.add(`${match.op.operationId} ${e.status}`);
    }
    expect(checked.size).toBeGreaterThan(25);
  });
});

interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        responses: Record<string, { content?: Record<string, { schema: { $ref: string } }> }>;
      }
    >
  >;
  components: Record<string, unknown>;
}
