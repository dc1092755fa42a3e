/**
 * The decision id had three spellings (the statechart protocol, the ledger, owner controls); it
 * now has one. The ids already handed out to callers and written into ledgers must not change, so
 * each former caller's ids are pinned here as literals.
 */
import { describe, expect, it } from 'vitest';
import { decisionId } from '../../schemas/decision-id';
import { OWNER_RECORD_SEQ_BASE } from '../../workflows/mission/owner-controls';

describe('the decision id', () => {
  it('names a statechart decision as the protocol always has', () => {
    expect(decisionId({ mission: 'm-test', region: 'control', transition: 'Control_Pause', seq: 1 })).toBe(
      'ucxl://swoosh:m-test@control/Control_Pause/1',
    );
  });

  it('names a ledger record as the ledger always has, whatever characters the mission id holds', () => {
    expect(
      decisionId({ mission: 'team:alpha', region: 'council', transition: 'Council_QuorumCert', seq: 3 }),
    ).toBe('ucxl://swoosh:team:alpha@council/Council_QuorumCert/3');
  });

  it('names an owner command as owner controls always have, past the statechart sequence', () => {
    expect(
      decisionId({
        mission: '7e8ef613',
        region: 'control',
        transition: 'Owner_Pause',
        seq: OWNER_RECORD_SEQ_BASE + 2,
      }),
    ).toBe('ucxl://swoosh:7e8ef613@control/Owner_Pause/1099511627778');
  });

  it('reads its coordinates from a record as it stands', () => {
    const record = {
      mission: 'm-1',
      region: 'council',
      transition: 'Council_Elect',
      seq: 0,
      index: 7,
      hash: 'x',
    };
    expect(decisionId(record)).toBe('ucxl://swoosh:m-1@council/Council_Elect/0');
  });
});
