/**
 * What a run left armed when it continued as new, read from its history: a durable timer that
 * fires while the closing task is with the worker makes Temporal refuse the continue-as-new, and
 * the retried task replays the whole run (timer shards: docs/timers.md#inside-a-shard; missions:
 * docs/lifecycle.md, "Closing a run quietly").
 */
import type proto from '@temporalio/proto';

type Event = proto.temporal.api.history.v1.IHistoryEvent;

/** When an event was recorded, in ms of the server's clock (skipped time included). */
const eventMs = (e: Event): number =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

/**
 * For a run that continued as new: each durable timer it set and neither saw fire nor cancelled,
 * as the ms from the start of its closing workflow task to the timer's due time. Undefined for a
 * run that did not continue as new.
 */
export function timersLeftAtClose(events: readonly Event[]): number[] | undefined {
  if (!events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes) return undefined;
  const closingStart = [...events].reverse().find((e) => e.workflowTaskStartedEventAttributes)!;
  // A timer that fired or was cancelled cannot fire any more.
  const gone = new Set(
    events.flatMap(
      (e) => e.timerFiredEventAttributes?.timerId ?? e.timerCanceledEventAttributes?.timerId ?? [],
    ),
  );
  return events.flatMap((e) => {
    const started = e.timerStartedEventAttributes;
    if (!started || gone.has(started.timerId!)) return [];
    const timeout = started.startToFireTimeout;
    const dueMs = eventMs(e) + Number(timeout?.seconds ?? 0) * 1000 + Math.floor((timeout?.nanos ?? 0) / 1e6);
    return [dueMs - eventMs(closingStart)];
  });
}
