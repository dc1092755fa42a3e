/**
 * A timer shard (docs/design.md#timers; design and limits in docs/timers.md): one long-lived entity workflow
 * holding many timers, so a million timers cost hundreds of workflows rather than a million.
 *
 * - All state lives in one `TimerTable`; this file only wires Temporal to it.
 * - A wake-up for the earliest thing due (arm, fire, retry, escalate, forget): an alarm (an
 *   activity sleeping in the worker) when it is due within seconds, a durable timer otherwise. A
 *   create due earlier than every wake-up set wakes the loop to set another; a later one costs
 *   nothing. Neither is ever cancelled: one gone stale wakes a loop that finds nothing due.
 * - Creates, cancels, acks and replays are updates, validated in validators; their handlers are
 *   synchronous, so they cannot interleave and need no lock. Deliveries run beside the loop,
 *   at most `maxInFlight` at a time: webhooks due together batched into one activity, updates as
 *   activities, signals as commands of the workflow itself.
 * - When the history grows long the shard stops starting deliveries, waits for running ones, for
 *   every handler and for the durable timers about to fire, and continues-as-new carrying its
 *   timers as the snapshot.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  TemporalFailure,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import { CreateTimerRequest, TimerId } from '../schemas/timer';
import {
  actionsOf,
  type TimerCreator as Creator,
  TimerCreator,
  timerActionRefusal,
  TimerTargetRules,
} from '../schemas/timer-targets';
import {
  ackTimerUpdate,
  cancelTimerUpdate,
  configureTimerTargetsUpdate,
  createTimersUpdate,
  deadLettersQuery,
  forwardTimerUpdate,
  timerForwardQuery,
  haltTimersUpdate,
  liftTimersUpdate,
  listTimersQuery,
  MAX_CREATE_BATCH,
  replayTimerUpdate,
  shardMessageSignal,
  shardStatusQuery,
  timerQuery,
  TimerFailure,
  type ShardPaging,
  type TimerShardInput,
} from '../schemas/timer-messages';
import {
  dueTimeOf,
  PAGE_AHEAD_MS,
  PAGE_EVERY_MS,
  PAGE_MAX_TIMERS,
  ParkAfterMs,
  parkedTimerRecord,
  type ParkRequest,
  RETIRE_BELOW_FREE_SHARE,
  RETIRE_MAX_DIGESTS,
} from '../schemas/timer-parking';
import { observeTimerLateness } from './observability';
import { ShardMessage } from '../schemas/timer-shard-messages';
import type { TimerShardActivities } from '../activities';
import type { ShardBookkeeping, WebhookDelivery } from '../schemas/timer-activities';
import { shardWorkflowId } from '../schemas/timer-shard-key';
import { TimerTable } from './timers/table';
import { checkHaltCommand, type HaltCheck } from './timers/halt';
import { OwnerQuorum } from '../schemas/owner-controls';
import {
  type AttemptOutcome,
  type CommandCheck,
  type CreateCheck,
  type CreateResult,
  DEFAULT_SHARD_SETTINGS,
  digestRecord,
  type ArchivedTimer,
  type DeliveryEffect,
  type Effect,
  ShardCapacityBytes,
} from '../schemas/timer-shard';

/** Closed timers archived by one activity at most: a few hundred ledger appends. */
const ARCHIVE_BATCH = 200;
/**
 * How long a shard holds its bookkeeping back for a delivery to carry it, or for a delivery's
 * outcome to join it, instead of writing it with an activity of its own.
 */
const BOOKKEEPING_HOLD_MS = 1_000;

/** Wake-ups due within this are woken by an alarm (TIMER_ALARM_PATCH), not a durable timer, unless the settings say otherwise. */
const ALARM_WITHIN_MS = 10_000;
/** Alarms ring on this grid, so that a shard firing steadily is woken by them ten times a second at most. */
const ALARM_TICK_MS = 100;
/**
 * How long after its tick an alarm times out on the server if the worker has not answered (a lost
 * worker): the server's timeout wakes the shard instead. A busy worker answers late now and then,
 * and an answer after the timeout is refused (the SDK logs it), so this leaves room for that.
 */
const ALARM_GRACE_MS = 2_000;
/** Alarms a shard waits on at once, each holding an activity slot; an earlier wake-up beyond them gets a durable timer. */
const MAX_ALARMS = 2;

// One attempt per activity: the shard schedules retries itself, so attempts survive
// continue-as-new and a target that is down holds no pending-activity slot while it backs off.
const deliveries = proxyActivities<TimerShardActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 1 },
});
// A caller waits on a park or a cancel of a parked timer: a store that stays down fails it.
const parking = proxyActivities<TimerShardActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumAttempts: 4 },
});
// Bookkeeping that must land eventually: retried until it does.
const bookkeeping = proxyActivities<TimerShardActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const CreateTimersArgs = z.strictObject({
  specs: z.array(CreateTimerRequest).min(1).max(MAX_CREATE_BATCH),
  createdBy: TimerCreator.optional(),
  placedFrom: z.int().min(0).optional(),
});
const ForwardArgs = z.strictObject({ id: TimerId, shard: z.int().min(0) });
const CommandArgs = z.strictObject({ id: TimerId, caller: TimerCreator.optional() });
const ConfigureArgs = z.strictObject({
  timerTargets: TimerTargetRules,
  owners: OwnerQuorum.optional(),
  capacityBytes: ShardCapacityBytes.optional(),
  parkAfterMs: z.union([z.literal(0), ParkAfterMs]).optional(),
});

