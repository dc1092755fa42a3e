import { describe, expect, it } from 'vitest';
import {
  IdemKeySchema,
  parseIdemKey,
  TransitionProposalSchema,
  type TransitionProposal,
} from '../../schemas/proposal';
import { base64Decode, base64Encode } from '../../schemas/base64';
import { hashCanonical } from '../../schemas/hash';
import { formatHlc, parseHlc } from '../../schemas/hlc';
import { parseIdempotencyTable } from '../../workflows/statechart/idempotency';
import { applyProposal, applyTrustedProposal, buildProposal } from '../../workflows/statechart/protocol';
import { decisionId } from '../../schemas/decision-id';
import { createSignerRegistry } from '../../workflows/statechart/registry';
import { signProposal, verifyDetached } from '../../workflows/statechart/signing';
import { proposalSigningBytes } from '../../schemas/signed-bytes';
import { stateHash } from '../../workflows/statechart/state';
import { ACTORS, testKey } from './support/keys';
import { Harness, T0 } from './support/harness';

const pause = { reason: 'pause all' };

function signedPause(h: Harness, overrides: Partial<TransitionProposal> = {}): TransitionProposal {
  const unsigned = h.draft('Control_Pause', pause);
  return signProposal({ ...unsigned, ...overrides }, ACTORS.orchestrator.secretKey);
}

describe('proposal schema', () => {
  it('accepts the seed example shape and field formats', () => {
    const h = new Harness();
    const p = signedPause(h, { evidence: ['ucxl://swoosh:m@x/1', 'bubble://dr/7'] });
    expect(TransitionProposalSchema.safeParse(p).success).toBe(true);
    expect(parseIdemKey('goal-7:12:work:3f2b9c1e-8d4a-4f6b-9a2c-1b2c3d4e5f60')).toEqual({
      goalId: 'goal-7',
      beatIndex: 12,
      opClass: 'work',
      uuid: '3f2b9c1e-8d4a-4f6b-9a2c-1b2c3d4e5f60',
    });
  });

  it.each([
    ['current_state_hash without prefix', { current_state_hash: 'a'.repeat(64) }],
    ['current_state_hash in upper case', { current_state_hash: `sha256-${'A'.repeat(64)}` }],
    ['a short inputs_hash', { inputs_hash: `sha256-${'a'.repeat(63)}` }],
    ['an unknown transition', { transition: 'Execution_Teleport' }],
    ['a signer without the ed25519: prefix', { signer: ACTORS.owner.key.slice('ed25519:'.length) }],
    ['a signer of 31 bytes', { signer: `ed25519:${base64Encode(new Uint8Array(31))}` }],
    [
      'a signer with non-canonical base64',
      { signer: `ed25519:${base64Encode(new Uint8Array(32)).slice(0, 42)}B=` },
    ],
    ['an idem_key without uuid', { idem_key: 'goal:1:control' }],
    [
      'an idem_key with an unknown op class',
      { idem_key: 'goal:1:teleport:3f2b9c1e-8d4a-4f6b-9a2c-1b2c3d4e5f60' },
    ],
    [
      'an idem_key with a leading-zero beat',
      { idem_key: 'goal:01:control:3f2b9c1e-8d4a-4f6b-9a2c-1b2c3d4e5f60' },
    ],
    ['an hlc without counter', { hlc: '2025-10-19T01:23:45.678+00:00' }],
    ['an impossible hlc date', { hlc: '2025-02-30T01:23:45.678+00:00#1' }],
    ['a window id without schedule', { window_id: 'W-2025-10-19-02' }],
    ['evidence that is not a URI', { evidence: ['just words'] }],
    ['inputs that are not an object', { inputs: ['x'] }],
    ['a signature of 63 bytes', { signature: base64Encode(new Uint8Array(63)) }],
    ['an unknown extra field', { priority: 'P0' }],
  ])('refuses %s', (_label, patch) => {
    const h = new Harness();
    const p = { ...signedPause(h), ...patch };
    expect(TransitionProposalSchema.safeParse(p).success).toBe(false);
    const result = h.apply(p);
    expect(result).toMatchObject({ accepted: false, failing_guard: 'schema' });
  });

  it('refuses a missing field, naming it', () => {
    const h = new Harness();
    const { window_id, ...rest } = signedPause(h);
    void window_id;
    expect(h.apply(rest)).toMatchObject({
      failing_guard: 'schema',
      reasons: [expect.stringContaining('window_id')],
    });
  });

  it('refuses an inputs_hash that does not match the inputs', () => {
    const h = new Harness();
    const p = signedPause(h, { inputs_hash: hashCanonical({ reason: 'something else' }) });
    expect(h.apply(p)).toMatchObject({
      failing_guard: 'schema',
      reasons: [expect.stringMatching(/inputs_hash .* does not match the inputs/)],
    });
  });

  it('refuses inputs that canonical JSON cannot encode', () => {
    const h = new Harness();
    const unsigned = h.draft('Control_Pause', pause);
    const p = {
      ...unsigned,
      inputs: { reason: 'x', n: Number.NaN },
      signature: base64Encode(new Uint8Array(64)),
    };
    expect(h.apply(p)).toMatchObject({
      failing_guard: 'schema',
      reasons: [expect.stringMatching(/non-finite number/)],
    });
  });

  it("refuses an idem_key whose op class is not the transition's class", () => {
    const h = new Harness();
    const p = signedPause(h, { idem_key: `m-test:0:work:${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}` });
    expect(h.apply(p)).toMatchObject({
      failing_guard: 'schema',
      reasons: [expect.stringContaining("op class 'work' is not Control_Pause's class 'control'")],
    });
    expect(IdemKeySchema.safeParse(p.idem_key).success).toBe(true);
  });

  it('refuses malformed I/O verdicts from the caller', () => {
    const h = new Harness();
    const result = h.apply(signedPause(h), { io: { licence: { status: 'maybe' } } as never });
    expect(result).toMatchObject({
      failing_guard: 'schema',
      reasons: expect.arrayContaining([expect.stringContaining('io.licence.status')]) as unknown,
    });
  });
});

