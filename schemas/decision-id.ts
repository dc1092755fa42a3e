/**
 * The one place a decision's UCXL address is spelled: `ucxl://swoosh:<mission>@<region>/<transition>/<seq>`.
 * The workflow answers it as a transition's `decision_id`, owner controls cite it as evidence,
 * and the ledger writes it into the record as `ucxl` (docs/ledger.md). All of them call this, so
 * the id a caller is given is always the one its record carries. Pure: it runs in the workflow
 * sandbox as well as in the ledger.
 */

/** What names a decision: the record's own fields (a draft, an entry or a record will do). */
export interface DecisionCoordinates {
  readonly mission: string;
  readonly region: string;
  readonly transition: string;
  readonly seq: number;
}

export function decisionId({ mission, region, transition, seq }: DecisionCoordinates): string {
  return `ucxl://swoosh:${mission}@${region}/${transition}/${seq}`;
}