/** A shard with less room than this does not page in: a page would hold a timer or two. */
const MIN_PAGE_ROOM_BYTES = 16_384;

/**
 * The patch that makes a shard check a signal or update action against its creator's authority
 * before delivering it (schemas/timer-targets.ts); firings recorded before it replay unchecked.
 */
export const TIMER_AUTHORITY_PATCH = 'swoosh-timer-authority-v1';

/**
 * The patch that makes a shard write its timers' state changes to the event log
 * (docs/timers.md#timer-events); a run recorded before it replays without writing them.
 */
export const TIMER_EVENTS_PATCH = 'swoosh-timer-events-v1';

/**
 * The patch that makes a shard keep a closed timer as a digest and archive its full record in the
 * shard's timer ledger (docs/timers.md#compact-shards); a run recorded before it keeps them whole.
 */
export const TIMER_DIGESTS_PATCH = 'swoosh-timer-digests-v1';

/**
 * The patch that rolls a chain link over to another shard when its home shard is full
 * (docs/timers.md#rollover); a run recorded before it logs such a link as not created.
 */
export const TIMER_CHAIN_ROLLOVER_PATCH = 'swoosh-timer-chain-rollover-v1';

/**
 * The patch that makes a shard write its events and archive its closed timers together, riding on
 * its next webhook delivery when one is under way or about to start (docs/timers.md#inside-a-shard);
 * a run recorded before it writes each with an activity of its own as soon as there is something
 * to write.
 */
export const TIMER_BOOKKEEPING_PATCH = 'swoosh-timer-bookkeeping-v1';

/**
 * The patch that makes a draining shard close quietly (docs/timers.md#inside-a-shard): it stops
 * setting durable timers and waits out those due within `CLOSE_GUARD_MS` before it continues as
 * new; a run recorded before it continues as soon as its drain is done.
 */
export const TIMER_QUIET_CLOSE_PATCH = 'swoosh-timer-quiet-close-v1';

/**
 * The patch that makes a shard park the timers due later than its park-after setting in the
 * parked-timer store and page them in before they are due (docs/timers.md#parked-timers); a run
 * recorded before it holds every timer itself.
 */
export const TIMER_PAGING_PATCH = 'swoosh-timer-paging-v1';

/**
 * The patch that makes a parking shard short of room retire its oldest digests to the parked-timer
 * store (docs/timers.md#retired-digests); a run recorded before it keeps every digest until
 * retention forgets it.
 */
export const TIMER_RETIRE_PATCH = 'swoosh-timer-retire-v1';

/**
 * The patch that makes a parking shard hand a full batch of digests to the store as soon as it has
 * one, with room to spare: its digests are its continue-as-new input too, and a busy shard that
 * kept them until it ran short carried a megabyte into each new run and stalled seconds doing so
 * (docs/timers.md#retired-digests). A run recorded before it retires only when short of room.
 */
export const TIMER_RETIRE_EARLY_PATCH = 'swoosh-timer-retire-early-v1';

/**
 * The patch that wakes the loop when the history grows long: before it, a run whose history passed
 * its limit while updates were handled, with nothing else due, noticed only at its next wake-up
 * (for parked timers, a minute before the earliest is due) and continued as new then.
 */
export const TIMER_DRAIN_WAKE_PATCH = 'swoosh-timer-drain-wake-v1';

/**
 * The patch that wakes a shard for what is due within seconds by an alarm instead of a durable
 * timer (docs/timers.md#alarms): an activity that sleeps in the worker until then. Temporal fires
 * durable timers from its timer queue, which under load held a busy shard's for seconds (and every
 * timer of the shard due meanwhile with it); an activity's completion reaches the shard by another
 * path. A run recorded before it wakes by durable timers alone.
 */
export const TIMER_ALARM_PATCH = 'swoosh-timer-alarm-v1';

/**
 * A durable timer that fires while the continue-as-new task is with the worker makes Temporal
 * refuse that task (UnhandledCommand), and the retried task replays the whole run: seconds for a
 * busy shard, ten and more when several shards do it at once. A closing task takes well under
 * this, so no timer set to fire later than this can catch it.
 */
const CLOSE_GUARD_MS = 1_000;

