/**
 * The timer event log on disk (host/timer-events.ts): a batch retried after a crash is not
 * written twice, a line torn by a crash is cut and written again, every line verifies under the
 * orchestrator key, and a tail yields each event once, from the start or from the end.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { generateSigner, type Signer } from '../../host/keys';
import {
  createTimerEventLog,
  TimerEventTail,
  timerEventFile,
  verifyTimerEvent,
} from '../../host/timer-events';
import { SignedTimerEvent, type TimerEvent } from '../../schemas/timer-events';

let dir: string;
let signer: Signer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swoosh-timer-event-log-'));
  ({ signer } = generateSigner());
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const event = (seq: number): TimerEvent => ({
  shard: 3,
  seq,
  timerId: `t-${seq}`,
  state: 'Armed',
  at: new Date(Date.UTC(2026, 11, 2, 9, 0, seq)).toISOString(),
});

async function logged(): Promise<SignedTimerEvent[]> {
  const text = await readFile(timerEventFile(dir, 3), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => SignedTimerEvent.parse(JSON.parse(line)));
}

test('a retried batch is written once, a torn line is cut, and every line is signed', async () => {
  const log = createTimerEventLog(dir, signer);
  await log.append(3, [event(1), event(2), event(3)]);
  // The activity retried after a crash that came after its write: the same events, and one more.
  await log.append(3, [event(2), event(3), event(4)]);
  expect((await logged()).map((e) => e.seq)).toEqual([1, 2, 3, 4]);

  // A crash in the middle of the next write, then a new worker retrying it.
  await appendFile(timerEventFile(dir, 3), '{"shard":3,"seq":5,"timerId":"t-');
  await createTimerEventLog(dir, signer).append(3, [event(5)]);
  const lines = await logged();
  expect(lines.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
  for (const line of lines) expect(verifyTimerEvent(line, signer.keyId)).toBe(true);
  // A changed line, or another key, does not verify.
  expect(verifyTimerEvent({ ...lines[0]!, state: 'Fired' }, signer.keyId)).toBe(false);
  expect(verifyTimerEvent(lines[0]!, generateSigner().signer.keyId)).toBe(false);
});

test('a tail yields each event once, after the number it starts from or from the end', async () => {
  const path = timerEventFile(dir, 3);
  const log = createTimerEventLog(dir, signer);
  const fromTwo = new TimerEventTail(path, 2);
  const atEnd = await TimerEventTail.atEnd(path);
  expect(atEnd.lastSeq).toBe(5);
  expect((await fromTwo.next()).map((e) => e.seq)).toEqual([3, 4, 5]);
  expect(await atEnd.next()).toEqual([]);
  await log.append(3, [event(6)]);
  expect((await fromTwo.next()).map((e) => e.seq)).toEqual([6]);
  expect((await atEnd.next()).map((e) => e.seq)).toEqual([6]);
  expect(await fromTwo.next()).toEqual([]);
});
