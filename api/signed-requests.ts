/**
 * Signed requests for people and programs: `propose`, `approve` and `vote` read what they must sign
 * from the gateway (HEAD, the last applied HLC, the beat, the window, the elected council), build the
 * proposal or vote, sign it locally with the caller's ed25519 key and post it. A proposal made
 * against a HEAD that moved before it landed (409) is rebuilt against the new HEAD and sent again,
 * a bounded number of times; so is one that named a window that has since turned over. A window
 * guard refusal says when the window opens, and with `wait` the helper sleeps until then and tries
 * again (and waits, too, for a mission still on its way to the phase that enables the transition). The key never leaves the caller: only the signature is sent.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { TransitionAccepted } from '../schemas/api';
import { hashCanonical } from '../schemas/hash';
import { formatHlc, type Hlc, hlcSend, tryParseHlc, utcDate } from '../schemas/hlc';
import {
  type TransitionProposal,
  type UnsignedTransitionProposal,
  Sha256Schema,
  SignerKeySchema,
} from '../schemas/proposal';
import { proposalSigningBytes, voteSigningBytes } from '../schemas/signed-bytes';
import { TRANSITIONS, type TransitionName } from '../schemas/statechart';
import type { ApiResponse, ProblemBody, SwooshClient } from './client';

/** Anything that signs with an ed25519 key: `host/keys.ts` signers, or a key held elsewhere. */
export interface RequestSigner {
  /** `ed25519:<base64 public key>` */
  readonly keyId: string;
  /** Base64 detached signature over `message`. */
  sign(message: Uint8Array): string;
}

export interface SignedRequestOptions {
  /** Attempts after the first when HEAD moved or the window turned over (default 5). */
  retries?: number;
  /** Sign the first attempt against this HEAD (the one a person reviewed) instead of reading it. */
  head?: string;
  /**
   * Instead of returning the refusal, sleep until a closed window opens (or, while the mission's
   * phase does not enable the transition yet, look again every 2 s) and try again.
   */
  wait?: boolean;
  /** Give up waiting after this long (default 15 minutes). */
  maxWaitMs?: number;
  /** Evidence URIs the proposal cites. */
  evidence?: string[];
  /** Told about each retry and wait, e.g. to print it. */
  onProgress?: (message: string) => void;
  /** Stops a wait early. */
  signal?: AbortSignal;
}

/** How a signed request ended. `attempts` counts the requests sent. */
export type SignedOutcome<T> =
  | {
      kind: 'accepted';
      status: number;
      body: T;
      attempts: number;
      /** Why it took more than one request, when it did. */
      retriedBecause?: string[];
    }
  /** A guard refused it (`failingGuard`); `opensAt` (ISO-8601) when the refusal was a closed window. */
  | {
      kind: 'refused';
      failingGuard: string;
      reasons: string[];
      opensAt?: string;
      attempts: number;
    }
  /** HEAD kept moving: every attempt was stale. */
  | { kind: 'stale'; status: 409; reasons: string[]; attempts: number }
  /** Anything else the gateway answered: 401, 403, 404, 504… */
  | { kind: 'failed'; status: number; problem: ProblemBody; attempts: number };

const DEFAULT_RETRIES = 5;
const DEFAULT_MAX_WAIT_MS = 15 * 60_000;
/** Past a window's opening instant, so a clock a little behind the orchestrator's lands inside it. */
const WINDOW_MARGIN_MS = 100;
/** How often `wait` looks again at a mission whose phase does not enable the transition yet. */
const NOT_ENABLED_POLL_MS = 2_000;
/** How long a just-started mission may take to set up its state: 20 reads, 0.5 s apart. */
const STATE_READS = 20;
const STATE_READ_INTERVAL_MS = 500;

/**
 * What a proposal needs from `GET /missions/:id`. Parsed, not trusted: only these fields, so a
 * gateway that adds regions does not break the client.
 */
const SigningView = z.object({
  hash: Sha256Schema,
  state: z.object({
    hlc_last: z.string().nullable(),
    execution: z.object({ beat: z.int().nonnegative(), window_id: z.string().nullable() }),
    council: z.object({
      phase: z.string(),
      members: z.array(z.object({ id: z.string(), key: z.string() })),
      council_set_hash: Sha256Schema.nullable(),
    }),
  }),
});
type SigningView = z.infer<typeof SigningView>;

/** Thrown when the gateway answers a read with something that is not a mission with a statechart. */
export class UnexpectedAnswerError extends Error {}

