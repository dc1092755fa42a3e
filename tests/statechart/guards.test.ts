import { describe, expect, it } from 'vitest';
import { TRANSITION_NAMES, type GuardName, type TransitionName } from '../../schemas/statechart';
import { parseInputs } from '../../schemas/transition-inputs';
import { evaluateGuard, guardsOf, licenceRefreshAt, quorumRequired } from '../../workflows/statechart/guards';
import { verdict, type GuardInputs, type GuardResult } from '../../workflows/statechart/guards/types';
import { GuardIOSchema, type GuardIO } from '../../schemas/guard-io';
import { hashCanonical } from '../../schemas/hash';
import { signVote } from '../../workflows/statechart/signing';
import type { StateDocument } from '../../schemas/state-document';
import { windowAt } from '../../workflows/statechart/window';
import { ACTORS, APPROVERS, MEMBERS } from './support/keys';
import {
  DAY,
  Harness,
  HEALTHY_TOOLS,
  licence,
  memberEntries,
  T0,
  TOKEN_DIGEST,
  TOOL_PINS,
  votesFor,
} from './support/harness';

const PLAN = {
  plan_hash: hashCanonical('plan'),
  plan_lock: {
    content_hash: hashCanonical('content'),
    index_version: 1,
    council_set_hash: hashCanonical('council'),
    environment_hash: hashCanonical('environment'),
  },
};

/** Inputs that parse, for every transition: what a guard is evaluated on unless a test names others. */
const SAMPLE_INPUTS: { readonly [K in TransitionName]: Record<string, unknown> } = {
  Boot_LicenseCheck: { identities: { orchestrator: ACTORS.orchestrator.key } },
  Boot_Licensed: licence(T0).inputs,
  Boot_LicenseGrace: { reason: 'r' },
  Boot_LicenseExpire: {},
  Ingestion_Fetch: { sources: ['urn:src:1'] },
  Ingestion_Validate: { content_hash: hashCanonical('content') },
  Ingestion_Index: { report_hash: hashCanonical('report'), passed: true, violations: [] },
  Ingestion_Ready: { index_hash: hashCanonical('index') },
  Ingestion_Quarantine: { report_hash: hashCanonical('report'), violations: ['v'], rationale: 'r' },
  Ingestion_RollbackIndex: { reason: 'r' },
  Council_Elect: { roles: ['architect'], members: memberEntries(['ada']) },
  Council_QuorumCert: { council_set_hash: hashCanonical('set'), votes: [] },
  Council_ToolingReady: { pins: { ...TOOL_PINS } },
  Council_Eject: { members: ['ada'], reason: 'r' },
  Council_ReElect: { members: memberEntries(['ada']), reason: 'r' },
  Environment_Provision: { allocations: [{ resource: 'workspace', amount: 1 }] },
  Environment_Healthcheck: { assets: [{ id: 'w', kind: 'workspace', ref: 'file:///w' }] },
  Environment_Ready: { checks: [{ name: 'api', ok: true }] },
  Environment_Degrade: { checks: [{ name: 'api', ok: false }] },
  Environment_Deprovision: { reason: 'r' },
  Execution_Enter: PLAN,
  Execution_Work: { tasks: ['t'] },
  Execution_Review: {},
  Execution_Approve: { decision: 'approve' },
  Execution_Reverb: {},
  Execution_NextWindow: {},
  Execution_Replan: { ...PLAN, reason: 'r' },
  Control_Pause: { reason: 'r' },
  Control_Resume: { reason: 'r' },
  Control_Degrade: { reason: 'r' },
  Control_Recover: { reason: 'r' },
  Policy_Quarantine: { rationale: 'r', breaches: ['b'] },
  Policy_Release: { rationale: 'r' },
  Policy_Update: { policy_version: 'v2', rationale: 'r' },
  Terminal_Terminate: { rationale: 'r' },
};

/**
 * Evaluates one guard for `transition` against the harness state, as the protocol would: inputs
 * that do not parse are refused by the protocol's inputs stage, with these reasons, before any
 * guard runs; guards see only the parsed value.
 */
