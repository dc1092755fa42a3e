/**
 * The chaos run's outside faults beside the crashes (docs/chaos.md#what-a-run-does): a licence
 * endpoint that denies for a while, an MCP tool server that flaps, owner pause-all/resume-all in
 * the middle, and beat missions whose council members vote and whose approvers approve through the
 * gateway. Each keeps its own counts for the verdict.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { coSign, draftOwnerCommand, sendOwnerCommand } from '../../api/owner-commands';
import type { SwooshClient } from '../../api/client';
import { dataPaths } from '../../host/data-dir';
import { initDevLicence } from '../../host/licence/setup';
import { signDetached, type WindowSchedule } from '../../workflows/statechart';
import { startHttpServer, type TestServer } from '../activities/support/http-server';
import { type McpTestServer, startMcpServer } from '../activities/support/mcp-server';
import { proposalSigner, type TestSigner, vote } from '../lifecycle/support/missions';
import type { Proposer } from './traffic';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The licence endpoint the workers fetch from (SWOOSH_LICENCE_ENDPOINT): it grants or denies. */
export interface LicenceEndpoint {
  url: string;
  issuerKey: string;
  /** Denies every request (HTTP 403) until `grant`. */
  deny(): void;
  grant(): void;
  counts: { granted: number; denied: number; denials: number };
  close(): Promise<void>;
}

/** Issues the run's development licence in `dataDir` and serves it until told to deny. */
export async function startLicenceEndpoint(dataDir: string): Promise<LicenceEndpoint> {
  const { issuerKeyId } = await initDevLicence(dataDir);
  const token = readFileSync(dataPaths(dataDir).licenceToken, 'utf8').trim();
  let denying = false;
  const counts = { granted: 0, denied: 0, denials: 0 };
  const server: TestServer = await startHttpServer((_req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('content-type', 'application/json');
    if (denying) {
      counts.denied++;
      res.writeHead(403).end(JSON.stringify({}));
    } else {
      counts.granted++;
      res.writeHead(200).end(JSON.stringify({ licence: token }));
    }
  });
  return {
    url: server.url,
    issuerKey: issuerKeyId,
    deny() {
      if (!denying) counts.denials++;
      denying = true;
    },
    grant() {
      denying = false;
    },
    counts,
    close: () => server.close(),
  };
}

/** The settings that make workers fetch the licence from `endpoint` and notice a denial quickly. */
export function licenceEnv(endpoint: LicenceEndpoint, graceMs: number): NodeJS.ProcessEnv {
  return {
    SWOOSH_LICENCE_ENDPOINT: endpoint.url,
    SWOOSH_LICENCE_ISSUER_KEY: endpoint.issuerKey,
    SWOOSH_LICENCE_GRACE_MS: String(graceMs),
    SWOOSH_LICENCE_REFRESH_MS: '1000',
    SWOOSH_LICENCE_RETRY_MS: '1000',
    SWOOSH_LICENCE_TIMEOUT_MS: '2000',
  };
}

/** An MCP tool server (SWOOSH_TOOL_SERVERS) that the run takes down and brings back. */
export interface FlappingToolServer {
  config: { name: string; url: string; pinnedVersion: string };
  down(): void;
  up(): void;
  counts: { flaps: number; served: number; failed: number };
  close(): Promise<void>;
}

export async function startFlappingToolServer(): Promise<FlappingToolServer> {
  let isUp = true;
  const counts = { flaps: 0, served: 0, failed: 0 };
  const server: McpTestServer = await startMcpServer({
    name: 'chaos-tools',
    version: '1.0.0',
    fate: () => {
      if (isUp) counts.served++;
      else counts.failed++;
      return isUp ? 'serve' : 'fail';
    },
  });
  return {
    config: { name: 'chaos-tools', url: server.url, pinnedVersion: '1.0.0' },
    down() {
      if (isUp) counts.flaps++;
      isUp = false;
    },
    up() {
      isUp = true;
    },
    counts,
    close: () => server.close(),
  };
}

/** How long an owner command is resent on 5xx or no answer before the run books it unacknowledged. */
const OWNER_COMMAND_PATIENCE_MS = 5 * 60_000;

/** Owner pause-all and resume-all, each a command signed by the run's owner key. */
export interface OwnerCommandsSent {
  pauses: string[];
  resumes: string[];
  /** Missions the gateway said it signalled, per command. */
  signalled: number;
  /** Commands the gateway never acknowledged, with its last answer: the report shows them. */
  unacknowledged: string[];
}

