/**
 * The gateway sends a query again when a worker refused it at a stale workflow clock, and only
 * then (api/workflow-queries.ts); tests/workers/stale-clock-guard.test.ts shows a real worker's
 * refusal reaching the client with that message.
 */
import { describe, expect, test } from 'vitest';
import { queryWorkflow } from '../../api/workflow-queries';
import { STALE_CLOCK_MESSAGE } from '../../schemas/mission-messages';

/** A query that fails with each of `failures` in turn, then answers `answer`; counts its calls. */
function scripted(failures: Error[], answer: string): { query: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    query: () => {
      const failure = failures[calls++];
      return failure ? Promise.reject(failure) : Promise.resolve(answer);
    },
    calls: () => calls,
  };
}

const stale = (): Error => new Error(`${STALE_CLOCK_MESSAGE}: history grew from 67 to 72 events`);

describe('queryWorkflow', () => {
  test('a refusal at a stale clock is asked again and the next answer returned', async () => {
    const q = scripted([stale(), stale()], 'state');
    await expect(queryWorkflow(q.query)).resolves.toBe('state');
    expect(q.calls()).toBe(3);
  });

  test('any other failure is thrown at once', async () => {
    const q = scripted([new Error('query handler threw')], 'state');
    await expect(queryWorkflow(q.query)).rejects.toThrow('query handler threw');
    expect(q.calls()).toBe(1);
  });

  test('three refusals in a row are thrown', async () => {
    const q = scripted([stale(), stale(), stale()], 'state');
    await expect(queryWorkflow(q.query)).rejects.toThrow(STALE_CLOCK_MESSAGE);
    expect(q.calls()).toBe(3);
  });
});
