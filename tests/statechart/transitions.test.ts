import { describe, expect, it } from 'vitest';
import {
  REGION_NAMES,
  REGIONS,
  TRANSITION_NAMES,
  TRANSITIONS,
  type TransitionName,
} from '../../schemas/statechart';
import { hashCanonical } from '../../schemas/hash';
import { memberSetHash, stateHash } from '../../workflows/statechart/state';
import { deepFreeze } from '../../schemas/canonical-json';
import { type StateDocument } from '../../schemas/state-document';
import { enabledTransitions, reduce } from '../../workflows/statechart/reducer';
import type { TransitionEvent } from '../../workflows/statechart/handlers';
import { ACTORS, APPROVERS } from './support/keys';
import {
  Harness,
  HEALTHY_TOOLS,
  licence,
  memberEntries,
  TOOL_PINS,
  votesFor,
  type StepOptions,
} from './support/harness';

interface Case {
  /** Brings the harness to a state where the transition is enabled and its guards pass. */
  readonly setup: (h: Harness) => void;
  readonly inputs: (h: Harness) => Record<string, unknown>;
  readonly options?: (h: Harness) => StepOptions;
  /** What the transition did to its region. */
  readonly effect: (before: StateDocument, after: StateDocument, h: Harness) => void;
}

const quarantined = (h: Harness): void => {
  h.must(
    'Policy_Quarantine',
    { rationale: 'secret in artifact', breaches: ['secret in artifact'] },
    { io: { policy: { breach: true } } },
  );
};
const lapse = {
  io: { licence: { status: 'unreachable' as const, expires_at_ms: null, token_digest: null } },
};

