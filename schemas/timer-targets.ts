/**
 * Who a timer acts as, and which workflow messages it may send when it fires (docs/timers.md,
 * "A timer acts as its creator"). A timer records its creator's principal and role when it is
 * created; the gateway checks every signal and update action of the request against the
 * allow-list below, and the shard checks again at firing. So a timer can never do more than its
 * creator could do directly: owner commands, control commands, proposals and votes carry
 * authority that must come from a token or a signature at the moment they are sent, so no
 * configuration can make them timer-targetable, and neither can the shards' own messages (which
 * would let a timer create timers past the gateway's checks).
 *
 * SWOOSH's own workflows declare none of their messages timer-targetable; a deployment names the
 * messages of its own workflows in `SWOOSH_TIMER_TARGETS` (JSON, read by the worker and the
 * gateway alike). Pure data and pure functions: the gateway and the shard workflow share them.
 */
import { z } from 'zod';
import { Role } from './auth';

/** The roles that may create timers at all (viewers only read). */
export const TIMER_CREATOR_ROLES: readonly Role[] = ['agent', 'operator', 'owner'];

/**
 * Messages no timer may send, whatever the configuration: the mission's owner and control
 * signals, its proposal, proposal-screening and vote updates (schemas/mission-messages.ts), and
 * every message of the timer shards (`timers.*`, schemas/timer-messages.ts). A test keeps this
 * list and the definitions in step.
 */
export const NEVER_TIMER_TARGETABLE: readonly string[] = [
  'ownerControl',
  'control',
  'transition',
  'screenProposal',
  'proposalBreach',
  'vote',
];
const SHARD_MESSAGE_PREFIX = 'timers.';

export function neverTimerTargetable(name: string): boolean {
  return NEVER_TIMER_TARGETABLE.includes(name) || name.startsWith(SHARD_MESSAGE_PREFIX);
}

/**
 * Workflow ids SWOOSH itself uses (missions, timer shards, agent jobs and reports, its
 * schedules). A rule may not reach them: their messages are SWOOSH's, and none is targetable.
 */
export const RESERVED_WORKFLOW_ID_PREFIXES: readonly string[] = [
  'mission-',
  'timer-shard',
  'agent-',
  'swoosh-',
];

/** Ranks for "may this caller change a timer someone else created": higher may change lower. */
const ROLE_RANK: Record<Role, number> = { viewer: 0, agent: 1, operator: 2, owner: 3 };

/** Who created a timer, as the gateway authenticated them (a token's name and role). */
export const TimerCreator = z.strictObject({
  name: z.string().min(1).max(200),
  role: Role,
});
export type TimerCreator = z.infer<typeof TimerCreator>;

const MessageName = z
  .string()
  .min(1)
  .max(255)
  .refine((name) => !neverTimerTargetable(name), 'may never be sent by a timer');

/**
 * One timer-targetable message: signals or updates named `name`, to workflows whose id starts
 * with `workflowIdPrefix`, by timers whose creator has one of `roles`.
 */
export const TimerTargetRule = z.strictObject({
  kind: z.enum(['signal', 'update']),
  name: MessageName,
  workflowIdPrefix: z
    .string()
    .min(1, 'must name a workflow id prefix')
    .max(1000)
    .refine(
      (prefix) =>
        !RESERVED_WORKFLOW_ID_PREFIXES.some(
          (reserved) => reserved.startsWith(prefix) || prefix.startsWith(reserved),
        ),
      `must not reach SWOOSH's own workflows (${RESERVED_WORKFLOW_ID_PREFIXES.join(', ')})`,
    ),
  roles: z
    .array(Role)
    .min(1)
    .refine(
      (roles) => roles.every((role) => TIMER_CREATOR_ROLES.includes(role)),
      'viewers cannot create timers',
    ),
});
export type TimerTargetRule = z.infer<typeof TimerTargetRule>;

export const TimerTargetRules = z.array(TimerTargetRule).max(256);

/** The built-in allow-list: SWOOSH's own workflows expose no timer-targetable message. */
export const BUILTIN_TIMER_TARGETS: readonly TimerTargetRule[] = [];

