/**
 * Property-based tests over simulated missions (docs/design.md#what-must-always-hold): random valid and invalid proposal streams
 * with 1–10% duplicates, reorders and drops keep every invariant; a stream always replays to the
 * same hash; a duplicate changes nothing; forged or unauthorised signatures and stale hashes are
 * always rejected.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StateDocumentSchema } from '../../schemas/state-document';
import type { TransitionProposal, UnsignedTransitionProposal } from '../../schemas/proposal';
import { base64Decode, base64Encode } from '../../schemas/base64';
import { TRANSITIONS } from '../../schemas/statechart';
import { hashCanonical } from '../../schemas/hash';
import { formatHlc, parseHlc } from '../../schemas/hlc';
import { applyProposal, applyTrustedProposal, type ApplyContext } from '../../workflows/statechart/protocol';
import { signProposal } from '../../workflows/statechart/signing';
import { stateHash } from '../../workflows/statechart/state';
import { ACTORS, APPROVERS, testKey, type TestKey } from './support/keys';
import {
  EXPECTED_FAILURE,
  replay,
  simContext,
  simulate,
  summarise,
  type InvalidKind,
  type SimOptions,
} from './support/sim';

function unsignedOf(p: TransitionProposal): UnsignedTransitionProposal {
  const { signature, ...unsigned } = p;
  void signature;
  return unsigned;
}

const rate = fc.double({ min: 0.01, max: 0.1, noNaN: true });
const chaosArb = fc.record({ duplicate: rate, reorder: rate, drop: rate, invalid: rate });

function assertSound(run: ReturnType<typeof simulate>): void {
  expect(run.violations).toEqual([]);
  run.stream.forEach((d, i) => {
    const r = run.results[i]!;
    if (d.kind.startsWith('invalid:')) {
      const expected = EXPECTED_FAILURE[d.kind.slice('invalid:'.length) as InvalidKind];
      expect(r, `delivery ${i} (${d.kind})`).toMatchObject({ accepted: false, failing_guard: expected });
    }
    if (d.kind === 'duplicate') expect(r, `delivery ${i}`).toMatchObject({ accepted: true, duplicate: true });
    const prev = i === 0 ? null : run.heads[i - 1];
    if (!r.accepted || r.duplicate) {
      if (prev !== null) expect(run.heads[i]).toBe(prev);
    }
  });
  expect(StateDocumentSchema.safeParse(run.final).success).toBe(true);
}

describe('chaotic proposal streams (trusted path, many runs)', () => {
  it('keep every invariant with 1–10% duplicates, reorders, drops and invalid proposals', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        chaosArb,
        fc.integer({ min: 60, max: 200 }),
        fc.boolean(),
        (seed, chaos, deliveries, allowTerminate) => {
          const run = simulate({
            seed,
            chaos,
            deliveries,
            signed: false,
            checkInvariants: true,
            allowTerminate,
            perturb: 0.06,
          });
          assertSound(run);
        },
      ),
      { numRuns: 30 },
    );
  }, 120_000);

  it('always replay to the same hashes, result by result', () => {
    fc.assert(
      fc.property(fc.integer(), chaosArb, fc.integer({ min: 50, max: 150 }), (seed, chaos, deliveries) => {
        const options: SimOptions = { seed, chaos, deliveries, signed: false };
        const run = simulate(options);
        const first = replay(run.stream, options);
        const second = replay(run.stream, options);
        expect(first.finalHash).toBe(run.finalHash);
        expect(second.finalHash).toBe(run.finalHash);
        expect(first.heads).toEqual(run.heads);
        expect(first.results.map(summarise)).toEqual(run.results.map(summarise));
        expect(simulate(options).finalHash).toBe(run.finalHash);
      }),
      { numRuns: 15 },
    );
  }, 120_000);

  it('change nothing when an applied proposal is delivered again, at any later point', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: 40, max: 120 }),
        fc.nat(),
        fc.nat(),
        (seed, deliveries, pickA, pickB) => {
          const options: SimOptions = {
            seed,
            deliveries,
            signed: false,
            chaos: { duplicate: 0, reorder: 0.05, drop: 0.05, invalid: 0.05 },
          };
          const run = simulate(options);
          const replayed = replay(run.stream, options);
          const accepted = run.results.flatMap((r, i) => (r.accepted && !r.duplicate ? [i] : []));
          fc.pre(accepted.length > 0);
          const i = accepted[pickA % accepted.length]!;
          const later = i + 1 + (pickB % (run.stream.length - i));
          const at =
            later < run.stream.length
              ? replayed.before[later]!
              : { state: replayed.final, idempotency: run.idempotency };
          const first = run.results[i]!;
          const { registry, config } = simContext(options);
          const again = applyTrustedProposal(at.state, run.stream[i]!.proposal, {
            registry,
            config,
            idempotency: at.idempotency,
            now: run.stream[Math.min(later, run.stream.length - 1)]!.now,
            io: run.stream[i]!.io,
          });
          expect(again.accepted && again.duplicate).toBe(true);
          if (!again.accepted || !again.duplicate || !first.accepted) return;
          expect(again.state).toBe(at.state);
          expect(again.idempotency).toBe(at.idempotency);
          expect(again.post_hash).toBe(first.post_hash);
          expect(again.outcomes).toEqual(first.outcomes);
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});

describe('signed proposal streams (fewer runs: ed25519 in pure JS is slow)', () => {
  it('keep every invariant and reject every forged signature in the stream', () => {
    fc.assert(
      fc.property(fc.integer(), chaosArb, (seed, chaos) => {
        const run = simulate({
          seed,
          chaos: { ...chaos, invalid: 0.1 },
          deliveries: 30,
          signed: true,
          checkInvariants: true,
        });
        assertSound(run);
      }),
      { numRuns: 4 },
    );
  }, 120_000);

  // One signed run supplies valid proposals and the state each was valid against.
  const base: SimOptions = {
    seed: 20251019,
    deliveries: 45,
    signed: true,
    chaos: { duplicate: 0, reorder: 0, drop: 0, invalid: 0 },
  };
  const run = simulate(base);
  const replayed = replay(run.stream, base);
  const { registry, config } = simContext(base);
  const valid = run.results.flatMap((r, i) => (r.accepted && !r.duplicate ? [i] : []));
  const ctxAt = (i: number): ApplyContext => ({
    registry,
    config,
    idempotency: replayed.before[i]!.idempotency,
    now: run.stream[i]!.now,
    io: run.stream[i]!.io,
  });

  const field = fc.constantFrom(
    'current_state_hash',
    'inputs',
    'hlc',
    'window_id',
    'evidence',
    'idem_key',
    'signer',
    'signature',
  );

  it('always rejects a proposal altered after signing, or signed by a key other than its signer', () => {
    expect(valid.length).toBeGreaterThan(20);
    fc.assert(
      fc.property(fc.constantFrom(...valid), field, fc.nat(), (i, which, n) => {
        const p = run.stream[i]!.proposal as TransitionProposal;
        const state = replayed.before[i]!.state;
        const altered: TransitionProposal = { ...p };
        switch (which) {
          case 'current_state_hash':
            altered.current_state_hash = hashCanonical(`other-${n}`);
            break;
          case 'inputs':
            altered.inputs = { ...p.inputs, extra: n };
            altered.inputs_hash = hashCanonical(altered.inputs);
            break;
          case 'hlc': {
            const h = parseHlc(p.hlc);
            altered.hlc = formatHlc({ wall: h.wall, counter: h.counter + 1 + (n % 5) });
            break;
          }
          case 'window_id':
            altered.window_id = `backbeat:W-2030-01-01-${String(n % 48).padStart(2, '0')}`;
            break;
          case 'evidence':
            altered.evidence = [...p.evidence, `urn:swoosh:forged:${n}`];
            break;
          case 'idem_key':
            altered.idem_key = p.idem_key.replace(
              /[0-9a-f]{12}$/,
              (n % 0xffffffffffff).toString(16).padStart(12, '0'),
            );
            fc.pre(altered.idem_key !== p.idem_key);
            break;
          case 'signer': {
            // Claim another registered signer with the right class; the signature is not theirs.
            const others = [
              ACTORS.orchestrator,
              ACTORS.owner,
              ACTORS.agent,
              ACTORS.reviewer,
              ...APPROVERS,
            ].filter((k) => k.key !== p.signer);
            altered.signer = others[n % others.length]!.key;
            break;
          }
          case 'signature': {
            const bytes = base64Decode(p.signature)!;
            bytes[n % 64]! ^= 1 << (n % 8);
            altered.signature = base64Encode(bytes);
            break;
          }
        }
        const result = applyProposal(state, altered, ctxAt(i));
        expect(result).toMatchObject({ accepted: false });
        if (!result.accepted) expect(['signature', 'authorisation']).toContain(result.failing_guard);
        if (which !== 'signer' && !result.accepted) expect(result.failing_guard).toBe('signature');
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('always rejects a validly signed proposal from a signer not authorised for its class', () => {
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.constantFrom('stranger', 'intruder', 'unknown'), (i, who) => {
        const p = run.stream[i]!.proposal as TransitionProposal;
        const cls = TRANSITIONS[p.transition].class;
        const key: TestKey =
          who === 'stranger'
            ? ACTORS.stranger
            : who === 'intruder'
              ? ACTORS.intruder
              : testKey(`unknown-${i}`);
        fc.pre(!(who === 'intruder' && cls === 'work'));
        const unsigned = unsignedOf(p);
        const resigned = signProposal({ ...unsigned, signer: key.key }, key.secretKey);
        const result = applyProposal(replayed.before[i]!.state, resigned, ctxAt(i));
        expect(result).toMatchObject({ accepted: false, failing_guard: 'authorisation' });
      }),
      { numRuns: 30 },
    );
  }, 120_000);

  it('always rejects a properly signed proposal whose current_state_hash is not HEAD', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.oneof(fc.constant('random'), fc.constant('earlier'), fc.constant('later')),
        fc.nat(),
        (i, kind, n) => {
          const p = run.stream[i]!.proposal as TransitionProposal;
          const head = stateHash(replayed.before[i]!.state);
          let stale: string;
          if (kind === 'random') stale = hashCanonical(`random-${n}`);
          else if (kind === 'earlier') stale = stateHash(replayed.before[n % (i + 1)]!.state);
          else
            stale =
              i + 1 < replayed.before.length
                ? stateHash(replayed.before[i + 1 + (n % (replayed.before.length - i - 1))]!.state)
                : replayed.finalHash;
          fc.pre(stale !== head);
          const signer = [
            ACTORS.orchestrator,
            ACTORS.owner,
            ACTORS.agent,
            ACTORS.reviewer,
            ...APPROVERS,
          ].find((k) => k.key === p.signer)!;
          const unsigned = unsignedOf(p);
          const resigned = signProposal({ ...unsigned, current_state_hash: stale }, signer.secretKey);
          const result = applyProposal(replayed.before[i]!.state, resigned, ctxAt(i));
          expect(result).toMatchObject({ accepted: false, failing_guard: 'concurrency' });
        },
      ),
      { numRuns: 30 },
    );
  }, 120_000);
});

describe('the simulated streams', () => {
  it('exercise every transition, every kind of invalid proposal and every kind of chaos', () => {
    const accepted = new Set<string>();
    const kinds = new Set<string>();
    const failing = new Set<string>();
    for (const seed of [1, 2, 3]) {
      const run = simulate({
        seed,
        accepted: 1200,
        signed: false,
        perturb: 0.08,
        chaos: { duplicate: 0.05, reorder: 0.05, drop: 0.05, invalid: 0.08 },
      });
      run.results.forEach((r, i) => {
        kinds.add(run.stream[i]!.kind);
        if (r.accepted && !r.duplicate) accepted.add(r.decision.transition);
        if (!r.accepted) failing.add(r.failing_guard);
      });
    }
    const terminated = simulate({
      seed: 7,
      deliveries: 600,
      signed: false,
      allowTerminate: true,
      perturb: 0.1,
      chaos: { duplicate: 0.02, reorder: 0.02, drop: 0.02, invalid: 0.02 },
    });
    expect(terminated.final.terminal.phase).toBe('TERMINATED');
    terminated.results.forEach((r) => {
      if (r.accepted && !r.duplicate) accepted.add(r.decision.transition);
      if (!r.accepted) failing.add(r.failing_guard);
    });
    expect([...accepted].sort()).toEqual(Object.keys(TRANSITIONS).sort());
    const invalidKinds = [
      'unauthorised',
      'unregistered',
      'stale-hash',
      'bad-schema',
      'hlc-regression',
      'idem-reuse',
      'not-enabled',
    ];
    expect([...kinds].sort()).toEqual(
      ['duplicate', 'fresh', 'reordered', ...invalidKinds.map((k) => `invalid:${k}`)].sort(),
    );
    // Guards that reject valid-looking proposals in flight: flapping tools, licence denial, breaches, split brain.
    for (const guard of ['tooling', 'licence-verdict', 'policy-scan', 'quorum', 'active', 'concurrency'])
      expect(failing).toContain(guard);
  }, 120_000);
});