const CASES: { readonly [K in TransitionName]: Case } = {
  Boot_LicenseCheck: {
    setup: () => undefined,
    inputs: () => ({ identities: { owner: ACTORS.owner.key, orchestrator: ACTORS.orchestrator.key } }),
    effect: (_b, a) =>
      expect(a.boot.identities).toEqual({ owner: ACTORS.owner.key, orchestrator: ACTORS.orchestrator.key }),
  },
  Boot_Licensed: {
    setup: (h) => void h.must('Boot_LicenseCheck', { identities: {} }),
    inputs: (h) => licence(h.now).inputs,
    options: (h) => ({ io: licence(h.now).io }),
    effect: (_b, a, h) =>
      expect(a.boot.licence).toEqual({
        status: 'valid',
        expires_at_ms: h.now + 7 * 86_400_000,
        token_digest: licence(0).inputs.token_digest,
        grace_until_ms: null,
      }),
  },
  Boot_LicenseGrace: {
    setup: (h) => void h.driveLicensed(),
    inputs: () => ({ reason: 'licence server unreachable' }),
    options: () => lapse,
    effect: (_b, a, h) =>
      expect(a.boot.licence).toMatchObject({
        status: 'grace',
        grace_until_ms: h.now + h.config.licenceGraceMs,
      }),
  },
  Boot_LicenseExpire: {
    setup: (h) => {
      h.driveLicensed().must('Boot_LicenseGrace', { reason: 'r' }, lapse);
      h.advance(h.config.licenceGraceMs);
    },
    inputs: () => ({}),
    effect: (_b, a) => expect(a.boot.licence.status).toBe('expired'),
  },
  Ingestion_Fetch: {
    setup: (h) => void h.driveLicensed(),
    inputs: () => ({ sources: ['urn:b', 'urn:a', 'https://example.org/x'] }),
    effect: (_b, a) => expect(a.ingestion.sources).toEqual(['https://example.org/x', 'urn:a', 'urn:b']),
  },
  Ingestion_Validate: {
    setup: (h) => void h.driveLicensed().must('Ingestion_Fetch', { sources: ['urn:a'] }),
    inputs: () => ({ content_hash: hashCanonical('content') }),
    effect: (_b, a) => expect(a.ingestion.content_hash).toBe(hashCanonical('content')),
  },
  Ingestion_Index: {
    setup: (h) => {
      h.driveLicensed().must('Ingestion_Fetch', { sources: ['urn:a'] });
      h.must('Ingestion_Validate', { content_hash: hashCanonical('content') });
    },
    inputs: () => ({ report_hash: hashCanonical('report'), passed: true, violations: [] }),
    effect: (_b, a) =>
      expect(a.ingestion.validation).toEqual({
        report_hash: hashCanonical('report'),
        passed: true,
        violations: [],
      }),
  },
  Ingestion_Ready: {
    setup: (h) => {
      h.driveLicensed().must('Ingestion_Fetch', { sources: ['urn:a'] });
      h.must('Ingestion_Validate', { content_hash: hashCanonical('content') });
      h.must('Ingestion_Index', { report_hash: hashCanonical('report'), passed: true, violations: [] });
    },
    inputs: () => ({ index_hash: hashCanonical('index') }),
    effect: (b, a) => {
      expect(a.ingestion.index_version).toBe(b.ingestion.index_version + 1);
      expect(a.ingestion.index_hash).toBe(hashCanonical('index'));
    },
  },
  Ingestion_Quarantine: {
    setup: (h) => {
      h.driveLicensed().must('Ingestion_Fetch', { sources: ['urn:a'] });
      h.must('Ingestion_Validate', { content_hash: hashCanonical('content') });
    },
    inputs: () => ({
      report_hash: hashCanonical('report'),
      violations: ['embedded credentials'],
      rationale: 'credentials in source',
    }),
    effect: (_b, a) => {
      expect(a.ingestion.rationale).toBe('credentials in source');
      expect(a.ingestion.validation).toMatchObject({ passed: false, violations: ['embedded credentials'] });
    },
  },
  Ingestion_RollbackIndex: {
    setup: (h) => void h.driveLicensed().driveIngestionReady(),
    inputs: () => ({ reason: 'bad index' }),
    effect: (b, a) => {
      expect(a.ingestion).toMatchObject({
        content_hash: null,
        index_hash: null,
        validation: null,
        sources: [],
        rollbacks: 1,
      });
      expect(a.ingestion.index_version).toBe(b.ingestion.index_version);
    },
  },
  Council_Elect: {
    setup: (h) => void h.driveLicensed(),
    inputs: () => ({ roles: ['reviewer', 'architect'], members: memberEntries(['cole', 'ada', 'brin']) }),
    effect: (_b, a) => {
      expect(a.council.members.map((m) => m.id)).toEqual(['ada', 'brin', 'cole']);
      expect(a.council.roles).toEqual(['architect', 'reviewer']);
      expect(a.council.council_set_hash).toBe(memberSetHash(memberEntries(['ada', 'brin', 'cole'])));
    },
  },
  Council_QuorumCert: {
    setup: (h) =>
      void h
        .driveLicensed()
        .must('Council_Elect', { roles: ['r'], members: memberEntries(['ada', 'brin', 'cole']) }),
    inputs: (h) => ({
      council_set_hash: h.state.council.council_set_hash,
      votes: votesFor(h.state, ['cole', 'ada', 'brin']),
    }),
    effect: (b, a) => {
      expect(a.council.quorum_certificate).toMatchObject({
        council_set_hash: b.council.council_set_hash,
        quorum: 3,
      });
      expect(a.council.quorum_certificate!.votes.map((v) => v.member)).toEqual(['ada', 'brin', 'cole']);
    },
  },
  Council_ToolingReady: {
    setup: (h) => {
      h.driveLicensed().must('Council_Elect', {
        roles: ['r'],
        members: memberEntries(['ada', 'brin', 'cole']),
      });
      h.must('Council_QuorumCert', {
        council_set_hash: h.state.council.council_set_hash,
        votes: votesFor(h.state, ['ada', 'brin', 'cole']),
      });
    },
    inputs: () => ({ pins: { ...TOOL_PINS } }),
    options: () => ({ io: { tools: HEALTHY_TOOLS } }),
    effect: (_b, a) => expect(a.council.tooling).toEqual({ pins: TOOL_PINS }),
  },
  Council_Eject: {
    setup: (h) => void h.driveLicensed().driveCouncilReady(['ada', 'brin', 'cole', 'dara']),
    inputs: () => ({ members: ['brin'], reason: 'unresponsive' }),
    effect: (_b, a) => {
      expect(a.council.members.map((m) => m.id)).toEqual(['ada', 'cole', 'dara']);
      expect(a.council.council_set_hash).toBe(memberSetHash(memberEntries(['ada', 'cole', 'dara'])));
      expect(a.council).toMatchObject({ quorum_certificate: null, tooling: null, ejected: ['brin'] });
    },
  },
  Council_ReElect: {
    setup: (h) => void h.driveLicensed().driveCouncilReady(),
    inputs: () => ({ members: memberEntries(['dara', 'eli', 'fay']), reason: 'rotation' }),
    effect: (b, a) => {
      expect(a.council.members.map((m) => m.id)).toEqual(['dara', 'eli', 'fay']);
      expect(a.council.roles).toEqual(b.council.roles);
      expect(a.council).toMatchObject({ quorum_certificate: null, tooling: null, ejected: [] });
    },
  },
  Environment_Provision: {
    setup: (h) => void h.driveLicensed(),
    inputs: () => ({
      allocations: [
        { resource: 'gpu', amount: 1 },
        { resource: 'cpu', amount: 8 },
      ],
    }),
    effect: (_b, a) => expect(a.environment.allocations.map((x) => x.resource)).toEqual(['cpu', 'gpu']),
  },
  Environment_Healthcheck: {
    setup: (h) =>
      void h.driveLicensed().must('Environment_Provision', { allocations: [{ resource: 'cpu', amount: 1 }] }),
    inputs: () => ({ assets: [{ id: 'ns', kind: 'namespace', ref: 'k8s://ns' }] }),
    effect: (_b, a) =>
      expect(a.environment.assets_hash).toBe(
        hashCanonical([{ id: 'ns', kind: 'namespace', ref: 'k8s://ns' }]),
      ),
  },
  Environment_Ready: {
    setup: (h) => {
      h.driveLicensed().must('Environment_Provision', { allocations: [{ resource: 'cpu', amount: 1 }] });
      h.must('Environment_Healthcheck', { assets: [{ id: 'ns', kind: 'namespace', ref: 'k8s://ns' }] });
    },
    inputs: () => ({
      checks: [
        { name: 'dns', ok: true },
        { name: 'api', ok: true, detail: '12 ms' },
      ],
    }),
    effect: (_b, a) =>
      expect(a.environment.health).toEqual([
        { name: 'api', ok: true, detail: '12 ms' },
        { name: 'dns', ok: true, detail: null },
      ]),
  },
  Environment_Degrade: {
    setup: (h) => void h.driveLicensed().driveEnvironmentReady(),
    inputs: () => ({ checks: [{ name: 'api', ok: false, detail: 'timeout' }] }),
    effect: (_b, a) => expect(a.environment.health).toEqual([{ name: 'api', ok: false, detail: 'timeout' }]),
  },
  Environment_Deprovision: {
    setup: (h) => void h.driveLicensed().driveEnvironmentReady(),
    inputs: () => ({ reason: 'mission paused for the weekend' }),
    effect: (_b, a) =>
      expect(a.environment).toMatchObject({
        allocations: [],
        assets: [],
        assets_hash: null,
        health: [],
        deprovisions: 1,
      }),
  },
  Execution_Enter: {
    setup: (h) => void h.driveLifecycleReady().toWindow('plan'),
    inputs: (h) => h.planInputs(),
    effect: (_b, a, h) => {
      expect(a.execution).toMatchObject({
        beat: 1,
        plan_hash: hashCanonical('plan-1'),
        window_id: 'backbeat:W-2025-10-19-02',
      });
      expect(a.execution.plan_lock).toEqual(h.planInputs().plan_lock);
    },
  },
  Execution_Work: {
    setup: (h) => void h.driveExecuting().toWindow('work'),
    inputs: () => ({ tasks: ['t-2', 't-1'] }),
    effect: (_b, a) => expect(a.execution.tasks).toEqual(['t-1', 't-2']),
  },
  Execution_Review: {
    setup: (h) => {
      h.driveExecuting()
        .toWindow('work')
        .must('Execution_Work', { tasks: ['t'] });
      h.toWindow('review');
    },
    inputs: () => ({}),
    options: () => ({
      evidence: ['ucxl://swoosh:m@execution/e2', 'bubble://dr/1', 'ucxl://swoosh:m@execution/e2'],
    }),
    effect: (_b, a) =>
      expect(a.execution.evidence).toEqual(['bubble://dr/1', 'ucxl://swoosh:m@execution/e2']),
  },
  Execution_Approve: {
    setup: (h) => {
      h.driveExecuting()
        .toWindow('work')
        .must('Execution_Work', { tasks: ['t'] });
      h.toWindow('review').must('Execution_Review', {}, { evidence: ['ucxl://e'] });
    },
    inputs: () => ({ decision: 'approve' }),
    options: () => ({ signer: APPROVERS[1] }),
    effect: (_b, a) =>
      expect(a.execution.approvals).toEqual([{ approver: APPROVERS[1]!.key, decision: 'approve' }]),
  },
  Execution_Reverb: {
    setup: (h) => {
      h.driveExecuting()
        .toWindow('work')
        .must('Execution_Work', { tasks: ['t'] });
      h.toWindow('review').must('Execution_Review', {}, { evidence: ['ucxl://e'] });
      h.must('Execution_Approve', { decision: 'approve' }, { signer: APPROVERS[0] });
      h.toWindow('reverb');
    },
    inputs: () => ({}),
    effect: (b, a) => expect(a.execution.approvals).toEqual(b.execution.approvals),
  },
  Execution_NextWindow: {
    setup: (h) => void h.driveExecuting().driveBeat().toWindow('plan'),
    inputs: () => ({}),
    effect: (b, a) => {
      expect(a.execution).toMatchObject({
        beat: b.execution.beat + 1,
        tasks: [],
        evidence: [],
        approvals: [],
      });
      expect(a.execution.window_id).toBe('backbeat:W-2025-10-19-03');
    },
  },
  Execution_Replan: {
    setup: (h) => {
      h.driveExecuting().must('Council_Eject', { members: ['cole'], reason: 'left' });
      h.must('Council_ReElect', { members: memberEntries(['ada', 'brin', 'dara']), reason: 'replace cole' });
      h.must('Council_QuorumCert', {
        council_set_hash: h.state.council.council_set_hash,
        votes: votesFor(h.state, ['ada', 'brin', 'dara']),
      });
      h.must('Council_ToolingReady', { pins: { ...TOOL_PINS } }, { io: { tools: HEALTHY_TOOLS } });
    },
    inputs: (h) => ({ ...h.planInputs('plan-2'), reason: 'council changed' }),
    effect: (b, a) => {
      expect(a.execution.plan_lock!.council_set_hash).not.toBe(b.execution.plan_lock!.council_set_hash);
      expect(a.execution.plan_hash).toBe(hashCanonical('plan-2'));
    },
  },
  Control_Pause: {
    setup: () => undefined,
    inputs: () => ({ reason: 'pause all' }),
    effect: (_b, a) => expect(a.control.reason).toBe('pause all'),
  },
  Control_Resume: {
    setup: (h) => void h.must('Control_Pause', { reason: 'pause all' }),
    inputs: () => ({ reason: 'resume all' }),
    effect: (_b, a) => expect(a.control.reason).toBe('resume all'),
  },
  Control_Degrade: {
    setup: () => undefined,
    inputs: () => ({ reason: 'capacity churn' }),
    effect: (_b, a) => expect(a.control.reason).toBe('capacity churn'),
  },
  Control_Recover: {
    setup: () => undefined,
    inputs: () => ({ reason: 'worker restarted' }),
    effect: (_b, a) => expect(a.control.reason).toBe('worker restarted'),
  },
  Policy_Quarantine: {
    setup: () => undefined,
    inputs: () => ({ rationale: 'secret in artifact', breaches: ['secret in artifact', 'PII'] }),
    options: () => ({ io: { policy: { breach: true } } }),
    effect: (_b, a) =>
      expect(a.policy).toMatchObject({
        rationale: 'secret in artifact',
        breaches: ['PII', 'secret in artifact'],
      }),
  },
  Policy_Release: {
    setup: quarantined,
    inputs: () => ({ rationale: 'false positive, owner reviewed' }),
    effect: (_b, a) =>
      expect(a.policy).toMatchObject({ rationale: 'false positive, owner reviewed', breaches: [] }),
  },
  Policy_Update: {
    setup: quarantined,
    inputs: () => ({ policy_version: 'v2', rationale: 'allowlist updated' }),
    options: () => ({ io: { policy: { breach: false, policy_version: 'v2' } } }),
    effect: (_b, a) => expect(a.policy).toMatchObject({ policy_version: 'v2', breaches: [] }),
  },
  Terminal_Terminate: {
    setup: quarantined,
    inputs: () => ({ rationale: 'owner confirmed the block' }),
    options: () => ({ io: { policy: { breach: true, confirmed_block: true } } }),
    effect: (_b, a) => expect(a.terminal.rationale).toBe('owner confirmed the block'),
  },
};