function check(
  h: Harness,
  guard: GuardName,
  transition: TransitionName,
  inputs: unknown = SAMPLE_INPUTS[transition],
  extra: {
    io?: GuardIO;
    evidence?: string[];
    signer?: string;
    window_id?: string;
    state?: StateDocument;
  } = {},
): GuardResult {
  const parsed = parseInputs(transition, inputs);
  if (!parsed.ok) return verdict(parsed.reasons);
  const gi: GuardInputs = {
    transition,
    inputs: parsed.value,
    signer: extra.signer ?? ACTORS.orchestrator.key,
    window_id: extra.window_id ?? windowAt(h.config.schedule, h.now).id,
    evidence: extra.evidence ?? [],
    now: h.now,
    io: GuardIOSchema.parse(extra.io ?? {}),
  };
  return evaluateGuard(guard, extra.state ?? h.state, gi, h.config);
}

const ok = { ok: true, reasons: [] };
const failsWith = (pattern: RegExp) => ({
  ok: false,
  reasons: expect.arrayContaining([expect.stringMatching(pattern)]) as unknown,
});

describe('common gates', () => {
  it('refuses everything once the mission is TERMINATED', () => {
    const h = new Harness();
    expect(check(h, 'active', 'Control_Pause')).toEqual(ok);
    const terminated = { ...h.state, terminal: { phase: 'TERMINATED' as const, rationale: 'blocked' } };
    expect(check(h, 'active', 'Control_Pause', undefined, { state: terminated })).toMatchObject(
      failsWith(/TERMINATED \(blocked\)/),
    );
  });

  it('holds forward work while PAUSED or in RECOVERY, not while DEGRADED', () => {
    const h = new Harness();
    for (const phase of ['RUNNING', 'DEGRADED'] as const) {
      expect(
        check(h, 'control', 'Ingestion_Fetch', undefined, {
          state: { ...h.state, control: { phase, reason: null } },
        }),
      ).toEqual(ok);
    }
    for (const phase of ['PAUSED', 'RECOVERY'] as const) {
      expect(
        check(h, 'control', 'Ingestion_Fetch', undefined, {
          state: { ...h.state, control: { phase, reason: 'x' } },
        }),
      ).toMatchObject(failsWith(new RegExp(`control is ${phase}`)));
    }
  });

  it('blocks forward work while QUARANTINED, naming the rationale', () => {
    const h = new Harness();
    expect(check(h, 'not-quarantined', 'Ingestion_Fetch')).toEqual(ok);
    const q = {
      ...h.state,
      policy: { ...h.state.policy, phase: 'QUARANTINED' as const, rationale: 'leaked key' },
    };
    expect(check(h, 'not-quarantined', 'Ingestion_Fetch', undefined, { state: q })).toMatchObject(
      failsWith(/QUARANTINED \(leaked key\)/),
    );
  });

  it('passes a step without a policy scan or with a clean one, and turns a breach into a quarantine request', () => {
    const h = new Harness();
    expect(check(h, 'policy-scan', 'Ingestion_Fetch')).toEqual(ok);
    expect(
      check(h, 'policy-scan', 'Ingestion_Fetch', undefined, { io: { policy: { breach: false } } }),
    ).toEqual(ok);
    const breach = check(h, 'policy-scan', 'Ingestion_Fetch', undefined, {
      io: {
        policy: { breach: true, rationale: 'PII in prompt', breaches: ['PII in prompt', 'token in log'] },
      },
    });
    expect(breach).toEqual({
      ok: false,
      reasons: ['policy breach: PII in prompt', 'breach: token in log'],
      escalation: {
        transition: 'Policy_Quarantine',
        inputs: { rationale: 'PII in prompt', breaches: ['PII in prompt', 'token in log'] },
      },
    });
  });
});

