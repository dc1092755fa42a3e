/**
 * Entry point bundled for the sandbox test: replays a recorded stream of signed proposals through
 * the core, the way a workflow would, and returns the hashes. It is evaluated in a bare V8 context
 * (no require, process, Buffer or crypto; Date and Math.random poisoned) to show the core needs
 * none of them.
 */
import {
  applyProposal,
  createSignerRegistry,
  defineConfig,
  EMPTY_IDEMPOTENCY,
  initialState,
  stateHash,
  type IdempotencyTable,
  type SignerEntry,
} from '../../../workflows/statechart';
import { type GuardIO } from '../../../schemas/guard-io';

export interface SandboxInput {
  readonly missionId: string;
  readonly signers: readonly SignerEntry[];
  readonly steps: readonly { readonly proposal: unknown; readonly io: GuardIO; readonly now: number }[];
}

export function replayInSandbox(input: SandboxInput): { finalHash: string; outcomes: string[] } {
  const registry = createSignerRegistry(input.signers);
  const config = defineConfig();
  let state = initialState(input.missionId);
  let idempotency: IdempotencyTable = EMPTY_IDEMPOTENCY;
  const outcomes: string[] = [];
  for (const step of input.steps) {
    const result = applyProposal(state, step.proposal, {
      registry,
      config,
      idempotency,
      now: step.now,
      io: step.io,
    });
    if (result.accepted && !result.duplicate) {
      state = result.state;
      idempotency = result.idempotency;
    }
    outcomes.push(
      result.accepted
        ? result.duplicate
          ? 'duplicate'
          : result.post_hash
        : `rejected:${result.failing_guard}`,
    );
  }
  return { finalHash: stateHash(state), outcomes };
}