const someLock = {
  content_hash: hashCanonical('c'),
  index_version: 1,
  council_set_hash: hashCanonical('s'),
  environment_hash: hashCanonical('e'),
};

/** Well-formed inputs for `name` even when the harness state could not produce real ones. */
function shapedInputs(name: TransitionName, h: Harness): Record<string, unknown> {
  try {
    return CASES[name].inputs(h);
  } catch {
    if (name === 'Council_QuorumCert') return { council_set_hash: hashCanonical('s'), votes: [] };
    if (name === 'Execution_Enter') return { plan_hash: hashCanonical('p'), plan_lock: someLock };
    if (name === 'Execution_Replan')
      return { plan_hash: hashCanonical('p'), plan_lock: someLock, reason: 'r' };
    throw new Error(`no inputs for ${name}`);
  }
}

describe('each transition, applied through the protocol', () => {
  it.each(TRANSITION_NAMES)(
    '%s moves its region, advances its epoch by one and changes nothing else',
    (name) => {
      const c = CASES[name];
      const def = TRANSITIONS[name];
      const h = new Harness();
      c.setup(h);
      const before = h.state;
      const result = h.step(name, c.inputs(h), { signed: true, ...c.options?.(h) });
      if (!result.accepted)
        throw new Error(`${name} rejected: ${result.failing_guard}: ${result.reasons.join('; ')}`);
      const after = h.state;
      expect(result.duplicate).toBe(false);
      expect(after[def.region].phase).toBe(def.to);
      for (const region of REGION_NAMES) {
        expect(after.epoch[region], region).toBe(before.epoch[region] + (region === def.region ? 1 : 0));
        if (region !== def.region) expect(after[region], region).toBe(before[region]);
      }
      expect(after.head).toMatchObject({ seq: before.head.seq + 1, transition: name });
      expect(after.hlc_last).not.toBe(before.hlc_last);
      c.effect(before, after, h);
    },
  );

  it.each(TRANSITION_NAMES)('%s is refused from every phase it does not leave from', (name) => {
    const def = TRANSITIONS[name];
    const others = (REGIONS[def.region].states as readonly string[]).filter(
      (s) => !(def.from as readonly string[]).includes(s),
    );
    for (const phase of others) {
      const h = new Harness();
      h.state = deepFreeze({ ...h.state, [def.region]: { ...h.state[def.region], phase } });
      const result = h.step(name, shapedInputs(name, h), { signed: false, ...CASES[name].options?.(h) });
      expect(result).toMatchObject({
        accepted: false,
        failing_guard: 'statechart',
        reasons: [expect.stringContaining(`${name} is not enabled: ${def.region} is ${phase}`)],
      });
    }
  });
});