describe('signatures', () => {
  it('accepts a proposal signed by its signer over the canonical proposal without the signature', () => {
    const h = new Harness();
    const p = signedPause(h);
    const { signature, ...unsigned } = p;
    expect(
      verifyDetached(new TextEncoder().encode(JSON.stringify(sortDeep(unsigned))), signature, p.signer),
    ).toEqual({ ok: true });
    expect(proposalSigningBytes(p)).toEqual(proposalSigningBytes(unsigned));
    expect(h.apply(p)).toMatchObject({ accepted: true });
  });

  it('rejects a signature over different content', () => {
    const h = new Harness();
    const p = signedPause(h);
    const tampered = { ...p, evidence: ['ucxl://injected'] };
    expect(h.apply(tampered)).toMatchObject({
      failing_guard: 'signature',
      reasons: [expect.stringContaining('does not verify')],
    });
  });

  it('rejects a signature made with another key than the claimed signer', () => {
    const h = new Harness();
    const unsigned = h.draft('Control_Pause', pause);
    const byStranger = signProposal({ ...unsigned, signer: ACTORS.stranger.key }, ACTORS.stranger.secretKey);
    expect(h.apply({ ...byStranger, signer: ACTORS.orchestrator.key })).toMatchObject({
      failing_guard: 'signature',
    });
  });

  it('rejects a malleated signature (S + L), which tweetnacl alone would accept', () => {
    const h = new Harness();
    const p = signedPause(h);
    const sig = base64Decode(p.signature)!;
    const L = [
      0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    ];
    let carry = 0;
    for (let i = 0; i < 32; i++) {
      const sum = sig[32 + i]! + (i < 16 ? L[i]! : i === 31 ? 0x10 : 0) + carry;
      sig[32 + i] = sum & 0xff;
      carry = sum >> 8;
    }
    const malleated = { ...p, signature: base64Encode(sig) };
    expect(h.apply(malleated)).toMatchObject({
      failing_guard: 'signature',
      reasons: ['signature scalar is not canonical (malleated)'],
    });
  });

  it('refuses to sign with a secret key that does not belong to the signer', () => {
    const h = new Harness();
    expect(() => signProposal(h.draft('Control_Pause', pause), ACTORS.stranger.secretKey)).toThrow(
      /does not belong/,
    );
  });
});