/**
 * Sends one signed owner command through the gateway until it is answered 202, and says whether
 * it was. A 4xx will not change on a retry, and a 5xx that lasts five minutes is not the restart
 * of a process: either is booked in `sent.unacknowledged`. Retries back off (1 s doubling to 30 s)
 * as an operator's client would: each resend signals every mission again, one more workflow task
 * each, which is what kept struggling missions behind when it was resent every second.
 */
export async function sendOwnerBroadcast(
  client: () => SwooshClient,
  owner: TestSigner,
  actor: string,
  action: 'pause' | 'resume',
  sent: OwnerCommandsSent,
): Promise<boolean> {
  const draft = draftOwnerCommand({ action }, { actor, reason: `chaos ${action}-all` });
  const request = coSign(draft, {
    keyId: owner.key,
    sign: (message) => signDetached(message, owner.secret),
  });
  (action === 'pause' ? sent.pauses : sent.resumes).push(request.command.id);
  let last = 'no answer';
  const giveUpAt = Date.now() + OWNER_COMMAND_PATIENCE_MS;
  for (let attempt = 0; Date.now() < giveUpAt; attempt++) {
    try {
      const res = await sendOwnerCommand(client(), request);
      if (res.status === 202) {
        sent.signalled += (res.body as { signalled?: unknown[] }).signalled?.length ?? 0;
        return true;
      }
      last = `HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
      if (res.status < 500) break;
    } catch (error) {
      // The gateway is down or restarting: the same signed command is a safe retry.
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(Math.min(30_000, 1_000 * 2 ** attempt));
  }
  sent.unacknowledged.push(`${action}-all ${request.command.id}: ${last}`);
  return false;
}

export interface CouncilCounts {
  votesSent: number;
  votesAccepted: number;
  approvalsSent: number;
  approvalsAccepted: number;
}

export function newCouncilCounts(): CouncilCounts {
  return { votesSent: 0, votesAccepted: 0, approvalsSent: 0, approvalsAccepted: 0 };
}

/** A mission that runs beats: council members who vote, approvers who approve each beat. */
export interface BeatMission {
  id: string;
  members: { id: string; signer: TestSigner }[];
  approvers: TestSigner[];
}

interface Projection {
  council?: { phase?: string; council_set_hash?: string | null };
  execution?: { phase?: string; beat?: number; approvals?: { approver: string }[] };
}

/**
 * Drives one beat mission until `done()`: each member votes (through the gateway) whenever the
 * council elects a set it has not voted for, and each approver signs an Execution_Approve when a
 * beat is in REVIEW. Approvals go through `proposer`, so they are booked and checked like every
 * other proposal.
 */
export async function driveBeatMission(
  m: BeatMission,
  client: () => SwooshClient,
  proposer: Proposer,
  schedule: WindowSchedule,
  counts: CouncilCounts,
  done: () => boolean,
): Promise<void> {
  const voted = new Set<string>();
  const approved = new Set<string>();
  const signers = m.approvers.map((a) => ({ key: a.key, sign: proposalSigner(m.id, a, schedule) }));
  while (!done()) {
    await sleep(400);
    let state: { hash: string; projection: Projection } | undefined;
    try {
      const res = await client().getState(m.id, 'Council,Execution');
      if (res.ok) state = { hash: res.body.hash, projection: res.body.projection };
    } catch {
      // The gateway is down: look again.
    }
    if (!state) continue;
    const { council, execution } = state.projection;
    const setHash = council?.council_set_hash;
    if (council?.phase === 'ELECT' && setHash) {
      for (const member of m.members) {
        const key = `${setHash}:${member.id}`;
        if (voted.has(key)) continue;
        counts.votesSent++;
        try {
          const res = await client().vote(m.id, vote(member.id, setHash, m.id, member.signer));
          if (res.status === 202) {
            counts.votesAccepted++;
            voted.add(key);
          } else if (res.status < 500) voted.add(key);
        } catch {
          // Sent again on the next look.
        }
      }
    }
    if (execution?.phase === 'REVIEW') {
      for (const a of signers) {
        const key = `${execution.beat ?? 0}:${a.key}`;
        if (approved.has(key) || execution.approvals?.some((x) => x.approver === a.key)) continue;
        const p = a.sign(state.hash, 'Execution_Approve', { decision: 'approve' });
        counts.approvalsSent++;
        const answer = await proposer.settle(p, await proposer.send(p));
        if (answer.kind === 'accepted') {
          counts.approvalsAccepted++;
          approved.add(key);
        }
        if (answer.kind === 'rejected' && answer.guard === 'hlc') a.sign.catchUp();
        // A stale HEAD or a closed window: the next look signs again on the new HEAD.
        break;
      }
    }
  }
}