const WINDOW_MISMATCH = /window_id \S+ is not the current window (\S+)/;
const OPENS_AT = /opens at (\S+?)(?:;|$)/;

/**
 * Signs `transition` with `inputs` for `mission` and posts it (`POST /transition`), re-reading HEAD
 * and signing again on a 409.
 */
export function propose(
  client: SwooshClient,
  mission: string,
  signer: RequestSigner,
  transition: TransitionName,
  inputs: Record<string, unknown>,
  options: SignedRequestOptions = {},
): Promise<SignedOutcome<TransitionAccepted>> {
  return proposalLoop(client, mission, signer, transition, inputs, options, (p) =>
    client.propose(p, mission),
  );
}

/** Approves (or rejects) the current beat's evidence: a signed Execution_Approve. */
export function approve(
  client: SwooshClient,
  mission: string,
  signer: RequestSigner,
  options: SignedRequestOptions & { decision?: 'approve' | 'reject' } = {},
): Promise<SignedOutcome<TransitionAccepted>> {
  const inputs = { decision: options.decision ?? 'approve' };
  return proposalLoop(client, mission, signer, 'Execution_Approve', inputs, options, (p) =>
    client.approve(mission, p),
  );
}

/**
 * Votes, as the council member whose key `signer` holds, for the member set the mission elected.
 * Refused (`failingGuard: 'council'`) while no set is elected, or when the key is not a member's;
 * with `wait`, waits for the election instead.
 */