describe('licence (KACHING)', () => {
  it('lets work run while LICENSED with a live token, and stops it when the token expires', () => {
    const h = new Harness().driveLicensed();
    expect(check(h, 'licence', 'Ingestion_Fetch')).toEqual(ok);
    h.advance(7 * DAY);
    expect(check(h, 'licence', 'Ingestion_Fetch')).toMatchObject(
      failsWith(/token expired at .*refresh with Boot_Licensed/),
    );
  });

  it('lets work run during grace and stops all external work at grace expiry', () => {
    const h = new Harness().driveLicensed();
    h.must(
      'Boot_LicenseGrace',
      { reason: 'unreachable' },
      { io: { licence: { status: 'unreachable', expires_at_ms: null, token_digest: null } } },
    );
    expect(h.state.boot.phase).toBe('GRACE');
    h.advance(h.config.licenceGraceMs - 1);
    expect(check(h, 'licence', 'Ingestion_Fetch')).toEqual(ok);
    h.advance(1);
    expect(check(h, 'licence', 'Ingestion_Fetch')).toMatchObject(
      failsWith(/grace expired at .*all external work stops/),
    );
  });

  it('refuses work before the licence check and after expiry', () => {
    const h = new Harness();
    expect(check(h, 'licence', 'Ingestion_Fetch')).toMatchObject(
      failsWith(/not licensed \(boot is UNINITIALIZED\)/),
    );
    const expired = { ...h.state, boot: { ...h.state.boot, phase: 'EXPIRED' as const } };
    expect(check(h, 'licence', 'Ingestion_Fetch', undefined, { state: expired })).toMatchObject(
      failsWith(/boot is EXPIRED/),
    );
  });

  it('licenses only on a valid verdict that the proposal records exactly', () => {
    const h = new Harness();
    const lic = licence(h.now);
    expect(check(h, 'licence-verdict', 'Boot_Licensed', lic.inputs, { io: lic.io })).toEqual(ok);
    expect(check(h, 'licence-verdict', 'Boot_Licensed', lic.inputs)).toMatchObject(
      failsWith(/licence verdict required/),
    );
    expect(
      check(h, 'licence-verdict', 'Boot_Licensed', lic.inputs, {
        io: {
          licence: {
            status: 'denied',
            expires_at_ms: null,
            token_digest: null,
            detail: 'seat limit reached',
          },
        },
      }),
    ).toMatchObject(failsWith(/licence denied: seat limit reached/));
    expect(
      check(h, 'licence-verdict', 'Boot_Licensed', lic.inputs, {
        io: { licence: { status: 'unreachable', expires_at_ms: null, token_digest: null } },
      }),
    ).toMatchObject(failsWith(/licence unreachable/));
    expect(
      check(h, 'licence-verdict', 'Boot_Licensed', lic.inputs, {
        io: { licence: { ...lic.io.licence, expires_at_ms: null } },
      }),
    ).toMatchObject(failsWith(/has no expiry/));
    expect(
      check(h, 'licence-verdict', 'Boot_Licensed', lic.inputs, {
        io: { licence: { ...lic.io.licence, token_digest: null } },
      }),
    ).toMatchObject(failsWith(/no token digest/));
    const stale = licence(h.now - 2 * DAY, DAY);
    expect(check(h, 'licence-verdict', 'Boot_Licensed', stale.inputs, { io: stale.io })).toMatchObject(
      failsWith(/already expired/),
    );
    expect(
      check(
        h,
        'licence-verdict',
        'Boot_Licensed',
        { ...lic.inputs, expires_at_ms: lic.inputs.expires_at_ms + 1 },
        { io: lic.io },
      ),
    ).toMatchObject(failsWith(/proposal records expiry/));
    expect(
      check(
        h,
        'licence-verdict',
        'Boot_Licensed',
        { ...lic.inputs, token_digest: hashCanonical('other') },
        { io: lic.io },
      ),
    ).toMatchObject(failsWith(/proposal records token/));
    expect(check(h, 'licence-verdict', 'Boot_Licensed', {}, { io: lic.io })).toMatchObject(
      failsWith(/inputs\.expires_at_ms/),
    );
  });

  it('enters grace only when the licence actually lapsed', () => {
    const h = new Harness().driveLicensed();
    expect(check(h, 'licence-lapse', 'Boot_LicenseGrace', { reason: 'x' })).toMatchObject(
      failsWith(/has not lapsed/),
    );
    expect(
      check(h, 'licence-lapse', 'Boot_LicenseGrace', { reason: 'x' }, { io: licence(h.now).io }),
    ).toMatchObject(failsWith(/nothing lapsed/));
    expect(
      check(
        h,
        'licence-lapse',
        'Boot_LicenseGrace',
        { reason: 'x' },
        { io: { licence: { status: 'denied', expires_at_ms: null, token_digest: null } } },
      ),
    ).toEqual(ok);
    h.advance(8 * DAY);
    expect(check(h, 'licence-lapse', 'Boot_LicenseGrace', { reason: 'x' })).toEqual(ok);
  });

  it('expires only after the grace deadline', () => {
    const h = new Harness().driveLicensed();
    expect(check(h, 'grace-expired', 'Boot_LicenseExpire')).toMatchObject(failsWith(/no grace period/));
    h.must(
      'Boot_LicenseGrace',
      { reason: 'x' },
      { io: { licence: { status: 'denied', expires_at_ms: null, token_digest: null } } },
    );
    expect(check(h, 'grace-expired', 'Boot_LicenseExpire')).toMatchObject(failsWith(/grace runs until/));
    h.advance(h.config.licenceGraceMs);
    expect(check(h, 'grace-expired', 'Boot_LicenseExpire')).toEqual(ok);
  });

  it('schedules token refresh with a deterministic jitter inside 70–80% of the lifetime', () => {
    const issued = 1_000_000;
    const expires = issued + 10 * DAY;
    const seeds = ['m-1', 'm-2', 'm-3', 'm-4', 'm-5'];
    const times = seeds.map((s) => licenceRefreshAt(issued, expires, s));
    for (const t of times) {
      expect(t).toBeGreaterThanOrEqual(issued + 7 * DAY);
      expect(t).toBeLessThanOrEqual(issued + 8 * DAY);
    }
    expect(new Set(times).size).toBeGreaterThan(1);
    expect(licenceRefreshAt(issued, expires, 'm-1')).toBe(times[0]);
    expect(TOKEN_DIGEST).toMatch(/^sha256-/);
  });
});

