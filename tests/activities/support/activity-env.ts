/** Runs activities in Temporal's mock activity context, typed, without logging expected failures. */
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';

export class ActivityHarness {
  readonly env: MockActivityEnvironment;

  constructor(info?: Partial<Info>) {
    this.env = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
  }

  run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
    return this.env.run<A, R, typeof fn>(fn, ...args);
  }
}

export function activityEnvironment(info?: Partial<Info>): ActivityHarness {
  return new ActivityHarness(info);
}