export async function timerShardWorkflow(input: TimerShardInput): Promise<never> {
  const { shard, shardCount, idPrefix } = input;
  if (
    !Number.isInteger(shardCount) ||
    shardCount < 1 ||
    !Number.isInteger(shard) ||
    shard < 0 ||
    shard >= shardCount
  ) {
    throw ApplicationFailure.nonRetryable(
      `shard ${shard} of ${shardCount} is not a valid shard`,
      'TimerShardMisconfigured',
    );
  }
  const settings = { ...DEFAULT_SHARD_SETTINGS, ...input.settings };
  // Replaced by `timers.configure`; carried into the next run's input by continue-as-new.
  let timerTargets = settings.timerTargets;
  let owners = settings.owners;
  const archiving = patched(TIMER_DIGESTS_PATCH);
  const together = archiving && patched(TIMER_BOOKKEEPING_PATCH);
  const table = new TimerTable(
    { shard, shardCount, ledger: workflowInfo().workflowId },
    { ...settings, archiveClosed: archiving, rollChainLinks: patched(TIMER_CHAIN_ROLLOVER_PATCH) },
    uuid4,
    input.snapshot,
  );

  /** Effects started and not yet finished: deliveries, shard messages, dead-letter records. */
  let running = 0;
  let taskFailure: Error | undefined;
  let draining = false;
  /** Drained, and closing quietly (TIMER_QUIET_CLOSE_PATCH): no durable timer is set any more. */
  let closing = false;
  /**
   * Due times of the durable timers set and not yet fired. A timer is never cancelled, only left
   * to fire: a stale one wakes the loop, which finds nothing due. Cancelling is also what the
   * time-skipping test server cannot take when the timer fired while the task was with the worker
   * (it refuses the completion, "invalid history builder state for action", sdk-java#3088).
   */
  const armed = new Set<number>();
  /** The ticks of the alarms under way (TIMER_ALARM_PATCH): like durable timers, never cancelled. */
  const alarms = new Set<number>();
  const alarmWithinMs = settings.alarmWithinMs ?? ALARM_WITHIN_MS;
  const alarming = alarmWithinMs > 0 && patched(TIMER_ALARM_PATCH);
  let rang = false;
  /** One event-log write at a time, so a shard's events reach the log in the order it made them. */
  let writingEvents = false;
  /** Closed timers not yet archived, and since when bookkeeping has waited (TIMER_BOOKKEEPING_PATCH). */
  const unarchived: ArchivedTimer[] = [];
  let heldSince: number | undefined;
  /** Parked timers (docs/timers.md#parked-timers): none in runs recorded before the patch. */
  const pages = patched(TIMER_PAGING_PATCH);
  let parkAfterMs = settings.parkAfterMs ?? 0;
  const paging: ShardPaging = { ...input.paging };
  let pagingIn = false;
  let lastPageAt = -Infinity;
  let retiring = false;
  /** Whether this run retires digests (TIMER_RETIRE_PATCH): asked the first time it would. */
  let retires: boolean | undefined;
  /** Whether this run retires a batch as soon as one waits (TIMER_RETIRE_EARLY_PATCH): decided as it starts. */
  const retiresEarly = patched(TIMER_RETIRE_EARLY_PATCH);
  const retireAfterDigests = settings.retireAfterDigests ?? RETIRE_MAX_DIGESTS;
  /** Whether a long history wakes this run to drain (TIMER_DRAIN_WAKE_PATCH): decided as it starts. */
  const wakesToDrain = patched(TIMER_DRAIN_WAKE_PATCH);
  /** The store's operations, one at a time and in order: the shard is its only writer. */
  let storeTurn: Promise<unknown> = Promise.resolve();

  setHandler(
    createTimersUpdate,
    async ({ specs, createdBy, placedFrom }) => {
      const now = Date.now();
      const parkable = toPark(specs, now, placedFrom);
      // Ids the shard does not answer for may be parked already: the store checks them.
      const unknown = placedFrom === undefined && pages ? specs.filter((spec) => !table.knows(spec.id)) : [];
      if (parkable.size === 0 && (unknown.length === 0 || !storeMayHold(now)))
        return table.create(specs, now, createdBy, placedFrom);
      const asked = unknown.map((spec) => ({
        timer: { spec, ...(createdBy && { createdBy }), createdAt: now, dueAt: dueTimeOf(spec, now) },
        park: parkable.has(spec.id),
      }));
      const result = await withStore((watermark) =>
        parking.parkTimers({ shard, ...watermark, timers: asked }),
      );
      if (!result.ok) createRefused({ ok: false, reason: 'conflict', timerId: result.conflict });
      setNextParked(result.nextDueAt);
      const parked = new Map<string, CreateResult>();
      result.answers.forEach((answer, i) => {
        if (answer.outcome === 'parked')
          parked.set(answer.id, { created: true, timer: parkedTimerRecord(asked[i]!.timer, shard) });
        else if (answer.outcome === 'parkedBefore')
          parked.set(answer.id, { created: false, timer: parkedTimerRecord(answer.timer, shard) });
        else if (answer.outcome === 'closed') {
          const { digest, archivedIn } = answer.retired;
          parked.set(answer.id, { created: false, timer: digestRecord(digest, shard, archivedIn) });
        }
      });
      const held = specs.filter((spec) => !parked.has(spec.id));
      // Other updates ran while the store answered: the rest is checked again against the table.
      refuseCreate(table.checkCreate(held, placedFrom));
      const created = new Map(
        table.create(held, Date.now(), createdBy, placedFrom).map((made) => [made.timer.id, made]),
      );
      return specs.map((spec) => parked.get(spec.id) ?? created.get(spec.id)!);
    },
    {
      validator: (request) => {
        // The validator parses the very value the handler stores; the schema transforms nothing.
        const { specs, createdBy, placedFrom } = parseOrRefuse(CreateTimersArgs, request);
        // The gateway checked the same; a create sent past it is held to the same rules.
        for (const spec of specs) refuseActions(spec, createdBy, timerTargets);
        const check = table.checkCreate(specs, placedFrom, toPark(specs, Date.now(), placedFrom));
        // Full, but an id may be parked with another spec: the handler asks the store first, so
        // that a conflict is answered as one instead of the id being placed in another shard.
        if (!check.ok && check.reason === 'full' && specs.some((spec) => mayBeParked(spec.id, placedFrom)))
          return;
        refuseCreate(check);
      },
    },
  );
  setHandler(forwardTimerUpdate, ({ id, shard }) => table.forward(id, shard), {
    validator: (request) => {
      const { id, shard } = parseOrRefuse(ForwardArgs, request);
      refuseCreate(table.checkForward(id, shard));
    },
  });
  setHandler(
    cancelTimerUpdate,
    async ({ id, caller }) => {
      const reason = 'cancelled by request';
      if (!mayBeParked(id)) return table.cancel(id, Date.now(), reason);
      const result = await withStore((watermark) =>
        parking.cancelParkedTimer({
          shard,
          ...watermark,
          id,
          ...(caller && { caller }),
          at: Date.now(),
          reason,
        }),
      );
      if (result.outcome === 'cancelled') return parkedTimerRecord(result.timer, shard);
      if (result.outcome === 'forbidden') refuseCommand({ ok: false, reason: 'forbidden' }, 'cancelled');
      // Not parked: paged in while the store answered, or never created.
      refuseCommand(table.checkCancel(id, caller), 'cancelled');
      return table.cancel(id, Date.now(), reason);
    },
    {
      validator: (request) => {
        const { id, caller } = parseOrRefuse(CommandArgs, request);
        if (mayBeParked(id)) return;
        refuseCommand(table.checkCancel(id, caller), 'cancelled');
      },
    },
  );
  setHandler(ackTimerUpdate, ({ id, caller }) => table.ack(id, Date.now(), caller?.name), {
    validator: (request) => {
      const { id, caller } = parseOrRefuse(CommandArgs, request);
      refuseCommand(table.checkAck(id, caller), 'acknowledged');
    },
  });
  setHandler(replayTimerUpdate, ({ id }) => table.replay(id, Date.now()), {
    validator: (request) => {
      const { id, caller } = parseOrRefuse(CommandArgs, request);
      refuseCommand(table.checkReplay(id, caller), 'replayed');
    },
  });
  setHandler(
    configureTimerTargetsUpdate,
    (request) => {
      timerTargets = request.timerTargets;
      if (request.owners !== undefined) owners = request.owners;
      if (request.capacityBytes !== undefined) table.setCapacity(request.capacityBytes);
      if (request.parkAfterMs !== undefined) parkAfterMs = request.parkAfterMs;
    },
    { validator: (request) => void parseOrRefuse(ConfigureArgs, request) },
  );
  // A halt's verdict depends only on the command, the owner keys and the workflow clock, so the
  // handler (which runs on replay, unlike the validator) reaches the same one.
  const haltCheck = (command: unknown, action: 'pause' | 'resume'): HaltCheck =>
    checkHaltCommand(command, action, { owners, nowMs: Date.now(), halt: table.haltInForce });
  setHandler(
    haltTimersUpdate,
    (command) => {
      const check = admitted(haltCheck(command, 'pause'));
      const { id: commandId, actor, reason } = check.command.command;
      const current = table.haltInForce;
      if (current?.commandId === commandId) return current;
      const halt = {
        commandId,
        actor,
        reason,
        issuedAtMs: check.command.issued_at_ms,
        signers: check.signers,
        since: Date.now(),
      };
      table.setHalt(halt);
      log.info('timer shard halted by owners', { shard, commandId, actor });
      return halt;
    },
    { validator: (command) => void admitted(haltCheck(command, 'pause')) },
  );
  setHandler(
    liftTimersUpdate,
    (command) => {
      const check = admitted(haltCheck(command, 'resume'));
      const released = table.liftHalt(Date.now());
      log.info('timer shard halt lifted', { shard, commandId: check.command.command.id, released });
      return { released };
    },
    { validator: (command) => void admitted(haltCheck(command, 'resume')) },
  );
  setHandler(shardMessageSignal, (message) => {
    // Signals cannot be refused; anything malformed is logged and dropped rather than stored.
    const parsed = ShardMessage.safeParse(message);
    if (parsed.success) table.receive(parsed.data, Date.now());
    else log.warn('timer shard dropped a malformed message', { shard, issues: parsed.error.issues.length });
  });
  setHandler(timerQuery, (id) => table.record(id));
  setHandler(timerForwardQuery, (id) => table.forwardOf(id));
  setHandler(listTimersQuery, (args) => table.list({ ...args, limit: Math.min(args.limit, 1000) }));
  setHandler(deadLettersQuery, (args) => table.deadLetters({ ...args, limit: Math.min(args.limit, 1000) }));
  setHandler(shardStatusQuery, () => ({
    ...table.stats(),
    ...(paging.nextDueAt !== undefined && { nextParkedDueAt: new Date(paging.nextDueAt).toISOString() }),
    runs: input.runs ?? 0,
    historyLength: workflowInfo().historyLength,
  }));

  for (;;) {
    if (taskFailure !== undefined) throw taskFailure;
    table.advance(Date.now());
    const webhooks: DeliveryEffect[] = [];
    const archived: ArchivedTimer[] = [];
    for (const effect of table.takeEffects()) {
      if (effect.kind === 'deliver' && effect.action.type === 'webhook') webhooks.push(effect);
      else if (effect.kind === 'archive') archived.push(effect.timer);
      else run(effect);
    }
    if (together) unarchived.push(...archived);
    // One ledger activity per turn of the loop (in slices), not one per closed timer.
    else {
      for (let i = 0; i < archived.length; i += ARCHIVE_BATCH) {
        track(bookkeeping.archiveClosedTimers({ timers: archived.slice(i, i + ARCHIVE_BATCH) }));
      }
    }
    for (let i = 0; i < webhooks.length; i += settings.deliveryBatchSize) {
      const batch = webhooks.slice(i, i + settings.deliveryBatchSize);
      // The first batch carries what bookkeeping waits: the firings' own events among it.
      const carried = together ? takeBookkeeping() : undefined;
      track(
        deliverWebhooks(batch, carried).then((outcomes) => {
          const now = Date.now();
          batch.forEach((effect, j) => table.onAttemptResult(effect.timerId, outcomes[j]!, now));
        }),
      );
    }
    if (together) writeBookkeeping();
    else writeEvents();
    if (pageInDue()) pageIn();
    if (retireDue() && (retires ??= patched(TIMER_RETIRE_PATCH))) retire();
    if (!draining && historyIsLong()) {
      draining = true;
      table.pause();
    }
    // Closed timers held for a delivery that draining will not start have no place in the
    // snapshot: the loop goes round once more to write them.
    if (draining && running === 0 && unarchived.length === 0 && allHandlersFinished()) {
      closing ||= patched(TIMER_QUIET_CLOSE_PATCH);
      if (!closing || quiet()) break;
    }
    // What falls due from here on fires in the next run, which sets its own timers at once.
    if (!closing) armFor(nextWakeUp());
    const woken = () =>
      rang ||
      taskFailure !== undefined ||
      table.hasEffects() ||
      // Something fell due while an activity result or an update was being handled: fire it now.
      (table.nextWakeAt() ?? Infinity) <= Date.now() ||
      // A create due earlier than every wake-up set: go round to set one for it.
      (!closing && wakeFor(nextWakeUp()) !== undefined) ||
      pageInDue() ||
      retireDue() ||
      (wakesToDrain && !draining && historyIsLong()) ||
      // A create or cancel of a parked timer awaits the store: drained only once it is done.
      (draining && running === 0 && allHandlersFinished() && (!closing || quiet())) ||
      (together ? bookkeepingDue() : !writingEvents && !draining && table.hasEvents());
    await condition(woken);
    rang = false;
  }
  return await continueAsNew<typeof timerShardWorkflow>({
    ...input,
    settings: {
      ...input.settings,
      timerTargets,
      ...(owners !== undefined && { owners }),
      snapshotBudgetBytes: table.capacityBytes,
      ...(parkAfterMs > 0 && { parkAfterMs }),
    },
    snapshot: table.snapshot(),
    ...(pages && { paging }),
    runs: (input.runs ?? 0) + 1,
  });

  /**
   * The ids of a create to park: due later than the park-after setting, and neither known here,
   * placed from another shard, nor waiting on dependencies (their watches stay with the shard).
   */
  function toPark(specs: readonly CreateTimerRequest[], now: number, placedFrom?: number): Set<string> {
    const ids = new Set<string>();
    if (!pages || parkAfterMs === 0 || placedFrom !== undefined) return ids;
    for (const spec of specs) {
      if (spec.dependsOn?.length || table.knows(spec.id)) continue;
      if (dueTimeOf(spec, now) > now + parkAfterMs) ids.add(spec.id);
    }
    return ids;
  }

  /** Whether the store may hold the id: the shard does not, and it has timers parked or digests retired. */
  function mayBeParked(id: string, placedFrom?: number): boolean {
    return pages && placedFrom === undefined && storeMayHold(Date.now()) && !table.knows(id);
  }

  function storeMayHold(now: number): boolean {
    return paging.nextDueAt !== undefined || (paging.retiredUntil ?? -Infinity) > now;
  }

  /** Short of room, or a full batch waiting (TIMER_RETIRE_EARLY_PATCH): the oldest digests go to the store. */
  function retireDue(): boolean {
    return (
      pages &&
      parkAfterMs > 0 &&
      retires !== false &&
      !retiring &&
      !draining &&
      table.retirableDigests > 0 &&
      (table.freeBytes < table.capacityBytes * RETIRE_BELOW_FREE_SHARE ||
        (retiresEarly && table.retirableDigests >= retireAfterDigests))
    );
  }

  /**
   * Hands the store the oldest digests, and lets go of them once it holds them: until then the
   * shard answers for them itself.
   */
  function retire(): void {
    const digests = table.retirable(RETIRE_MAX_DIGESTS);
    retiring = true;
    track(
      withStore((watermark) => bookkeeping.retireTimerDigests({ shard, ...watermark, digests })).then(() => {
        retiring = false;
        table.dropRetired(digests.map((retired) => retired.digest.id));
        const until = Math.max(...digests.map((retired) => retired.forgetAt));
        paging.retiredUntil = Math.max(paging.retiredUntil ?? until, until);
      }),
    );
  }

  function setNextParked(at: number | undefined): void {
    if (at === undefined) delete paging.nextDueAt;
    else paging.nextDueAt = at;
  }

  /** Runs one store operation after those before it, with the watermark as it is then. */
  function withStore<T>(work: (watermark: Pick<ParkRequest, 'watermark'>) => Promise<T>): Promise<T> {
    const result = storeTurn.then(() => work(paging.watermark ? { watermark: paging.watermark } : {}));
    storeTurn = result.catch(() => undefined);
    return result;
  }

  /** When the next page-in is due: a page ahead of the earliest parked timer, one page after the last. */
  function nextPageAt(): number {
    if (!pages || paging.nextDueAt === undefined || pagingIn || draining) return Infinity;
    return Math.max(paging.nextDueAt - PAGE_AHEAD_MS, lastPageAt + PAGE_EVERY_MS);
  }

  function pageInDue(): boolean {
    return nextPageAt() <= Date.now();
  }

  /**
   * Takes back the parked timers due within a page ahead, as many as the shard has room for. A
   * page cut short is followed by the next at once while the shard has room; a shard without
   * room waits a page, and its timers fire late.
   */
  function pageIn(): void {
    const now = Date.now();
    lastPageAt = now;
    const roomBytes = table.freeBytes;
    if (roomBytes < MIN_PAGE_ROOM_BYTES) {
      log.warn('timer shard too full to page in its parked timers', { shard, nextDueAt: paging.nextDueAt });
      return;
    }
    pagingIn = true;
    const upTo = now + PAGE_AHEAD_MS;
    track(
      withStore((watermark) =>
        bookkeeping.pageInParkedTimers({ shard, ...watermark, upTo, limit: PAGE_MAX_TIMERS, roomBytes }),
      ).then((result) => {
        pagingIn = false;
        table.takeBack(result.timers, Date.now());
        if (result.watermark !== undefined) paging.watermark = result.watermark;
        setNextParked(result.nextDueAt);
        if (result.timers.length > 0 && (result.nextDueAt ?? Infinity) <= upTo) lastPageAt = -Infinity;
      }),
    );
  }

  /** When the loop must next wake: the table's earliest wake-up or the next page-in. */
  function nextWakeUp(): number {
    return Math.min(table.nextWakeAt() ?? Infinity, nextPageAt());
  }

  /** Sets what wakes the loop for `at`, unless one set already does by then. */
  function armFor(at: number): void {
    const wake = wakeFor(at);
    if (wake?.alarm !== undefined) ringAt(wake.alarm);
    else if (wake?.timer !== undefined) setTimer(wake.timer);
  }

  /**
   * What would wake the loop for `at`, if nothing set does by then. Before TIMER_ALARM_PATCH (or
   * with alarms off), a durable timer. Since: an alarm on its tick when `at` is within
   * `alarmWithinMs`, whatever durable timer is set (the server may be holding it); when further
   * off, a durable timer half that early, to set the alarm; a durable timer for `at` itself when
   * every alarm is taken.
   */
  function wakeFor(at: number): { alarm?: number; timer?: number } | undefined {
    if (at === Infinity) return undefined;
    const timer = (when: number) => (when < earliestArmed() ? { timer: when } : undefined);
    if (!alarming) return timer(at);
    if (at - Date.now() > alarmWithinMs) return timer(at - alarmWithinMs / 2);
    const tick = Math.ceil(at / ALARM_TICK_MS) * ALARM_TICK_MS;
    if (tick >= earliestAlarm()) return undefined;
    return alarms.size < MAX_ALARMS ? { alarm: tick } : timer(at);
  }

  function setTimer(at: number): void {
    armed.add(at);
    void sleep(Math.max(1, at - Date.now())).then(() => {
      armed.delete(at);
      rang = true;
    });
  }

  /**
   * Starts an alarm for `tick`; it wakes the loop however it ends. It times out on the server
   * ALARM_GRACE_MS after its tick, so a worker lost meanwhile delays the wake-up by no more.
   */
  function ringAt(tick: number): void {
    alarms.add(tick);
    const rings = () => {
      alarms.delete(tick);
      rang = true;
    };
    const alarm = proxyActivities<TimerShardActivities>({
      scheduleToCloseTimeout: Math.max(1, tick - Date.now()) + ALARM_GRACE_MS,
      retry: { maximumAttempts: 1 },
    });
    void alarm.ringShardAlarm({ at: tick }).then(rings, rings);
  }

  /**
   * Starts writing the state changes made since the last write, unless one is under way. A run
   * that archives closed timers keeps writing while it drains, so that the snapshot, whose size is
   * what the shard's capacity bounds, does not carry a busy shard's backlog of events; before
   * that, a draining shard started none and the next run wrote what was left.
   */
  function writeEvents(): void {
    if (writingEvents || (draining && !archiving) || !table.hasEvents()) return;
    const events = table.takeEvents();
    if (!patched(TIMER_EVENTS_PATCH)) return;
    writingEvents = true;
    track(
      bookkeeping.recordTimerEvents({ shard, events }).then(() => {
        writingEvents = false;
      }),
    );
  }

  /**
   * Bookkeeping gets an activity of its own only when no delivery will carry it soon: none runs
   * (whose outcome would join it) and the next wake-up is more than `BOOKKEEPING_HOLD_MS` away,
   * or it has waited that long already.
   *
   * A draining shard writes while deliveries still run, so the snapshot carries no backlog, and
   * whatever closed timers wait (the snapshot has no place for them). Events alone, once no
   * delivery runs, go into the snapshot: a busy shard keeps firing while it drains, and writing
   * each round trip's events kept it from ever finding nothing left to write.
   */
  function bookkeepingDue(): boolean {
    if (!hasBookkeeping()) return false;
    const now = Date.now();
    heldSince ??= now;
    if (writingEvents) return false;
    if (draining) return unarchived.length > 0 || table.deliveriesInFlight > 0;
    if (now - heldSince >= BOOKKEEPING_HOLD_MS) return true;
    const nextWake = table.nextWakeAt() ?? Infinity;
    return table.deliveriesInFlight === 0 && nextWake - now > BOOKKEEPING_HOLD_MS;
  }

  /** One activity for the events and the closed timers held since the last write. */
  function writeBookkeeping(): void {
    if (!bookkeepingDue()) return;
    const carried = takeBookkeeping()!;
    track(
      bookkeeping.recordShardBookkeeping(carried).then(() => {
        writingEvents = false;
      }),
    );
  }

  /** What bookkeeping waits, for one write; none while a write is under way (they go in order). */
  function takeBookkeeping(): ShardBookkeeping | undefined {
    if (writingEvents || !hasBookkeeping()) return undefined;
    writingEvents = true;
    heldSince = undefined;
    return { shard, events: table.takeEvents(), archived: unarchived.splice(0, ARCHIVE_BATCH) };
  }

  function hasBookkeeping(): boolean {
    return table.hasEvents() || unarchived.length > 0;
  }

  /** A write that failed goes back in front of what waits, to be written again first. */
  function putBack(carried: ShardBookkeeping): void {
    table.returnEvents(carried.events);
    unarchived.unshift(...carried.archived);
    writingEvents = false;
  }

  function earliestArmed(): number {
    return armed.size === 0 ? Infinity : Math.min(...armed);
  }

  function earliestAlarm(): number {
    return alarms.size === 0 ? Infinity : Math.min(...alarms);
  }

  /**
   * No durable timer set is due within CLOSE_GUARD_MS, and no alarm is under way (its completion
   * would reach a closed run): a closing task now will not be caught.
   */
  function quiet(): boolean {
    return earliestArmed() - Date.now() > CLOSE_GUARD_MS && alarms.size === 0;
  }

  function historyIsLong(): boolean {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      info.historyLength >= settings.maxHistoryEvents ||
      info.historySize >= settings.maxHistoryBytes
    );
  }

  function run(effect: Effect): void {
    switch (effect.kind) {
      case 'deliver': {
        // Checked at firing too: the allow-list may have changed since the timer was created,
        // and a timer created before creators were recorded has none to act as.
        const refusal =
          effect.action.type !== 'webhook' && patched(TIMER_AUTHORITY_PATCH)
            ? timerActionRefusal(effect.action, effect.createdBy, timerTargets)
            : undefined;
        if (refusal) {
          const error = `refused: ${refusal.reason}`;
          log.warn('timer action refused at firing', { shard, timerId: effect.timerId, error });
          table.onAttemptResult(effect.timerId, { ok: false, retryable: false, error }, Date.now());
          return;
        }
        track(deliver(effect).then((outcome) => table.onAttemptResult(effect.timerId, outcome, Date.now())));
        return;
      }
      case 'send':
        track(send(effect.shard, effect.message));
        return;
      case 'deadLetter':
        track(bookkeeping.recordTimerDeadLetter(effect.record));
        return;

      case 'fired':
        // A timer held by an owner halt waited for the lift, not for the shard.
        if (effect.heldByHalt === undefined) observeTimerLateness(effect.latenessMs / 1000, effect.action);
        return;
      case 'warn':
        log.warn(effect.message, { shard, timerId: effect.timerId });
        return;
    }
  }

  /** Runs an effect beside the loop; a failure is rethrown by the loop, never swallowed. */
  function track(task: Promise<void>): void {
    running++;
    void task.then(
      () => {
        running--;
      },
      (error: unknown) => {
        running--;
        taskFailure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
  }

  /**
   * One activity for the batch, carrying `carried` if given; its failure (a lost worker, a
   * timeout) fails every attempt in it, and the bookkeeping is written again.
   */
  async function deliverWebhooks(
    batch: DeliveryEffect[],
    carried?: ShardBookkeeping,
  ): Promise<AttemptOutcome[]> {
    let outcomes: AttemptOutcome[];
    try {
      if (carried === undefined) {
        outcomes = await deliveries.deliverTimerWebhooks({ deliveries: batch.map(webhookOf) });
      } else {
        const result = await deliveries.deliverTimerWebhooksWithBookkeeping({
          deliveries: batch.map(webhookOf),
          bookkeeping: carried,
        });
        outcomes = result.outcomes;
        if (result.bookkeepingError === undefined) writingEvents = false;
        else {
          log.warn('timer shard bookkeeping not written; writing it again', {
            shard,
            error: result.bookkeepingError,
          });
          putBack(carried);
        }
      }
    } catch (error) {
      if (carried !== undefined) putBack(carried);
      if (!(error instanceof TemporalFailure)) throw error;
      const failed: AttemptOutcome = { ok: false, retryable: true, error: describe(error) };
      return batch.map(() => failed);
    }
    if (outcomes.length !== batch.length) {
      throw ApplicationFailure.nonRetryable(
        `a batch of ${batch.length} webhooks got ${outcomes.length} outcomes`,
      );
    }
    return outcomes;
  }

  async function deliver(effect: DeliveryEffect): Promise<AttemptOutcome> {
    const { action } = effect;
    try {
      switch (action.type) {
        case 'webhook':
          // The loop batches webhooks; one reaching here is a batch of one.
          return (await deliverWebhooks([effect]))[0]!;
        case 'update':
          return await deliveries.deliverTimerUpdate({
            workflowId: action.workflowId,
            updateName: action.updateName,
            args: action.args ?? [],
            updateId: effect.deliveryId,
          });
        case 'signal':
          // Sent by the workflow itself: the command is recorded once in history and Temporal
          // deduplicates it, so no activity (and no chance of a duplicate) is involved.
          await getExternalWorkflowHandle(action.workflowId).signal(
            action.signalName,
            ...(action.args ?? []),
          );
          return { ok: true };
      }
    } catch (error) {
      // A lost or timed-out activity, or a signal to a workflow that does not exist yet.
      if (error instanceof TemporalFailure) return { ok: false, retryable: true, error: describe(error) };
      throw error;
    }
  }

  async function send(target: number, message: ShardMessage): Promise<void> {
    const workflowId = shardWorkflowId(idPrefix, target);
    try {
      await getExternalWorkflowHandle(workflowId).signal(shardMessageSignal, message);
    } catch (error) {
      if (!(error instanceof TemporalFailure)) throw error;
      // The target shard was never started (or was terminated): start it with the message.
      await bookkeeping.signalTimerShard({
        workflowId,
        taskQueue: workflowInfo().taskQueue,
        input: { shard: target, shardCount, idPrefix, ...(input.settings && { settings: input.settings }) },
        message,
      });
    }
  }
}

function webhookOf(effect: DeliveryEffect): WebhookDelivery {
  const { action } = effect;
  if (action.type !== 'webhook') throw new TypeError(`timer ${effect.timerId} has no webhook action`);
  return {
    url: action.url,
    ...(action.headers && { headers: action.headers }),
    ...(action.payload !== undefined && { payload: action.payload }),
    timerId: effect.timerId,
    deliveryId: effect.deliveryId,
    escalationLevel: effect.level,
    attempt: effect.attempt,
    dueAt: new Date(effect.dueAt).toISOString(),
    firedAt: new Date(effect.firedAt).toISOString(),
  };
}

function parseOrRefuse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const reasons = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw ApplicationFailure.create({
    type: TimerFailure.invalid,
    message: reasons.join('; '),
    nonRetryable: true,
  });
}