describe('BACKBEAT window guard', () => {
  it('admits a time-gated transition inside its window with the current window id', () => {
    const h = new Harness().toWindow('review');
    expect(check(h, 'window', 'Execution_Review')).toEqual(ok);
  });

  it('refuses it outside its window, saying when the window opens', () => {
    const h = new Harness().toWindow('work');
    expect(check(h, 'window', 'Execution_Review')).toMatchObject(
      failsWith(
        /window 'review' is closed: backbeat:W-2025-10-19-02 is in WORK until 2025-10-19T01:21:00.000\+00:00; 'review' opens at 2025-10-19T01:21:00.000\+00:00/,
      ),
    );
    expect(check(h, 'window', 'Execution_Reverb')).toMatchObject(failsWith(/window 'reverb' is closed/));
  });

  it('refuses a proposal prepared for another window', () => {
    const h = new Harness().toWindow('review');
    expect(
      check(h, 'window', 'Execution_Review', {}, { window_id: 'backbeat:W-2025-10-19-01' }),
    ).toMatchObject(
      failsWith(/window_id backbeat:W-2025-10-19-01 is not the current window backbeat:W-2025-10-19-02/),
    );
  });

  it('does not gate transitions without a window class', () => {
    const h = new Harness().toWindow('work');
    expect(check(h, 'window', 'Control_Pause', undefined, { window_id: 'backbeat:W-2000-01-01-00' })).toEqual(
      ok,
    );
  });
});