describe('signer authorisation', () => {
  it('rejects an unregistered signer', () => {
    const h = new Harness();
    const p = signProposal(
      h.draft('Control_Pause', pause, { signer: ACTORS.stranger }),
      ACTORS.stranger.secretKey,
    );
    expect(h.apply(p)).toMatchObject({
      failing_guard: 'authorisation',
      reasons: [`signer ${ACTORS.stranger.key} is not registered`],
    });
  });

  it('rejects a registered signer outside its transition classes', () => {
    const h = new Harness();
    const p = signProposal(
      h.draft('Control_Pause', pause, { signer: ACTORS.intruder }),
      ACTORS.intruder.secretKey,
    );
    expect(h.apply(p)).toMatchObject({
      failing_guard: 'authorisation',
      reasons: ["signer intruder is not authorised for transition class 'control'"],
    });
  });

  it('lets only the owner class release a quarantine', () => {
    const h = new Harness();
    h.must('Policy_Quarantine', { rationale: 'r', breaches: ['b'] }, { io: { policy: { breach: true } } });
    expect(h.step('Policy_Release', { rationale: 'ok' }, { signer: ACTORS.orchestrator })).toMatchObject({
      failing_guard: 'authorisation',
    });
    expect(h.step('Policy_Release', { rationale: 'ok' }, { signer: ACTORS.owner })).toMatchObject({
      accepted: true,
    });
  });

  it('authorises everything for a wildcard entry and validates the registry itself', () => {
    const root = testKey('root');
    const registry = createSignerRegistry([{ key: root.key, classes: ['*'] }]);
    expect(registry.authorise(root.key, 'terminal')).toBeNull();
    expect(registry.isRegistered(root.key)).toBe(true);
    expect(() => createSignerRegistry([{ key: 'ed25519:nope', classes: ['work'] }])).toThrow(/malformed key/);
    expect(() =>
      createSignerRegistry([
        { key: root.key, classes: ['work'] },
        { key: root.key, classes: ['plan'] },
      ]),
    ).toThrow(/listed twice/);
    expect(() => createSignerRegistry([{ key: root.key, classes: ['teleport' as never] }])).toThrow(
      /unknown transition class/,
    );
  });
});

describe('idempotency', () => {
  it('returns the first outcome for a repeat and changes nothing', () => {
    const h = new Harness();
    const p = signedPause(h);
    const first = h.apply(p);
    if (!first.accepted || first.duplicate) throw new Error('first application failed');
    const state = h.state;
    const table = h.idempotency;
    h.advance(60_000);
    const again = h.apply(p);
    expect(again).toEqual({
      accepted: true,
      duplicate: true,
      state,
      post_hash: first.post_hash,
      outcomes: first.outcomes,
      seq: first.decision.seq,
      decision_id: decisionId(first.decision),
      idempotency: table,
    });
    expect(h.state).toBe(state);
    expect(h.idempotency).toBe(table);
  });

  it('returns the first outcome even after the state moved on (a repeat is necessarily stale)', () => {
    const h = new Harness();
    const p = signedPause(h);
    const first = h.apply(p);
    h.must('Control_Resume', { reason: 'r' });
    const again = h.apply(p);
    expect(again).toMatchObject({
      accepted: true,
      duplicate: true,
      post_hash: first.accepted ? first.post_hash : '',
    });
    expect(again.accepted && again.post_hash).not.toBe(stateHash(h.state));
  });

  it('treats a repeat with a re-encoded signature as the same proposal', () => {
    const h = new Harness();
    const p = signedPause(h);
    h.apply(p);
    const resigned = signProposal({ ...p }, ACTORS.orchestrator.secretKey);
    expect(h.apply(resigned)).toMatchObject({ duplicate: true });
  });

  it('refuses an idem_key reused for a different proposal', () => {
    const h = new Harness();
    const p = signedPause(h);
    h.apply(p);
    const other = signProposal(
      { ...h.draft('Control_Resume', { reason: 'r' }), idem_key: p.idem_key },
      ACTORS.orchestrator.secretKey,
    );
    expect(h.apply(other)).toMatchObject({
      failing_guard: 'idempotency',
      reasons: [expect.stringMatching(/already used by a different proposal \(decision 1, Control_Pause\)/)],
    });
  });

  it('does not remember rejections: a rejected proposal can be fixed and resubmitted under the same key', () => {
    const h = new Harness();
    const key = h.idemKey('Control_Pause');
    const stale = signProposal(
      { ...h.draft('Control_Pause', pause, { idem_key: key }), current_state_hash: hashCanonical('old') },
      ACTORS.orchestrator.secretKey,
    );
    expect(h.apply(stale)).toMatchObject({ failing_guard: 'concurrency' });
    const fresh = signProposal(
      h.draft('Control_Pause', pause, { idem_key: key }),
      ACTORS.orchestrator.secretKey,
    );
    expect(h.apply(fresh)).toMatchObject({ accepted: true, duplicate: false });
  });

  it('keeps a bounded table per op class, and a forgotten repeat is rejected as stale', () => {
    const h = new Harness({ config: { idempotencyCapacity: 2 } });
    const first = signedPause(h);
    h.apply(first);
    h.must('Control_Resume', { reason: 'r' });
    h.must('Control_Pause', pause);
    expect(h.idempotency.control).toHaveLength(2);
    expect(h.idempotency.control!.map((e) => e.seq)).toEqual([2, 3]);
    const before = h.state;
    expect(h.apply(first)).toMatchObject({ failing_guard: 'concurrency' });
    expect(h.state).toBe(before);
  });

  it('survives a continue-as-new round trip as plain JSON', () => {
    const h = new Harness().driveLicensed();
    const restored = parseIdempotencyTable(JSON.parse(JSON.stringify(h.idempotency)));
    expect(restored).toEqual(h.idempotency);
    expect(() => parseIdempotencyTable({ control: [{ idem_key: 'x' }] })).toThrow();
  });
});

