import { describe, expect, it } from 'vitest';
import type { TransitionName } from '../../schemas/statechart';
import { hashCanonical } from '../../schemas/hash';
import {
  checkStateInvariants,
  checkStepInvariants,
  isWorkTransition,
} from '../../workflows/statechart/invariants';
import type { Accepted, ApplyResult } from '../../workflows/statechart/protocol';
import type { StateDocument } from '../../schemas/state-document';
import { Harness, memberEntries, type StepOptions } from './support/harness';

/** A real accepted step, to be bent into a violation. */
function step(h: Harness, name: TransitionName, inputs: Record<string, unknown>, options: StepOptions = {}) {
  const pre = h.state;
  const result = h.must(name, inputs, options);
  return { pre, post: h.state, result };
}

const withDecision = (r: Accepted, patch: Partial<Accepted['decision']>): Accepted => ({
  ...r,
  decision: { ...r.decision, ...patch },
});
const names = (vs: { invariant: string }[]) => vs.map((v) => v.invariant);

describe('the invariant checker', () => {
  it('finds nothing wrong with a sound run', () => {
    const h = new Harness().driveLicensed().driveIngestionReady().driveCouncilReady().driveEnvironmentReady();
    const checked = [
      step(h.toWindow('plan'), 'Execution_Enter', h.planInputs()),
      step(h.toWindow('work'), 'Execution_Work', { tasks: ['t'] }),
      step(h.toWindow('review'), 'Execution_Review', {}, { evidence: ['ucxl://e'] }),
      step(h, 'Control_Degrade', { reason: 'churn' }),
      step(h, 'Environment_Degrade', { checks: [{ name: 'api', ok: false }] }),
      step(h, 'Environment_Ready', { checks: [{ name: 'api', ok: true }] }),
    ];
    for (const s of checked) expect(checkStepInvariants(s.pre, s.post, s.result, h.config)).toEqual([]);
    expect(checkStateInvariants(h.state)).toEqual([]);
  });

  it('detects an HLC that went backwards', () => {
    const h = new Harness();
    h.must('Control_Pause', { reason: 'x' });
    const { pre, post, result } = step(h, 'Control_Resume', { reason: 'y' });
    const bent = { ...post, hlc_last: '2025-10-18T00:00:00.000+00:00#0' } as StateDocument;
    expect(names(checkStepInvariants(pre, bent, result, h.config))).toContain('hlc-monotonic');
  });

  it('detects a second epoch advance, a skipped one, and a write to another region', () => {
    const h = new Harness();
    const { pre, post, result } = step(h, 'Control_Pause', { reason: 'x' });
    const twoEpochs = { ...post, epoch: { ...post.epoch, policy: post.epoch.policy + 1 } };
    expect(names(checkStepInvariants(pre, twoEpochs, result, h.config))).toContain('single-epoch-advance');
    const noEpoch = { ...post, epoch: pre.epoch };
    expect(names(checkStepInvariants(pre, noEpoch, result, h.config))).toContain('single-epoch-advance');
    const leak = { ...post, policy: { ...post.policy, rationale: 'changed on the side' } } as StateDocument;
    expect(names(checkStepInvariants(pre, leak, result, h.config))).toContain('region-isolation');
  });

  it('detects a rejection or a repeat that changed the state', () => {
    const h = new Harness();
    const pre = h.state;
    const rejected: ApplyResult = {
      accepted: false,
      rejected: true,
      failing_guard: 'schema',
      reasons: ['x'],
      outcomes: [],
    };
    const changed = { ...pre, control: { phase: 'PAUSED', reason: 'x' } } as StateDocument;
    expect(names(checkStepInvariants(pre, changed, rejected, h.config))).toEqual(['no-change-on-reject']);
    expect(checkStepInvariants(pre, pre, rejected, h.config)).toEqual([]);
  });

  it('detects an EXECUTION entry without all regions READY or with a plan off the regions’ hashes', () => {
    const h = new Harness().driveLifecycleReady().toWindow('plan');
    const { pre, post, result } = step(h, 'Execution_Enter', h.planInputs());
    const notReady = { ...pre, council: { ...pre.council, phase: 'TOOLING_SYNC' } } as StateDocument;
    expect(
      names(checkStepInvariants(notReady, { ...post, council: notReady.council }, result, h.config)),
    ).toContain('execution-entry');
    const offLock = {
      ...post,
      execution: { ...post.execution, plan_lock: { ...post.execution.plan_lock!, index_version: 7 } },
    } as StateDocument;
    expect(names(checkStepInvariants(pre, offLock, result, h.config))).toContain('execution-entry');
  });

  it('detects a beat step that ran on a plan the regions no longer match', () => {
    const h = new Harness().driveExecuting().toWindow('work');
    const { pre, post, result } = step(h, 'Execution_Work', { tasks: ['t'] });
    const swapped = { ...pre, ingestion: { ...pre.ingestion, index_version: 2 } };
    expect(
      names(checkStepInvariants(swapped, { ...post, ingestion: swapped.ingestion }, result, h.config)),
    ).toContain('plan-current');
  });

  it('detects a quorum certificate for another set, a set hash off its members, and a certified phase without one', () => {
    const h = new Harness().driveLicensed().driveCouncilReady();
    const s = h.state;
    expect(checkStateInvariants(s)).toEqual([]);
    const wrongCert = {
      ...s,
      council: {
        ...s.council,
        quorum_certificate: { ...s.council.quorum_certificate!, council_set_hash: hashCanonical('x') },
      },
    };
    expect(names(checkStateInvariants(wrongCert as StateDocument))).toContain('quorum-certificate');
    const wrongSet = { ...s, council: { ...s.council, members: memberEntries(['ada', 'brin']) } };
    expect(names(checkStateInvariants(wrongSet as StateDocument))).toContain('quorum-certificate');
    const noCert = { ...s, council: { ...s.council, quorum_certificate: null } };
    expect(names(checkStateInvariants(noCert as StateDocument))).toContain('quorum-certificate');
    const thinCert = {
      ...s,
      council: { ...s.council, quorum_certificate: { ...s.council.quorum_certificate!, votes: [] } },
    };
    expect(names(checkStateInvariants(thinCert as StateDocument))).toContain('quorum-certificate');
  });

  it('detects leaving QUARANTINED by anything but a release or update, and work done under it', () => {
    const h = new Harness().driveLicensed();
    h.must('Policy_Quarantine', { rationale: 'r', breaches: ['b'] }, { io: { policy: { breach: true } } });
    const { pre, post, result } = step(h, 'Control_Pause', { reason: 'x' });
    const escaped = { ...post, policy: { ...post.policy, phase: 'CLEAR' } } as StateDocument;
    expect(names(checkStepInvariants(pre, escaped, result, h.config))).toContain('quarantine-sticky');
    const work = withDecision(result, { transition: 'Ingestion_Fetch', region: 'ingestion' });
    const moved = {
      ...pre,
      ingestion: { ...pre.ingestion, phase: 'FETCH' },
      epoch: { ...pre.epoch, ingestion: pre.epoch.ingestion + 1 },
      head: post.head,
      hlc_last: post.hlc_last,
    } as StateDocument;
    expect(names(checkStepInvariants(pre, moved, work, h.config))).toContain('quarantine-sticky');
    const release = step(h, 'Policy_Release', { rationale: 'ok' }, { signer: undefined });
    expect(checkStepInvariants(release.pre, release.post, release.result, h.config)).toEqual([]);
  });

  it('detects external work without a live licence', () => {
    const h = new Harness();
    h.must('Control_Pause', { reason: 'x' });
    const { pre, post, result } = step(h, 'Control_Resume', { reason: 'y' });
    const work = withDecision(result, { transition: 'Ingestion_Fetch', region: 'ingestion' });
    const moved = {
      ...pre,
      ingestion: { ...pre.ingestion, phase: 'FETCH' },
      epoch: { ...pre.epoch, ingestion: pre.epoch.ingestion + 1 },
      head: post.head,
      hlc_last: post.hlc_last,
    } as StateDocument;
    expect(names(checkStepInvariants(pre, moved, work, h.config))).toContain('licence');
    expect(isWorkTransition('Ingestion_Fetch')).toBe(true);
    expect(isWorkTransition('Environment_Deprovision')).toBe(false);
    expect(isWorkTransition('Control_Pause')).toBe(false);
  });

  it('detects REVIEW outside its window', () => {
    const h = new Harness().driveExecuting().toWindow('work');
    h.must('Execution_Work', { tasks: ['t'] });
    h.toWindow('review');
    const { pre, post, result } = step(h, 'Execution_Review', {}, { evidence: ['ucxl://e'] });
    expect(checkStepInvariants(pre, post, result, h.config)).toEqual([]);
    const early = withDecision(result, {
      decided_at: new Date(Date.parse(result.decision.decided_at) - 10 * 60_000).toISOString(),
    });
    expect(names(checkStepInvariants(pre, post, early, h.config))).toContain('window');
  });

  it('detects anything happening after termination', () => {
    const h = new Harness();
    const { pre, post, result } = step(h, 'Control_Pause', { reason: 'x' });
    const dead = { ...pre, terminal: { phase: 'TERMINATED', rationale: 'x' } } as StateDocument;
    expect(
      names(checkStepInvariants(dead, { ...post, terminal: dead.terminal }, result, h.config)),
    ).toContain('terminal-absorbing');
  });

  it('detects an entered EXECUTION without a plan lock', () => {
    const s = new Harness().state;
    expect(names(checkStateInvariants({ ...s, execution: { ...s.execution, phase: 'WORK' } }))).toEqual([
      'execution-entry',
    ]);
  });
});