describe('quorum certificate', () => {
  const elected = (ids = ['ada', 'brin', 'cole', 'dara', 'eli'], quorumSize = 3) => {
    const h = new Harness({ config: { quorumSize } }).driveLicensed();
    h.must('Council_Elect', { roles: ['architect'], members: memberEntries(ids) });
    return h;
  };
  const cert = (h: Harness, votes: unknown[]) => ({
    council_set_hash: h.state.council.council_set_hash,
    votes,
  });

  it('certifies a quorum of valid member votes for the elected set', () => {
    const h = elected();
    expect(
      check(h, 'quorum', 'Council_QuorumCert', cert(h, votesFor(h.state, ['ada', 'brin', 'cole']))),
    ).toEqual(ok);
  });

  it('rejects below quorum, counting each member once', () => {
    const h = elected();
    const [ada, brin] = votesFor(h.state, ['ada', 'brin']);
    expect(check(h, 'quorum', 'Council_QuorumCert', cert(h, [ada, brin]))).toMatchObject(
      failsWith(/quorum not reached: 2 valid vote\(s\), 3 required \(quorum size 3, 5 member\(s\)\)/),
    );
    expect(check(h, 'quorum', 'Council_QuorumCert', cert(h, [ada, brin, ada]))).toMatchObject(
      failsWith(/duplicate vote from ada/),
    );
  });

  it('rejects a vote for a different member set as split brain, even with a quorum besides', () => {
    const h = elected();
    const good = votesFor(h.state, ['ada', 'brin', 'cole']);
    const other = hashCanonical('another council');
    const rogue = signVote(
      { member: 'dara', council_set_hash: other },
      h.state.meta.mission_id,
      MEMBERS[3]!.secretKey,
    );
    const result = check(h, 'quorum', 'Council_QuorumCert', cert(h, [...good, rogue]));
    expect(result).toMatchObject(failsWith(/split brain: dara voted for set sha256-/));
    expect(check(h, 'quorum', 'Council_QuorumCert', { council_set_hash: other, votes: good })).toMatchObject(
      failsWith(/split brain: certificate is for set/),
    );
  });

  it('rejects votes from non-members and forged or replayed signatures', () => {
    const h = elected(['ada', 'brin', 'cole']);
    const [ada, brin, cole] = votesFor(h.state, ['ada', 'brin', 'cole']);
    const outsider = signVote(
      { member: 'gus', council_set_hash: h.state.council.council_set_hash! },
      'm-test',
      MEMBERS[6]!.secretKey,
    );
    expect(check(h, 'quorum', 'Council_QuorumCert', cert(h, [ada, brin, cole, outsider]))).toMatchObject(
      failsWith(/vote from gus, who is not a member/),
    );
    const forged = { ...cole!, signature: ada!.signature };
    expect(check(h, 'quorum', 'Council_QuorumCert', cert(h, [ada, brin, forged]))).toMatchObject(
      failsWith(/invalid vote signature from cole/),
    );
    const otherMission = signVote(
      { member: 'cole', council_set_hash: h.state.council.council_set_hash! },
      'm-other',
      MEMBERS[2]!.secretKey,
    );
    expect(check(h, 'quorum', 'Council_QuorumCert', cert(h, [ada, brin, otherMission]))).toMatchObject(
      failsWith(/invalid vote signature from cole/),
    );
  });

  it('never certifies with less than a strict majority, whatever the configured size', () => {
    expect(quorumRequired(5, 1)).toBe(3);
    expect(quorumRequired(4, 1)).toBe(3);
    expect(quorumRequired(3, 5)).toBe(5);
    const h = elected(['ada', 'brin', 'cole', 'dara', 'eli'], 1);
    expect(
      check(h, 'quorum', 'Council_QuorumCert', cert(h, votesFor(h.state, ['ada', 'brin']))),
    ).toMatchObject(failsWith(/2 valid vote\(s\), 3 required/));
  });

  it('cannot certify when the quorum size exceeds the council', () => {
    const h = elected(['ada', 'brin'], 3);
    expect(
      check(h, 'quorum', 'Council_QuorumCert', cert(h, votesFor(h.state, ['ada', 'brin']))),
    ).toMatchObject(failsWith(/2 valid vote\(s\), 3 required \(quorum size 3, 2 member\(s\)\)/));
  });

  it('needs an elected set and well-formed votes', () => {
    const h = new Harness();
    expect(
      check(h, 'quorum', 'Council_QuorumCert', { council_set_hash: hashCanonical('x'), votes: [] }),
    ).toMatchObject(failsWith(/no council set has been elected/));
    expect(check(h, 'quorum', 'Council_QuorumCert', { votes: 'all of them' })).toMatchObject(
      failsWith(/inputs\./),
    );
  });
});

describe('tooling health (MCP)', () => {
  const h = new Harness();
  const pins = { pins: { ...TOOL_PINS } };

  it('is ready when every pinned server is reachable at its pinned version', () => {
    expect(check(h, 'tooling', 'Council_ToolingReady', pins, { io: { tools: HEALTHY_TOOLS } })).toEqual(ok);
    const extra = [...HEALTHY_TOOLS, { name: 'mcp-unused', reachable: false, version: null }];
    expect(check(h, 'tooling', 'Council_ToolingReady', pins, { io: { tools: extra } })).toEqual(ok);
  });

  it('reports unreachable, mis-versioned and unprobed servers', () => {
    expect(check(h, 'tooling', 'Council_ToolingReady', pins)).toMatchObject(
      failsWith(/tool health required/),
    );
    const tools = [
      { name: 'mcp-git', reachable: false, version: '1.4.2' },
      { name: 'mcp-search', reachable: true, version: '0.9.0' },
    ];
    const result = check(h, 'tooling', 'Council_ToolingReady', pins, { io: { tools } });
    expect(result.reasons).toEqual([
      'tool server mcp-git is unreachable',
      'tool server mcp-search runs 0.9.0, pinned 0.9.1',
    ]);
    expect(
      check(h, 'tooling', 'Council_ToolingReady', pins, { io: { tools: [HEALTHY_TOOLS[0]!] } }),
    ).toMatchObject(failsWith(/tool server mcp-search was not probed/));
    expect(
      check(h, 'tooling', 'Council_ToolingReady', pins, {
        io: { tools: [HEALTHY_TOOLS[0]!, { name: 'mcp-search', reachable: true, version: null }] },
      }),
    ).toMatchObject(failsWith(/runs an unknown version/));
  });
});