describe('optimistic concurrency', () => {
  it('rejects a proposal made against a state that is no longer HEAD, and changes nothing', () => {
    const h = new Harness();
    const early = signedPause(h);
    h.must('Control_Degrade', { reason: 'x' });
    const before = h.state;
    const result = h.apply(early);
    expect(result).toMatchObject({
      accepted: false,
      failing_guard: 'concurrency',
      reasons: [
        expect.stringMatching(/stale current_state_hash .*: HEAD is .*; re-read the state and resubmit/),
      ],
    });
    expect(h.state).toBe(before);
  });
});

describe('HLC ordering', () => {
  it('rejects an HLC before the last applied one', () => {
    const h = new Harness();
    h.must('Control_Pause', pause);
    const last = parseHlc(h.state.hlc_last!);
    const p = signedPause(h, { hlc: formatHlc({ wall: last.wall - 1, counter: 99 }) });
    expect(
      h.apply(
        signProposal(
          {
            ...p,
            transition: 'Control_Resume',
            inputs: { reason: 'r' },
            inputs_hash: hashCanonical({ reason: 'r' }),
          },
          ACTORS.orchestrator.secretKey,
        ),
      ),
    ).toMatchObject({
      failing_guard: 'hlc',
      reasons: [expect.stringMatching(/is before the last applied HLC/)],
    });
  });

  it('breaks a tie on equal HLC by (signer, idem_key)', () => {
    const h = new Harness();
    const applied = h.must('Control_Pause', pause);
    const hlc = applied.decision.hlc;
    const lastKey = applied.decision.idem_key;
    const lower = lastKey.replace(/[0-9a-f]{12}$/, '000000000000');
    const higher = lastKey.replace(/[0-9a-f]{12}$/, 'ffffffffffff');
    const resume = (idem: string) =>
      signProposal(
        h.draft('Control_Resume', { reason: 'r' }, { hlc, idem_key: idem }),
        ACTORS.orchestrator.secretKey,
      );
    expect(h.apply(resume(lower))).toMatchObject({
      failing_guard: 'hlc',
      reasons: [
        expect.stringMatching(/equals the last applied HLC and \(signer, idem_key\) does not sort after/),
      ],
    });
    expect(h.apply(resume(higher))).toMatchObject({ accepted: true });
  });

  it('orders by the instant, not the spelling: another offset for the same instant is equal', () => {
    const h = new Harness();
    h.must('Control_Pause', pause, { hlc: '2025-10-19T01:00:00.000+00:00#5' });
    const p = signProposal(
      h.draft('Control_Resume', { reason: 'r' }, { hlc: '2025-10-19T03:00:00.000+02:00#4' }),
      ACTORS.orchestrator.secretKey,
    );
    expect(h.apply(p)).toMatchObject({ failing_guard: 'hlc' });
  });

  it('rejects an HLC too far ahead of the orchestrator clock', () => {
    const h = new Harness();
    const p = signedPause(h, { hlc: formatHlc({ wall: h.now + h.config.hlcMaxDriftMs + 1, counter: 0 }) });
    expect(h.apply(p)).toMatchObject({
      failing_guard: 'hlc',
      reasons: [expect.stringMatching(/ahead of the orchestrator clock/)],
    });
    const within = signedPause(h, { hlc: formatHlc({ wall: h.now + h.config.hlcMaxDriftMs, counter: 0 }) });
    expect(h.apply(within)).toMatchObject({ accepted: true });
  });
});

