/**
 * The Web UI's search attributes of a running mission: its phase, each region's phase and the
 * beat. Only what changed is upserted, and (from THROTTLED_ATTRIBUTES_PATCH on) at most once every
 * PUBLISH_EVERY_MS, because each upsert is a history event and a visibility write. The current
 * details (`current-details.ts`) are no history event and follow every change at once.
 */
import { patched, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import type { MissionPhase } from '../../schemas/mission';
import {
  BeatKey,
  CouncilPhaseKey,
  EnvironmentPhaseKey,
  ExecutionPhaseKey,
  IngestionPhaseKey,
  PhaseKey,
} from '../../schemas/search-attributes';
import type { StateDocument } from '../../schemas/state-document';
import { CurrentDetails, summarised, type DescribedMission } from './current-details';

/**
 * The patch that throttles the Web UI's search attributes to one upsert a second during a burst of
 * transitions. Each upsert is a history event and a visibility write on the server, which on a
 * busy mission cost more than the transition itself; the phase columns may now lag by up to
 * PUBLISH_EVERY_MS, and a timer brings them up to date after a burst.
 */
export const THROTTLED_ATTRIBUTES_PATCH = 'swoosh-throttled-attributes-v1';
const PUBLISH_EVERY_MS = 1_000;

/** What the attributes and details are read from, at the time they are published. */
export interface PublishedMission extends DescribedMission {
  readonly state: StateDocument;
  phase(): MissionPhase;
}

export class SearchAttributePublisher {
  readonly #mission: PublishedMission;
  readonly #attributes = new Map<string, string | number>();
  /** Workflow time of the last upsert, and whether a timer will publish what is still pending. */
  #publishedAt = Number.NEGATIVE_INFINITY;
  #publishPending = false;
  /** Set by `unthrottle`: every publish upserts at once, and no new timer is set. */
  #unthrottled = false;
  readonly #details: CurrentDetails;

  constructor(mission: PublishedMission) {
    this.#mission = mission;
    this.#details = new CurrentDetails(mission);
  }

  /**
   * For a run about to continue as new: from now on every publish upserts at once and sets no
   * timer. `timerPending` says when the timer set before has fired.
   */
  unthrottle(): void {
    this.#unthrottled = true;
  }

  /** Whether a publish timer is set and has not fired yet. */
  get timerPending(): boolean {
    return this.#publishPending;
  }

  /** Renders the current details again, for a wait whose text depends on the time. */
  describe(): void {
    this.#details.refresh();
  }

  /**
   * Upserts what changed, at most once every PUBLISH_EVERY_MS (a timer publishes what a burst
   * left unpublished). `immediately` skips the throttle, for the last word before the run ends.
   * `head` is the current state's hash when the caller already has it.
   */
  publish(immediately = false, head?: string): void {
    this.#details.refresh(head);
    const { state } = this.#mission;
    const wanted: [string, string | number][] = [
      [PhaseKey.name, this.#mission.phase()],
      [IngestionPhaseKey.name, state.ingestion.phase],
      [CouncilPhaseKey.name, state.council.phase],
      [EnvironmentPhaseKey.name, state.environment.phase],
      [ExecutionPhaseKey.name, state.execution.phase],
      [BeatKey.name, state.execution.beat],
    ];
    const changed = wanted.filter(([k, v]) => this.#attributes.get(k) !== v);
    if (changed.length === 0) return;
    if (!immediately && !this.#unthrottled && patched(THROTTLED_ATTRIBUTES_PATCH)) {
      const wait = this.#publishedAt + PUBLISH_EVERY_MS - Date.now();
      if (wait > 0) {
        if (!this.#publishPending) {
          this.#publishPending = true;
          void sleep(wait, summarised('publish the search attributes')).then(() => {
            this.#publishPending = false;
            this.publish();
          });
        }
        return;
      }
    }
    this.#publishedAt = Date.now();
    for (const [k, v] of changed) this.#attributes.set(k, v);
    const keys = {
      [PhaseKey.name]: PhaseKey,
      [IngestionPhaseKey.name]: IngestionPhaseKey,
      [CouncilPhaseKey.name]: CouncilPhaseKey,
      [EnvironmentPhaseKey.name]: EnvironmentPhaseKey,
      [ExecutionPhaseKey.name]: ExecutionPhaseKey,
    };
    upsertSearchAttributes(
      changed.map(([k, v]) =>
        k === BeatKey.name ? { key: BeatKey, value: v as number } : { key: keys[k]!, value: v as string },
      ),
    );
  }
}