describe('policy (SHHH)', () => {
  it('quarantines only on a reported breach', () => {
    const h = new Harness();
    const inputs = { rationale: 'secret in artifact', breaches: ['secret in artifact'] };
    expect(
      check(h, 'policy-breach', 'Policy_Quarantine', inputs, { io: { policy: { breach: true } } }),
    ).toEqual(ok);
    expect(check(h, 'policy-breach', 'Policy_Quarantine', inputs)).toMatchObject(
      failsWith(/policy verdict required/),
    );
    expect(
      check(h, 'policy-breach', 'Policy_Quarantine', inputs, { io: { policy: { breach: false } } }),
    ).toMatchObject(failsWith(/reports no breach/));
    expect(
      check(h, 'policy-breach', 'Policy_Quarantine', { rationale: '' }, { io: { policy: { breach: true } } }),
    ).toMatchObject(failsWith(/inputs\.rationale/));
  });

  it('lifts a quarantine by policy update only under a clean scan of that new version', () => {
    const h = new Harness();
    h.must('Policy_Quarantine', { rationale: 'r', breaches: ['b'] }, { io: { policy: { breach: true } } });
    const update = { policy_version: 'v2', rationale: 'new rules' };
    expect(
      check(h, 'policy-update', 'Policy_Update', update, {
        io: { policy: { breach: false, policy_version: 'v2' } },
      }),
    ).toEqual(ok);
    expect(check(h, 'policy-update', 'Policy_Update', update)).toMatchObject(
      failsWith(/a scan under policy v2 is required/),
    );
    expect(
      check(h, 'policy-update', 'Policy_Update', update, {
        io: { policy: { breach: false, policy_version: 'v1' } },
      }),
    ).toMatchObject(failsWith(/scan ran under policy v1, not v2/));
    expect(
      check(h, 'policy-update', 'Policy_Update', update, {
        io: { policy: { breach: true, rationale: 'still leaking', policy_version: 'v2' } },
      }),
    ).toMatchObject(failsWith(/still breaches policy v2: still leaking/));
  });

  it('refuses to re-install the policy version already in force', () => {
    const h = new Harness();
    h.must('Policy_Update', { policy_version: 'v2', rationale: 'r' });
    expect(
      check(h, 'policy-update', 'Policy_Update', { policy_version: 'v2', rationale: 'again' }),
    ).toMatchObject(failsWith(/policy version v2 is already in force/));
    expect(check(h, 'policy-update', 'Policy_Update', { policy_version: 'v3', rationale: 'next' })).toEqual(
      ok,
    );
  });

  it('terminates only a quarantined mission whose block was confirmed', () => {
    const h = new Harness();
    const confirmed = { io: { policy: { breach: true, confirmed_block: true } } };
    expect(check(h, 'confirmed-block', 'Terminal_Terminate', { rationale: 'x' }, confirmed)).toMatchObject(
      failsWith(/not QUARANTINED/),
    );
    h.must('Policy_Quarantine', { rationale: 'r', breaches: ['b'] }, { io: { policy: { breach: true } } });
    expect(check(h, 'confirmed-block', 'Terminal_Terminate', { rationale: 'x' })).toMatchObject(
      failsWith(/does not confirm a block/),
    );
    expect(check(h, 'confirmed-block', 'Terminal_Terminate', { rationale: 'x' }, confirmed)).toEqual(ok);
  });
});

