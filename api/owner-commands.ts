/**
 * Signing broadcast owner commands from a program (the CLI, a script, a test): draft the command,
 * have each owner sign the same draft with their own key (`coSign`, anywhere: the draft is plain
 * JSON an owner can pass to another), then send it once the quorum of signatures is on it. The
 * signed bytes are `ownerCommandSigningBytes({ command, mission_id: null, issued_at_ms })`;
 * `command.actor` must be the sender's own name (the gateway refuses any other).
 */
import { randomUUID } from 'node:crypto';
import type { OwnerBatchResult } from '../schemas/api';
import type {
  ControlsView,
  LatencyBudgets,
  OwnerCommandRequest,
  OwnerControlAction,
} from '../schemas/owner-controls';
import { ownerCommandSigningBytes } from '../schemas/signed-bytes';
import type { ApiResponse, SwooshClient } from './client';

/** What each action takes beside `id`, `actor` and `reason`. */
export type OwnerCommandDraft =
  | { action: 'pause' | 'resume' }
  | { action: 'reroute'; taskQueue: string | null }
  | { action: 'latency'; budgets: Partial<LatencyBudgets> };

/** An ed25519 signer: `sign` answers a base64 detached signature (host/keys `Signer`, or tweetnacl). */
export interface OwnerSigner {
  readonly keyId: string;
  sign(message: Uint8Array): string;
}

const PATHS: Record<OwnerControlAction, string> = {
  pause: '/controls/pause-all',
  resume: '/controls/resume-all',
  reroute: '/controls/reroute',
  latency: '/controls/latency-budgets',
};

/** A new broadcast command with no signatures yet; `id` defaults to a fresh one. */
export function draftOwnerCommand(
  draft: OwnerCommandDraft,
  by: { actor: string; reason: string; id?: string; issuedAtMs?: number },
): OwnerCommandRequest {
  const command = { ...draft, id: by.id ?? `owner-${randomUUID()}`, actor: by.actor, reason: by.reason };
  return {
    command,
    issued_at_ms: by.issuedAtMs ?? Date.now(),
    signatures: [],
  };
}

/** The same command with `signer`'s signature added (a second owner co-signs the first one's draft). */
export function coSign(request: OwnerCommandRequest, signer: OwnerSigner): OwnerCommandRequest {
  const bytes = ownerCommandSigningBytes({
    command: request.command,
    mission_id: null,
    issued_at_ms: request.issued_at_ms,
  });
  const others = request.signatures.filter((s) => s.signer !== signer.keyId);
  return { ...request, signatures: [...others, { signer: signer.keyId, signature: signer.sign(bytes) }] };
}

/** Sends a signed command to the route of its action; resending the same command is a safe retry. */
export function sendOwnerCommand(
  client: SwooshClient,
  request: OwnerCommandRequest,
): Promise<ApiResponse<OwnerBatchResult>> {
  return client.request<OwnerBatchResult>('POST', PATHS[request.command.action], { body: request });
}

/** `GET /controls`: the deployment's halt, who set it and why, and the owner keys and quorum. */
export function getControls(client: SwooshClient): Promise<ApiResponse<ControlsView>> {
  return client.request<ControlsView>('GET', '/controls');
}