export async function vote(
  client: SwooshClient,
  mission: string,
  signer: RequestSigner,
  options: SignedRequestOptions = {},
): Promise<SignedOutcome<{ accepted: number; required: number }>> {
  const deadline = Date.now() + (options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
  for (;;) {
    const view = await readSigningView(client, mission, options.signal);
    if (!view.ok) return { kind: 'failed', status: view.status, problem: view.body, attempts: 0 };
    const { council } = view.body.state;
    const member = council.members.find((m) => m.key === signer.keyId);
    if (!member) {
      return refusedBeforeSending('council', [
        `${signer.keyId} is not a member of the mission's council (${council.members.map((m) => m.id).join(', ') || 'none'})`,
      ]);
    }
    const setHash = council.council_set_hash;
    if (setHash === null || council.phase !== 'ELECT') {
      const why = `the council is ${council.phase}, not electing: there is nothing to vote on`;
      if (!options.wait || Date.now() >= deadline) return refusedBeforeSending('council', [why]);
      options.onProgress?.(`${why}; waiting`);
      await sleep(1_000, options.signal);
      continue;
    }
    const signature = signer.sign(
      voteSigningBytes({ member: member.id, council_set_hash: setHash }, mission),
    );
    const res = await client.vote(mission, { member: member.id, council_set_hash: setHash, signature });
    if (res.ok) return { kind: 'accepted', status: res.status, body: res.body, attempts: 1 };
    if (res.status === 400 && res.body.title === 'Vote rejected')
      return { kind: 'refused', failingGuard: 'vote', reasons: [res.body.detail], attempts: 1 };
    return { kind: 'failed', status: res.status, problem: res.body, attempts: 1 };
  }
}

async function proposalLoop(
  client: SwooshClient,
  mission: string,
  signer: RequestSigner,
  transition: TransitionName,
  inputs: Record<string, unknown>,
  options: SignedRequestOptions,
  post: (proposal: TransitionProposal) => Promise<ApiResponse<TransitionAccepted>>,
): Promise<SignedOutcome<TransitionAccepted>> {
  const retries = options.retries ?? DEFAULT_RETRIES;
  const deadline = Date.now() + (options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
  let last: Hlc = { wall: 0, counter: 0 };
  let head = options.head;
  let windowId: string | undefined;
  let attempts = 0;
  let retried = 0;
  const because = new Set<string>();
  for (;;) {
    const view = await readSigningView(client, mission, options.signal);
    if (!view.ok) return { kind: 'failed', status: view.status, problem: view.body, attempts };
    const mine = head ?? view.body.hash;
    head = undefined;
    // After the last applied HLC and after our own previous attempt, so no retry sorts before either.
    const applied = tryParseHlc(view.body.state.hlc_last ?? '');
    if (
      applied !== null &&
      (applied.wall > last.wall || (applied.wall === last.wall && applied.counter > last.counter))
    )
      last = applied;
    last = hlcSend(last, Date.now());
    const proposal = sign(
      {
        current_state_hash: mine,
        transition,
        inputs_hash: hashCanonical(inputs),
        signer: SignerKeySchema.parse(signer.keyId),
        idem_key: `${mission}:${view.body.state.execution.beat}:${TRANSITIONS[transition].class}:${randomUUID()}`,
        hlc: formatHlc(last),
        // The window the beat is in, unless the mission told us the current one; only time-gated
        // transitions check it, and a mismatch names the current window, which the retry adopts.
        window_id: windowId ?? view.body.state.execution.window_id ?? `backbeat:W-${utcDate(Date.now())}-00`,
        evidence: options.evidence ?? [],
        inputs,
      },
      signer,
    );
    attempts++;
    const res = await post(proposal);
    if (res.ok)
      return {
        kind: 'accepted',
        status: res.status,
        body: res.body,
        attempts,
        ...(because.size > 0 && { retriedBecause: [...because] }),
      };
    const { failing_guard: guard, reasons = [res.body.detail] } = res.body;
    if (res.status === 409 && guard !== undefined) {
      if (retried++ >= retries) return { kind: 'stale', status: 409, reasons, attempts };
      options.onProgress?.(`HEAD moved (${mine.slice(0, 15)}… is stale): re-reading and signing again`);
      because.add('HEAD moved');
      // HEAD has not moved yet, but another accepted proposal is moving it: give it a moment.
      if ((res.body as { current_hash?: unknown }).current_hash === mine)
        await sleep(100 * retried, options.signal);
      continue;
    }
    if (res.status !== 400 || guard === undefined)
      return { kind: 'failed', status: res.status, problem: res.body, attempts };
    const current = reasons.map((r) => WINDOW_MISMATCH.exec(r)?.[1]).find(Boolean);
    const opensAt = reasons.map((r) => OPENS_AT.exec(r)?.[1]).find(Boolean);
    // Not enabled yet (a beat still on its way to REVIEW): with `wait`, look again shortly.
    if (guard === 'statechart' && options.wait && Date.now() + NOT_ENABLED_POLL_MS <= deadline) {
      options.onProgress?.(`not yet: ${reasons.join('; ')}; waiting`);
      because.add('waited for the transition to be enabled');
      await sleep(NOT_ENABLED_POLL_MS, options.signal);
      // `retries` bounds HEAD moving under one attempt, not over a long wait.
      retried = 0;
      continue;
    }
    if (guard === 'window' && opensAt !== undefined) {
      const wakeAt = Date.parse(opensAt) + WINDOW_MARGIN_MS;
      if (options.wait && wakeAt <= deadline) {
        options.onProgress?.(`window closed: waiting until it opens at ${opensAt}`);
        because.add('waited for the window to open');
        await sleep(Math.max(0, wakeAt - Date.now()), options.signal);
        windowId = undefined;
        retried = 0;
        continue;
      }
      return { kind: 'refused', failingGuard: guard, reasons, opensAt, attempts };
    }
    if (guard === 'window' && current !== undefined && current !== windowId && retried++ < retries) {
      options.onProgress?.(`signed for another window: signing again for ${current}`);
      because.add('the window turned over');
      windowId = current;
      continue;
    }
    return { kind: 'refused', failingGuard: guard, reasons, attempts };
  }
}

function sign(unsigned: UnsignedTransitionProposal, signer: RequestSigner): TransitionProposal {
  return { ...unsigned, signature: signer.sign(proposalSigningBytes(unsigned)) };
}

async function readSigningView(
  client: SwooshClient,
  mission: string,
  signal?: AbortSignal,
): Promise<{ ok: true; body: SigningView } | { ok: false; status: number; body: ProblemBody }> {
  // A mission answers before its first workflow task has set up its state; give it a moment.
  for (let attempt = 1; ; attempt++) {
    const res = await client.getMission(mission);
    if (!res.ok) return res;
    const parsed = SigningView.safeParse(res.body);
    if (parsed.success) return { ok: true, body: parsed.data };
    if (res.body.hash === undefined && attempt < STATE_READS) {
      await sleep(STATE_READ_INTERVAL_MS, signal);
      continue;
    }
    const fields = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new UnexpectedAnswerError(`mission ${mission} has no statechart state to sign against (${fields})`);
  }
}

function refusedBeforeSending(failingGuard: string, reasons: string[]): SignedOutcome<never> {
  return { kind: 'refused', failingGuard, reasons, attempts: 0 };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}