/** `SWOOSH_TIMER_TARGETS`: a JSON array of rules; unset means the built-in (empty) list. */
export function parseTimerTargets(text: string | undefined): TimerTargetRule[] {
  if (text === undefined || text.trim() === '') return [...BUILTIN_TIMER_TARGETS];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('SWOOSH_TIMER_TARGETS is not valid JSON');
  }
  const parsed = TimerTargetRules.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `[${i.path.join('.')}]: ${i.message}`).join('; ');
    throw new Error(`SWOOSH_TIMER_TARGETS is invalid: ${where}`);
  }
  return [...BUILTIN_TIMER_TARGETS, ...parsed.data];
}

/** The parts of a timer action the authority check reads (every TimerAction has them). */
export type CheckedAction =
  | { type: 'webhook' }
  | { type: 'signal'; workflowId: string; signalName: string }
  | { type: 'update'; workflowId: string; updateName: string };

export interface Refusal {
  /** The action's field the refusal is about, relative to the action. */
  field: 'type' | 'signalName' | 'updateName' | 'workflowId';
  reason: string;
}

/**
 * Why `creator` may not have a timer run `action`, or undefined if it may. A webhook needs only a
 * role that creates timers (it carries SWOOSH's signature, not the creator's authority inside
 * SWOOSH); a signal or an update needs a rule naming it, its target and the creator's role.
 */
export function timerActionRefusal(
  action: CheckedAction,
  creator: TimerCreator | undefined,
  rules: readonly TimerTargetRule[],
): Refusal | undefined {
  if (creator === undefined) {
    return action.type === 'webhook'
      ? undefined
      : { field: 'type', reason: 'the timer has no recorded creator, so it may not message a workflow' };
  }
  if (!TIMER_CREATOR_ROLES.includes(creator.role)) {
    return { field: 'type', reason: `role ${creator.role} may not schedule actions` };
  }
  if (action.type === 'webhook') return undefined;
  const name = action.type === 'signal' ? action.signalName : action.updateName;
  const field = action.type === 'signal' ? 'signalName' : 'updateName';
  if (neverTimerTargetable(name)) {
    return {
      field,
      reason: `${name} may never be sent by a timer; send it directly with your own authority`,
    };
  }
  const named = rules.filter((rule) => rule.kind === action.type && rule.name === name);
  if (named.length === 0) {
    return { field, reason: `${action.type} ${name} is not timer-targetable (SWOOSH_TIMER_TARGETS)` };
  }
  const reaching = named.filter((rule) => action.workflowId.startsWith(rule.workflowIdPrefix));
  if (reaching.length === 0) {
    return { field: 'workflowId', reason: `timers may not send ${name} to this workflow` };
  }
  if (!reaching.some((rule) => rule.roles.includes(creator.role))) {
    return { field, reason: `role ${creator.role} may not have a timer send ${name}` };
  }
  return undefined;
}

/**
 * Whether `caller` may cancel, acknowledge or replay a timer `creator` made: its creator, or a
 * role ranked at least as high (owner > operator > agent). A timer with no recorded creator
 * (created before creators were recorded) is left to operators and owners.
 */
export function mayChangeTimer(caller: TimerCreator, creator: TimerCreator | undefined): boolean {
  if (!TIMER_CREATOR_ROLES.includes(caller.role)) return false;
  if (creator === undefined) return ROLE_RANK[caller.role] >= ROLE_RANK.operator;
  return caller.name === creator.name || ROLE_RANK[caller.role] >= ROLE_RANK[creator.role];
}

/** Every action a create request would run, with its path in the request body. */
export function* actionsOf<A extends { type: string }>(spec: {
  action: A;
  escalation?: { action: A; escalation?: unknown } | undefined;
  chain?: unknown;
}): Generator<{ path: (string | number)[]; action: A }> {
  type Rung = { action: A; escalation?: Rung | undefined };
  type Link = { action: A; escalation?: Rung | undefined; chain?: Link | undefined };
  const path: string[] = [];
  for (let link: Link | undefined = spec as Link; link; link = link.chain, path.push('chain')) {
    yield { path: [...path, 'action'], action: link.action };
    const rungPath = [...path];
    for (let rung = link.escalation; rung; rung = rung.escalation) {
      rungPath.push('escalation');
      yield { path: [...rungPath, 'action'], action: rung.action };
    }
  }
}