describe('lifecycle guards', () => {
  it('indexes only content that passed validation without violations', () => {
    const h = new Harness();
    const report = hashCanonical('report');
    expect(
      check(h, 'validation', 'Ingestion_Index', { report_hash: report, passed: true, violations: [] }),
    ).toEqual(ok);
    expect(
      check(h, 'validation', 'Ingestion_Index', { report_hash: report, passed: false, violations: [] }),
    ).toMatchObject(failsWith(/did not pass/));
    expect(
      check(h, 'validation', 'Ingestion_Index', {
        report_hash: report,
        passed: true,
        violations: ['no licence header'],
      }),
    ).toMatchObject(failsWith(/validation violation: no licence header/));
  });

  it('quarantines content only with the violations that justify it', () => {
    const h = new Harness();
    const report = hashCanonical('report');
    expect(
      check(h, 'validation-violation', 'Ingestion_Quarantine', {
        report_hash: report,
        violations: ['x'],
        rationale: 'r',
      }),
    ).toEqual(ok);
    expect(
      check(h, 'validation-violation', 'Ingestion_Quarantine', {
        report_hash: report,
        violations: [],
        rationale: 'r',
      }),
    ).toMatchObject(failsWith(/inputs\.violations/));
  });

  it('keeps quarantined content out until the mission quarantine is lifted', () => {
    const h = new Harness();
    const both = {
      ...h.state,
      ingestion: { ...h.state.ingestion, phase: 'QUARANTINED' as const },
      policy: { ...h.state.policy, phase: 'QUARANTINED' as const },
    };
    expect(
      check(h, 'quarantine-exit', 'Ingestion_RollbackIndex', { reason: 'r' }, { state: both }),
    ).toMatchObject(failsWith(/lifts only after the mission quarantine/));
    expect(
      check(
        h,
        'quarantine-exit',
        'Ingestion_RollbackIndex',
        { reason: 'r' },
        { state: { ...both, policy: h.state.policy } },
      ),
    ).toEqual(ok);
  });

  it('ejects only current members and never the whole council', () => {
    const h = new Harness().driveLicensed();
    h.must('Council_Elect', { roles: ['r'], members: memberEntries(['ada', 'brin']) });
    expect(check(h, 'membership', 'Council_Eject', { members: ['ada'], reason: 'r' })).toEqual(ok);
    expect(check(h, 'membership', 'Council_Eject', { members: ['zed'], reason: 'r' })).toMatchObject(
      failsWith(/zed is not a council member/),
    );
    expect(check(h, 'membership', 'Council_Eject', { members: ['ada', 'brin'], reason: 'r' })).toMatchObject(
      failsWith(/leaves no council: use Council_ReElect/),
    );
  });

  it('is READY only when every health check passed, and degrades only on a failure', () => {
    const h = new Harness();
    const good = { checks: [{ name: 'api', ok: true }] };
    const bad = {
      checks: [
        { name: 'api', ok: true },
        { name: 'dns', ok: false, detail: 'NXDOMAIN' },
      ],
    };
    expect(check(h, 'health', 'Environment_Ready', good)).toEqual(ok);
    expect(check(h, 'health', 'Environment_Ready', bad)).toMatchObject(
      failsWith(/health check dns failed: NXDOMAIN/),
    );
    expect(check(h, 'health-failure', 'Environment_Degrade', bad)).toEqual(ok);
    expect(check(h, 'health-failure', 'Environment_Degrade', good)).toMatchObject(
      failsWith(/nothing to degrade for/),
    );
  });
});

