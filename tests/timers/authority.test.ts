/**
 * The timer allow-list and the creator a timer acts as, without Temporal: what configuration may
 * never make timer-targetable, how an action is judged against its creator's role, who may change
 * someone else's timer, and that a chain link keeps acting as the chain's creator.
 */
import { describe, expect, test } from 'vitest';
import * as missionMessages from '../../schemas/mission-messages';
import * as shardMessages from '../../schemas/timer-messages';
import {
  mayChangeTimer,
  neverTimerTargetable,
  parseTimerTargets,
  timerActionRefusal,
  type TimerTargetRule,
} from '../../schemas/timer-targets';
import { TimerTable } from '../../workflows/timers/table';
import { DEFAULT_SHARD_SETTINGS } from '../../schemas/timer-shard';

const rules: TimerTargetRule[] = [
  { kind: 'signal', name: 'nudge', workflowIdPrefix: 'ext-', roles: ['operator', 'owner'] },
];

/** Every signal and update name SWOOSH's own workflows define. */
function definedMessageNames(): string[] {
  const values: unknown[] = [...Object.values(missionMessages), ...Object.values(shardMessages)];
  return values.flatMap((d) =>
    typeof d === 'object' &&
    d !== null &&
    'type' in d &&
    (d.type === 'signal' || d.type === 'update') &&
    'name' in d
      ? [String(d.name)]
      : [],
  );
}

describe('the allow-list', () => {
  test("no signal or update of SWOOSH's own workflows can be made timer-targetable", () => {
    const names = definedMessageNames();
    expect(names).toEqual(
      expect.arrayContaining(['ownerControl', 'control', 'transition', 'vote', 'timers.create']),
    );
    for (const name of names) {
      expect(neverTimerTargetable(name), name).toBe(true);
      expect(() =>
        parseTimerTargets(
          JSON.stringify([{ kind: 'signal', name, workflowIdPrefix: 'ext-', roles: ['owner'] }]),
        ),
      ).toThrow(/may never be sent by a timer/);
    }
  });

  test("a rule may not reach SWOOSH's own workflows, viewers, or every workflow at once", () => {
    const bad = [
      { kind: 'signal', name: 'nudge', workflowIdPrefix: 'mission-', roles: ['owner'] },
      { kind: 'signal', name: 'nudge', workflowIdPrefix: 'mis', roles: ['owner'] },
      { kind: 'signal', name: 'nudge', workflowIdPrefix: 'timer-shard-3', roles: ['owner'] },
      { kind: 'signal', name: 'nudge', workflowIdPrefix: '', roles: ['owner'] },
      { kind: 'signal', name: 'nudge', workflowIdPrefix: 'ext-', roles: ['viewer'] },
      { kind: 'query', name: 'nudge', workflowIdPrefix: 'ext-', roles: ['owner'] },
    ];
    for (const rule of bad)
      expect(() => parseTimerTargets(JSON.stringify([rule])), JSON.stringify(rule)).toThrow();
    expect(() => parseTimerTargets('{not json')).toThrow(/not valid JSON/);
    expect(parseTimerTargets(undefined)).toEqual([]);
    expect(parseTimerTargets(JSON.stringify(rules))).toEqual(rules);
  });

  test('an action is judged by its creator: kind, name, target and role must all match a rule', () => {
    const nudge = { type: 'signal' as const, workflowId: 'ext-1', signalName: 'nudge' };
    expect(timerActionRefusal(nudge, { name: 'op', role: 'operator' }, rules)).toBeUndefined();
    expect(timerActionRefusal(nudge, { name: 'a', role: 'agent' }, rules)).toMatchObject({
      field: 'signalName',
    });
    expect(timerActionRefusal(nudge, { name: 'v', role: 'viewer' }, rules)).toMatchObject({ field: 'type' });
    expect(timerActionRefusal(nudge, undefined, rules)).toMatchObject({ field: 'type' });
    expect(
      timerActionRefusal({ ...nudge, workflowId: 'other-1' }, { name: 'o', role: 'owner' }, rules),
    ).toMatchObject({ field: 'workflowId' });
    expect(
      timerActionRefusal(
        { type: 'update', workflowId: 'ext-1', updateName: 'nudge' },
        { name: 'o', role: 'owner' },
        rules,
      ),
    ).toMatchObject({ field: 'updateName' });
    // Owner commands are refused even to an owner, even if a rule were smuggled past parsing.
    const smuggled: TimerTargetRule[] = [
      { kind: 'signal', name: 'ownerControl', workflowIdPrefix: 'mission-', roles: ['owner'] },
    ];
    expect(
      timerActionRefusal(
        { type: 'signal', workflowId: 'mission-x', signalName: 'ownerControl' },
        { name: 'o', role: 'owner' },
        smuggled,
      ),
    ).toMatchObject({ field: 'signalName' });
    // Webhooks need only a role that schedules, and stay deliverable for timers without a creator.
    expect(timerActionRefusal({ type: 'webhook' }, { name: 'a', role: 'agent' }, [])).toBeUndefined();
    expect(timerActionRefusal({ type: 'webhook' }, undefined, [])).toBeUndefined();
  });

  test("a timer is changed by its creator or a role ranked at least as high as the creator's", () => {
    const agent = { name: 'a', role: 'agent' as const };
    const operator = { name: 'op', role: 'operator' as const };
    expect(mayChangeTimer(agent, agent)).toBe(true);
    expect(mayChangeTimer({ name: 'a2', role: 'agent' }, agent)).toBe(true);
    expect(mayChangeTimer(agent, operator)).toBe(false);
    expect(mayChangeTimer(operator, agent)).toBe(true);
    expect(mayChangeTimer({ name: 'o', role: 'owner' }, operator)).toBe(true);
    expect(mayChangeTimer({ name: 'v', role: 'viewer' }, undefined)).toBe(false);
    expect(mayChangeTimer(agent, undefined)).toBe(false);
    expect(mayChangeTimer(operator, undefined)).toBe(true);
  });
});

describe('the table', () => {
  test("a chained timer acts as the chain's creator, and delivers with that authority", () => {
    let n = 0;
    const table = new TimerTable({ shard: 0, shardCount: 1 }, DEFAULT_SHARD_SETTINGS, () => `id-${n++}`);
    const creator = { name: 'op', role: 'operator' as const };
    const action = { type: 'signal' as const, workflowId: 'ext-1', signalName: 'nudge' };
    table.create(
      [{ id: 'first', delayMs: 0, action, chain: { id: 'second', delayMs: 0, action } }],
      0,
      creator,
    );
    // Both due at once: the first fires, its chain link is created and fires in the same pass.
    const delivered = table.takeEffects().filter((e) => e.kind === 'deliver');
    expect(delivered).toEqual([
      expect.objectContaining({ timerId: 'first', createdBy: creator }),
      expect.objectContaining({ timerId: 'second', createdBy: creator }),
    ]);
    expect(table.record('second')).toMatchObject({ createdBy: creator, chainedFrom: 'first' });
    // Another agent may not cancel an operator's timer; the shard says so before any handler runs.
    expect(table.checkCancel('second', { name: 'a', role: 'agent' })).toEqual({
      ok: false,
      reason: 'forbidden',
    });
  });
});