describe('the order of checks', () => {
  it('checks the signature before authorisation, idempotency and staleness', () => {
    const h = new Harness();
    const p = signProposal(
      h.draft('Control_Pause', pause, { signer: ACTORS.stranger }),
      ACTORS.stranger.secretKey,
    );
    const forged = { ...p, current_state_hash: hashCanonical('stale') };
    expect(h.apply(forged)).toMatchObject({ failing_guard: 'signature' });
  });

  it('checks authorisation before idempotency', () => {
    const h = new Harness();
    const p = signedPause(h);
    h.apply(p);
    const again = signProposal({ ...p, signer: ACTORS.intruder.key }, ACTORS.intruder.secretKey);
    expect(h.apply(again)).toMatchObject({ failing_guard: 'authorisation' });
  });

  it('checks staleness before the HLC, and the HLC before whether the transition is enabled', () => {
    const h = new Harness();
    h.must('Control_Pause', pause);
    const old = h.state.hlc_last!;
    const staleAndOld = signProposal(
      { ...h.draft('Execution_Reverb', {}), current_state_hash: hashCanonical('x'), hlc: old },
      ACTORS.orchestrator.secretKey,
    );
    expect(h.apply(staleAndOld)).toMatchObject({ failing_guard: 'concurrency' });
    const oldButHead = signProposal(
      { ...h.draft('Execution_Reverb', {}), hlc: '2025-10-19T00:00:00.000+00:00#0' },
      ACTORS.orchestrator.secretKey,
    );
    expect(h.apply(oldButHead)).toMatchObject({ failing_guard: 'hlc' });
    expect(h.step('Execution_Reverb', {})).toMatchObject({ failing_guard: 'statechart' });
  });

  it('checks inputs after the statechart and before guards, naming the offending field', () => {
    const h = new Harness().driveLicensed();
    expect(h.step('Ingestion_Fetch', { sources: [] })).toMatchObject({
      failing_guard: 'inputs',
      reasons: [expect.stringContaining('inputs.sources')],
    });
    expect(h.step('Ingestion_Fetch', { sources: ['urn:a'], extra: 1 })).toMatchObject({
      failing_guard: 'inputs',
    });
  });

  it('evaluates every guard, names the first that failed and reports all reasons', () => {
    const h = new Harness().driveLicensed();
    h.must('Control_Pause', pause);
    h.must(
      'Policy_Quarantine',
      { rationale: 'leak', breaches: ['leak'] },
      { io: { policy: { breach: true } } },
    );
    const result = h.step('Ingestion_Fetch', { sources: ['urn:a'] });
    if (result.accepted) throw new Error('accepted');
    expect(result.failing_guard).toBe('control');
    expect(result.outcomes.map((o) => [o.guard, o.ok])).toEqual([
      ['active', true],
      ['licence', true],
      ['control', false],
      ['not-quarantined', false],
      ['policy-scan', true],
    ]);
    expect(result.reasons).toHaveLength(2);
  });
});

