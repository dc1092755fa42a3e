/**
 * `swoosh approve|vote|propose|pause|resume MISSION`: the signed ones read HEAD, sign locally with
 * the person's key and post, retrying a bounded number of times when HEAD moved (api/signed-requests.ts).
 */
import { z } from 'zod';
import { approve, propose, type SignedRequestOptions, vote } from '../../api/client';
import { OwnerReason } from '../../schemas/owner-controls';
import { Sha256Schema, EvidenceUriSchema, TransitionNameSchema } from '../../schemas/proposal';
import { UsageError } from '../usage';
import { type CliIo, type Context, context, flag, parse } from './context';
import { jsonFile } from './missions';
import { answer, signedOutcome } from './output';

const Mission = z.uuid({ error: 'a mission id is a UUID' });
const Retries = z.coerce.number().int().min(0).max(100);
/** Inputs of a proposal: a JSON object (the transition's own schema is checked by the mission). */
const Inputs = z.record(z.string(), z.unknown());

const SIGNED_OPTIONS = {
  wait: { type: 'boolean' },
  retries: { type: 'string' },
  head: { type: 'string' },
  evidence: { type: 'string', multiple: true },
} as const;

function signedOptions(
  ctx: Context,
  values: { wait?: boolean; retries?: string; head?: string; evidence?: string[] },
): SignedRequestOptions {
  return {
    wait: values.wait ?? false,
    ...(values.retries !== undefined && { retries: flag('--retries', Retries, values.retries) }),
    ...(values.head !== undefined && { head: flag('--head', Sha256Schema, values.head) }),
    evidence: (values.evidence ?? []).map((e) => flag('--evidence', EvidenceUriSchema, e)),
    onProgress: (message) => ctx.io.err(message),
    ...(ctx.io.signal && { signal: ctx.io.signal }),
  };
}

function positional(positionals: string[], count: number, usage: string): string[] {
  if (positionals.length !== count) throw new UsageError(`usage: swoosh ${usage}`);
  return positionals;
}

const accepted = (what: string) => (body: { post_hash: string; decision_id: string; duplicate: boolean }) => [
  `${what}: ${body.decision_id}${body.duplicate ? ' (a repeat: already applied)' : ''}`,
  `HEAD: ${body.post_hash}`,
];

export async function approveCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { ...SIGNED_OPTIONS, reject: { type: 'boolean' } });
  const [id] = positional(positionals, 1, 'approve MISSION [--reject] [--wait]');
  const mission = flag('mission', Mission, id);
  const ctx = await context(values, io, 'operator');
  const decision = values.reject ? 'reject' : 'approve';
  const outcome = await approve(ctx.client, mission, await ctx.signer(), {
    ...signedOptions(ctx, values),
    decision,
  });
  return signedOutcome(
    ctx,
    `the ${decision === 'approve' ? 'approval' : 'rejection'}`,
    outcome,
    accepted(decision === 'approve' ? 'approved' : 'rejected'),
  );
}

export async function voteCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { wait: { type: 'boolean' } });
  const [id] = positional(positionals, 1, 'vote MISSION [--wait]');
  const mission = flag('mission', Mission, id);
  const ctx = await context(values, io, 'operator');
  const outcome = await vote(ctx.client, mission, await ctx.signer(), {
    wait: values.wait ?? false,
    onProgress: (message) => io.err(message),
    ...(io.signal && { signal: io.signal }),
  });
  return signedOutcome(ctx, 'the vote', outcome, (tally) => [
    `vote counted: ${tally.accepted} of ${tally.required} needed`,
  ]);
}

export async function proposeCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { ...SIGNED_OPTIONS, inputs: { type: 'string' } });
  const [id, name] = positional(positionals, 2, 'propose MISSION TRANSITION [--inputs FILE]');
  const mission = flag('mission', Mission, id);
  const transition = flag('transition', TransitionNameSchema, name);
  const inputs = values.inputs !== undefined ? await jsonFile('--inputs', values.inputs, Inputs) : {};
  const ctx = await context(values, io, 'operator');
  const outcome = await propose(
    ctx.client,
    mission,
    await ctx.signer(),
    transition,
    inputs,
    signedOptions(ctx, values),
  );
  return signedOutcome(ctx, transition, outcome, accepted('applied'));
}

export async function controlCommand(action: 'pause' | 'resume', args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { reason: { type: 'string' } });
  const [id] = positional(positionals, 1, `${action} MISSION --reason TEXT`);
  const mission = flag('mission', Mission, id);
  const reason = flag('--reason', OwnerReason, values.reason);
  const ctx = await context(values, io, 'operator');
  const res = await ctx.client.control(mission, action, reason);
  return answer(ctx, res, () => [`${action === 'pause' ? 'pause' : 'resume'} sent to mission ${mission}`]);
}