function admitted(check: HaltCheck): Extract<HaltCheck, { ok: true }> {
  if (check.ok) return check;
  throw ApplicationFailure.create({ type: TimerFailure.haltRefused, message: check.why, nonRetryable: true });
}

function refuseCreate(check: CreateCheck): void {
  if (!check.ok) createRefused(check);
}

function createRefused(check: Exclude<CreateCheck, { ok: true }>): never {
  if (check.reason === 'forwarded') refuseForwarded(check.shard);
  const refusals = {
    conflict: [TimerFailure.conflict, `timer ${check.timerId} exists with a different spec`],
    full: [TimerFailure.shardFull, `the shard holding ${check.timerId} is at capacity`],
    wrongShard: [TimerFailure.wrongShard, `timer ${check.timerId} belongs to another shard`],
  } as const;
  const [type, message] = refusals[check.reason];
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

function refuseActions(
  spec: CreateTimerRequest,
  createdBy: Creator | undefined,
  targets: Parameters<typeof timerActionRefusal>[2],
): void {
  for (const { path, action } of actionsOf(spec)) {
    const refusal = timerActionRefusal(action, createdBy, targets);
    if (refusal) {
      throw ApplicationFailure.create({
        type: TimerFailure.forbidden,
        message: `${[...path, refusal.field].join('.')}: ${refusal.reason}`,
        nonRetryable: true,
      });
    }
  }
}

/** The id was placed in another shard while this one was full; the caller follows it there. */
function refuseForwarded(shard: number): never {
  throw ApplicationFailure.create({
    type: TimerFailure.forwarded,
    message: `the timer is held by shard ${shard}, where it was placed while this one was full`,
    details: [shard],
    nonRetryable: true,
  });
}

function refuseCommand(check: CommandCheck, verb: string): void {
  if (check.ok) return;
  if (check.reason === 'forwarded') refuseForwarded(check.shard);
  if (check.reason === 'forbidden') {
    throw ApplicationFailure.create({
      type: TimerFailure.forbidden,
      message: `only the timer's creator or a role ranked at least as high may have it ${verb}`,
      nonRetryable: true,
    });
  }
  if (check.reason === 'notFound') {
    throw ApplicationFailure.create({
      type: TimerFailure.notFound,
      message: 'no such timer',
      nonRetryable: true,
    });
  }
  throw ApplicationFailure.create({
    type: TimerFailure.invalidState,
    message: `a ${check.state} timer cannot be ${verb}`,
    nonRetryable: true,
  });
}

function describe(error: TemporalFailure): string {
  const message = error.cause?.message ? `${error.message}: ${error.cause.message}` : error.message;
  return message.slice(0, 500);
}