describe('the reducer', () => {
  const event = (
    h: Harness,
    name: TransitionName,
    inputs: unknown,
    extra: Partial<TransitionEvent> = {},
  ): TransitionEvent => ({
    name,
    inputs,
    signer: ACTORS.orchestrator.key,
    idem_key: h.idemKey(name),
    hlc: h.nextHlc(),
    window_id: 'backbeat:W-2025-10-19-02',
    evidence: [],
    at_ms: h.now,
    ...extra,
  });

  it('never mutates its input, even an unfrozen one, and shares untouched regions', () => {
    const h = new Harness().driveLifecycleReady();
    const copy = JSON.parse(JSON.stringify(h.state)) as StateDocument;
    const snapshot = JSON.stringify(copy);
    const next = reduce(copy, event(h, 'Control_Pause', { reason: 'x' }), h.config);
    expect(JSON.stringify(copy)).toBe(snapshot);
    expect(next).not.toBe(copy);
    expect(next.council).toBe(copy.council);
    expect(next.control).not.toBe(copy.control);
    expect(Object.isFrozen(next) && Object.isFrozen(next.control)).toBe(true);
  });

  it('is total: an unknown, disabled or malformed transition returns the very same state', () => {
    const h = new Harness();
    const s = h.state;
    expect(
      reduce(s, { ...event(h, 'Control_Pause', { reason: 'x' }), name: 'Nope_Nothing' as TransitionName }),
    ).toBe(s);
    expect(reduce(s, event(h, 'Execution_Reverb', {}))).toBe(s);
    expect(reduce(s, event(h, 'Control_Pause', { reason: 42 }))).toBe(s);
    expect(reduce(s, event(h, 'Control_Pause', { reason: 'x' }, { hlc: 'yesterday' }))).toBe(s);
  });

  it('defines a next state for every transition of the registry from every phase of its region', () => {
    for (const name of TRANSITION_NAMES) {
      const def = TRANSITIONS[name];
      for (const phase of REGIONS[def.region].states) {
        const h = new Harness();
        const state = deepFreeze({
          ...h.state,
          [def.region]: { ...h.state[def.region], phase },
        });
        const next = reduce(state, event(h, name, shapedInputs(name, h)), h.config);
        if ((def.from as readonly string[]).includes(phase)) {
          expect(next[def.region].phase, `${name} from ${phase}`).toBe(def.to);
          expect(next.epoch[def.region]).toBe(state.epoch[def.region] + 1);
        } else {
          expect(next, `${name} from ${phase}`).toBe(state);
        }
      }
    }
  });

  it('is deterministic: the same transition on the same state gives the same hash', () => {
    const h = new Harness().driveLifecycleReady();
    const e = event(h, 'Environment_Degrade', { checks: [{ name: 'api', ok: false }] });
    expect(stateHash(reduce(h.state, e, h.config))).toBe(stateHash(reduce(h.state, e, h.config)));
  });

  it('stores the HLC in its canonical UTC spelling', () => {
    const h = new Harness();
    const next = reduce(
      h.state,
      event(h, 'Control_Pause', { reason: 'x' }, { hlc: '2025-10-19T03:00:00.000+02:00#4' }),
    );
    expect(next.hlc_last).toBe('2025-10-19T01:00:00.000+00:00#4');
  });

  it('lists the transitions enabled in the current phases', () => {
    const h = new Harness();
    expect(enabledTransitions(h.state)).toEqual(
      expect.arrayContaining([
        'Boot_LicenseCheck',
        'Ingestion_Fetch',
        'Council_Elect',
        'Environment_Provision',
        'Execution_Enter',
        'Control_Pause',
        'Policy_Quarantine',
        'Terminal_Terminate',
      ]),
    );
    expect(enabledTransitions(h.state)).not.toContain('Boot_Licensed');
  });
});