describe('outcomes', () => {
  it('drafts a decision record with everything the ledger needs', () => {
    const h = new Harness();
    const p = signedPause(h, { evidence: ['ucxl://swoosh:m-test@control/why'] });
    const result = h.apply(p);
    if (!result.accepted || result.duplicate) throw new Error('not accepted');
    // In the ledger record's own names: the ledger adds to the draft, it renames nothing.
    expect(result.decision).toEqual({
      mission: 'm-test',
      seq: 1,
      region: 'control',
      transition: 'Control_Pause',
      guards: [{ guard: 'active', ok: true, reasons: [] }],
      signer: p.signer,
      proposal_signature: p.signature,
      signature_verified: true,
      pre_state_hash: p.current_state_hash,
      post_state_hash: stateHash(result.state),
      inputs_hash: p.inputs_hash,
      idem_key: p.idem_key,
      hlc: p.hlc,
      window_id: p.window_id,
      evidence: ['ucxl://swoosh:m-test@control/why'],
      decided_at: new Date(T0).toISOString(),
    });
    expect(decisionId(result.decision)).toBe('ucxl://swoosh:m-test@control/Control_Pause/1');
    expect(result.post_hash).toBe(result.decision.post_state_hash);
    expect(decisionId({ mission: 'm', region: 'council', transition: 'Council_Eject', seq: 9 })).toBe(
      'ucxl://swoosh:m@council/Council_Eject/9',
    );
  });

  it('asks for a quarantine when the policy scan finds a breach, and the escalation is then accepted', () => {
    const h = new Harness().driveLicensed();
    const breach = {
      policy: { breach: true, rationale: 'API key in sources', breaches: ['API key in sources'] },
    };
    const result = h.step('Ingestion_Fetch', { sources: ['urn:a'] }, { io: breach });
    if (result.accepted) throw new Error('accepted');
    expect(result).toMatchObject({
      failing_guard: 'policy-scan',
      escalation: { transition: 'Policy_Quarantine' },
    });
    const follow = h.step(result.escalation!.transition, { ...result.escalation!.inputs }, { io: breach });
    expect(follow).toMatchObject({ accepted: true });
    expect(h.state.policy).toMatchObject({ phase: 'QUARANTINED', rationale: 'API key in sources' });
  });

  it('never changes the state on a rejection', () => {
    const h = new Harness();
    const before = h.state;
    const hash = stateHash(before);
    for (const name of ['Execution_Work', 'Boot_Licensed', 'Policy_Release'] as const) {
      const result = h.step(name, {});
      expect(result.accepted).toBe(false);
      expect(h.state).toBe(before);
      expect(stateHash(h.state)).toBe(hash);
    }
  });
});

describe('the orchestrator’s trusted path', () => {
  it('applies an unsigned proposal, recording the signer and no signature', () => {
    const h = new Harness();
    const result = applyTrustedProposal(
      h.state,
      buildProposal(h.state, {
        transition: 'Control_Pause',
        inputs: pause,
        signer: ACTORS.orchestrator.key,
        idem_key: h.idemKey('Control_Pause'),
        hlc: h.nextHlc(),
        window_id: 'backbeat:W-2025-10-19-02',
      }),
      {
        registry: h.registry,
        idempotency: h.idempotency,
        config: h.config,
        now: h.now,
      },
    );
    expect(result).toMatchObject({
      accepted: true,
      decision: { signer: ACTORS.orchestrator.key, proposal_signature: null, signature_verified: false },
    });
  });

  it('still enforces authorisation, idempotency and every other check', () => {
    const h = new Harness();
    const p = h.draft('Control_Pause', pause, { signer: ACTORS.intruder });
    expect(h.apply(p, { signed: false })).toMatchObject({ failing_guard: 'authorisation' });
    const stale = { ...h.draft('Control_Pause', pause), current_state_hash: hashCanonical('x') };
    expect(h.apply(stale, { signed: false })).toMatchObject({ failing_guard: 'concurrency' });
  });

  it('is not a way around verification: the signed path refuses an unsigned proposal', () => {
    const h = new Harness();
    expect(h.apply(h.draft('Control_Pause', pause))).toMatchObject({
      failing_guard: 'schema',
      reasons: [expect.stringContaining('signature')],
    });
  });

  it('rejects an unusable clock instead of guessing', () => {
    const h = new Harness();
    const ctx = { registry: h.registry, idempotency: h.idempotency, config: h.config, now: Number.NaN };
    expect(() => applyProposal(h.state, signedPause(h), ctx)).toThrow(RangeError);
  });
});

function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortDeep((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
