/**
 * Where a mission is, for a person in the Temporal Web UI (docs/observability.md#the-web-ui): the
 * workflow's current details (phase, beat, HEAD, what it waits for, the last decision) and
 * summaries on the timers it waits with. Current details are answered from memory by the SDK's
 * metadata query and never reach history; timer summaries do, so they start with
 * TIMER_SUMMARIES_PATCH.
 */
import { condition, patched, setCurrentDetails, sleep, type TimerOptions } from '@temporalio/workflow';
import { tryParseHlc } from '../../schemas/hlc';
import type { MissionPhase } from '../../schemas/mission';
import type { StateDocument } from '../../schemas/state-document';
import type { WindowClass } from '../../schemas/statechart';
import { isOpen, nextOpening, stateHash, windowAt, type MachineConfig } from '../statechart';

/** The patch that gives the mission's window and approval timers a summary in their history events. */
export const TIMER_SUMMARIES_PATCH = 'swoosh-timer-summaries-v1';

/** What the details are read from. */
export interface DescribedMission {
  readonly state: StateDocument;
  readonly machine: MachineConfig;
  readonly config: { readonly orchestratorKey: string };
  phase(): MissionPhase;
}

/** `10:42:05 UTC`: workflow time, so the same text on every replay. */
function clock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

function signerName(m: DescribedMission, signer: string | null): string {
  if (signer === null) return 'nobody';
  if (signer === m.config.orchestratorKey) return 'the orchestrator';
  return signer.length > 20 ? `${signer.slice(0, 20)}…` : signer;
}

/** The opening of a window class, or when the open one closes: `WORK window opens 10:42:05 UTC`. */
function windowText(m: DescribedMission, cls: WindowClass, now: number): string {
  const schedule = m.machine.schedule;
  const name = cls.toUpperCase();
  if (isOpen(schedule, cls, now)) {
    const w = windowAt(schedule, now);
    return `${name} window ${w.id} closes ${clock(w.phaseEnd)}`;
  }
  return `${name} window opens ${clock(nextOpening(schedule, cls, now))}`;
}

/** What the mission waits for now, derived from its state and the window schedule. */
export function waitingFor(m: DescribedMission, now: number): string {
  const s = m.state;
  switch (m.phase()) {
    case 'TERMINATED':
      return `nothing: terminated${s.terminal.rationale ? ` (${s.terminal.rationale})` : ''}`;
    case 'QUARANTINED':
      return `the quarantine to be lifted${s.policy.rationale ? ` (${s.policy.rationale})` : ''}`;
    case 'PAUSED':
      return `an owner to resume it${s.control.reason ? ` (paused: ${s.control.reason})` : ''}`;
    case 'RECOVERY':
      return 'a new council quorum certificate (signed votes) to end the recovery';
    case 'UNINITIALIZED':
    case 'LICENSE_CHECK':
      return 'a valid licence (KACHING)';
    default:
      break;
  }
  const lifecycle = (['ingestion', 'council', 'environment'] as const).filter((r) => s[r].phase !== 'READY');
  const exec = s.execution;
  if (lifecycle.length > 0 && (exec.phase === 'IDLE' || exec.phase === 'PLAN'))
    return `the lifecycle regions: ${lifecycle.map((r) => `${r} ${s[r].phase}`).join(', ')}`;
  switch (exec.phase) {
    case 'IDLE':
      return `the ${windowText(m, 'plan', now)} to plan beat ${exec.beat + 1}`;
    case 'PLAN':
      return `the ${windowText(m, 'work', now)} to start the agents`;
    case 'WORK':
      return `the agents' evidence (${exec.tasks.length} task${exec.tasks.length === 1 ? '' : 's'}), then the ${windowText(m, 'review', now)}`;
    case 'REVIEW': {
      const approvals = exec.approvals.filter((a) => a.decision === 'approve').length;
      return `${approvals} of ${m.machine.approvalsRequired} approvals, ${windowText(m, 'review', now)}`;
    }
    case 'REVERB':
      return `the next window: ${windowText(m, 'plan', now)}`;
  }
}

/** The current-details text: a Markdown list, readable raw too (`temporal workflow metadata`). */
export function describeMission(m: DescribedMission, head: string, now: number): string {
  const s = m.state;
  const exec = s.execution;
  const decidedAt = s.hlc_last === null ? null : tryParseHlc(s.hlc_last);
  const last =
    s.head.transition === null
      ? 'none yet'
      : `#${s.head.seq} ${s.head.transition} by ${signerName(m, s.head.signer)}${decidedAt ? ` at ${clock(decidedAt.wall)}` : ''}`;
  return [
    `- **Phase:** ${m.phase()}, execution ${exec.phase}, beat ${exec.beat}`,
    `- **Waiting for:** ${waitingFor(m, now)}`,
    `- **HEAD:** #${s.head.seq} ${head}`,
    `- **Last decision:** ${last}`,
    `- **Regions:** licence ${s.boot.phase}, ingestion ${s.ingestion.phase}, council ${s.council.phase}, ` +
      `environment ${s.environment.phase}, control ${s.control.phase}, policy ${s.policy.phase}`,
  ].join('\n');
}

/** Keeps the workflow's current details in step with the mission. */
export class CurrentDetails {
  readonly #mission: DescribedMission;
  /** HEAD's hash with the state it belongs to, so an unchanged state is never hashed again. */
  #head: { state: StateDocument; hash: string } | undefined;
  #shown = '';

  constructor(mission: DescribedMission) {
    this.#mission = mission;
  }

  /** Renders the details again; `head` is the hash of the current state when the caller has it. */
  refresh(head?: string): void {
    const { state } = this.#mission;
    if (head !== undefined) this.#head = { state, hash: head };
    else if (this.#head?.state !== state) this.#head = { state, hash: stateHash(state) };
    const text = describeMission(this.#mission, this.#head.hash, Date.now());
    if (text === this.#shown) return;
    this.#shown = text;
    setCurrentDetails(text);
  }
}

/** Timer options with `summary`, for timers created since TIMER_SUMMARIES_PATCH. */
export function summarised(summary: string): TimerOptions | undefined {
  return patched(TIMER_SUMMARIES_PATCH) ? { summary } : undefined;
}

/** A durable sleep until `cls` opens at `target`, named in the Web UI's timeline. */
export function sleepUntilWindow(cls: WindowClass, target: number): Promise<void> {
  return sleep(
    Math.max(1, target - Date.now()),
    summarised(`wait for the ${cls.toUpperCase()} window (${clock(target)})`),
  );
}

/** Waits for enough approvals until the review window `windowId` closes at `closesAt`; false on time-out. */
export function approvalsUntil(ok: () => boolean, windowId: string, closesAt: number): Promise<boolean> {
  const timeout = Math.max(1, closesAt - Date.now());
  const options = summarised(`collect approvals until REVIEW window ${windowId} closes (${clock(closesAt)})`);
  return options ? condition(ok, timeout, options) : condition(ok, timeout);
}