describe('execution guards', () => {
  it('needs all three regions READY, naming each one that is not', () => {
    const h = new Harness().driveLicensed().driveIngestionReady();
    expect(check(h, 'regions-ready', 'Execution_Enter').reasons).toEqual([
      'council is PLAN_ROLES, not READY',
      'environment is ALLOCATE, not READY',
    ]);
    h.driveCouncilReady().driveEnvironmentReady();
    expect(check(h, 'regions-ready', 'Execution_Enter')).toEqual(ok);
  });

  it('enters only with a plan locked to the regions’ exact content/version hashes', () => {
    const h = new Harness().driveLifecycleReady();
    const plan = h.planInputs();
    expect(check(h, 'plan-lock', 'Execution_Enter', plan)).toEqual(ok);
    const wrong = {
      ...plan,
      plan_lock: { ...plan.plan_lock, index_version: 9, content_hash: hashCanonical('old') },
    };
    const result = check(h, 'plan-lock', 'Execution_Enter', wrong);
    expect(result.reasons).toHaveLength(2);
    expect(result).toMatchObject(failsWith(/plan index_version 9 does not match the regions' 1/));
    expect(check(new Harness(), 'plan-lock', 'Execution_Enter', plan)).toMatchObject(
      failsWith(/no complete content\/version/),
    );
  });

  it('holds the loop after an index swap until an explicit replan', () => {
    const h = new Harness().driveExecuting();
    expect(check(h, 'plan-current', 'Execution_Work')).toEqual(ok);
    h.must('Ingestion_Fetch', { sources: ['urn:src:2'] });
    expect(check(h, 'plan-current', 'Execution_Work')).toMatchObject(
      failsWith(/no longer have a complete version/),
    );
    h.must('Ingestion_Validate', { content_hash: hashCanonical('content-v2') });
    h.must('Ingestion_Index', { report_hash: hashCanonical('r2'), passed: true, violations: [] });
    h.must('Ingestion_Ready', { index_hash: hashCanonical('index-2') });
    expect(check(h, 'plan-current', 'Execution_Work')).toMatchObject(
      failsWith(/an explicit Execution_Replan is required/),
    );
    expect(check(new Harness(), 'plan-current', 'Execution_Work')).toMatchObject(
      failsWith(/no plan is locked/),
    );
  });

  it('reviews only with evidence', () => {
    const h = new Harness();
    expect(check(h, 'evidence', 'Execution_Review')).toMatchObject(
      failsWith(/at least one evidence pointer/),
    );
    expect(check(h, 'evidence', 'Execution_Review', {}, { evidence: ['ucxl://x'] })).toEqual(ok);
  });

  it('takes one decision per approver per beat and reverbs only when approved and not rejected', () => {
    const h = new Harness({ config: { approvalsRequired: 2 } }).driveExecuting();
    h.toWindow('work').must('Execution_Work', { tasks: ['t'] });
    h.toWindow('review').must('Execution_Review', {}, { evidence: ['ucxl://e'] });
    expect(check(h, 'approvals', 'Execution_Reverb')).toMatchObject(failsWith(/0 approval\(s\), 2 required/));
    h.must('Execution_Approve', { decision: 'approve' }, { signer: APPROVERS[0] });
    expect(
      check(h, 'approval-unique', 'Execution_Approve', undefined, { signer: APPROVERS[0]!.key }),
    ).toMatchObject(failsWith(/already decided on beat 1/));
    expect(
      check(h, 'approval-unique', 'Execution_Approve', undefined, { signer: APPROVERS[1]!.key }),
    ).toEqual(ok);
    h.must('Execution_Approve', { decision: 'reject' }, { signer: APPROVERS[1] });
    expect(check(h, 'approvals', 'Execution_Reverb').reasons).toEqual([
      `rejected by ${APPROVERS[1]!.key}`,
      '1 approval(s), 2 required',
    ]);
    h.must('Execution_Approve', { decision: 'approve' }, { signer: APPROVERS[2] });
    expect(check(h, 'approvals', 'Execution_Reverb')).toMatchObject(failsWith(/rejected by/));
  });

  it('starts the next beat only in a new window', () => {
    const h = new Harness().driveExecuting().driveBeat();
    expect(check(h, 'next-window', 'Execution_NextWindow')).toMatchObject(
      failsWith(/still in window backbeat:W-2025-10-19-02/),
    );
    h.toWindow('plan');
    expect(check(h, 'next-window', 'Execution_NextWindow')).toEqual(ok);
  });
});

describe('guard results', () => {
  it('carry no reasons when they pass and at least one when they fail', () => {
    const h = new Harness();
    for (const transition of TRANSITION_NAMES) {
      expect(parseInputs(transition, SAMPLE_INPUTS[transition]).ok, transition).toBe(true);
      for (const name of guardsOf(transition)) {
        const result = check(h, name, transition, SAMPLE_INPUTS[transition], {
          window_id: 'backbeat:W-2025-10-19-02',
        });
        if (result.ok) expect(result.reasons, `${transition} ${name}`).toEqual([]);
        else expect(result.reasons.length, `${transition} ${name}`).toBeGreaterThan(0);
      }
    }
  });
});
