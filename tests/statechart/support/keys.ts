/**
 * Test-only keys. Key generation needs a seed; here each key comes from the SHA-256 of a label, so
 * tests and the separate processes of the 10k run derive the same keys without any randomness. This
 * lives outside workflows/statechart on purpose: the core never creates keys.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import nacl from 'tweetnacl';
import { createSignerRegistry, type SignerRegistry } from '../../../workflows/statechart/registry';
import { signerKeyFromPublicKey, type SignerKey } from '../../../schemas/signed-bytes';

export interface TestKey {
  readonly label: string;
  readonly key: SignerKey;
  readonly secretKey: Uint8Array;
}

const cache = new Map<string, TestKey>();

/** The deterministic key pair named `label`. */
export function testKey(label: string): TestKey {
  const hit = cache.get(label);
  if (hit) return hit;
  const pair = nacl.sign.keyPair.fromSeed(sha256(new TextEncoder().encode(`swoosh-test-key:${label}`)));
  const key: TestKey = { label, key: signerKeyFromPublicKey(pair.publicKey), secretKey: pair.secretKey };
  cache.set(label, key);
  return key;
}

/** The cast of signers the tests use, and what each is authorised for. */
export const ACTORS = {
  orchestrator: testKey('orchestrator'),
  owner: testKey('owner'),
  agent: testKey('agent'),
  reviewer: testKey('reviewer'),
  approverA: testKey('approver-a'),
  approverB: testKey('approver-b'),
  approverC: testKey('approver-c'),
  /** Registered, but only for `work`. */
  intruder: testKey('intruder'),
  /** Not registered at all. */
  stranger: testKey('stranger'),
} as const;

/** Council candidates; their keys sign votes, they are not proposers. */
export const MEMBERS = ['ada', 'brin', 'cole', 'dara', 'eli', 'fay', 'gus'].map((id) => ({
  id,
  ...testKey(`member-${id}`),
}));

export const APPROVERS = [ACTORS.approverA, ACTORS.approverB, ACTORS.approverC];

/** The registry every test uses unless it is testing the registry itself. */
export function testRegistry(): SignerRegistry {
  return createSignerRegistry([
    {
      key: ACTORS.orchestrator.key,
      label: 'orchestrator',
      classes: [
        'licence',
        'ingestion',
        'council',
        'environment',
        'plan',
        'reverb',
        'control',
        'policy',
        'terminal',
      ],
    },
    { key: ACTORS.owner.key, label: 'owner', classes: ['owner', 'control'] },
    { key: ACTORS.agent.key, label: 'agent', classes: ['work'] },
    { key: ACTORS.reviewer.key, label: 'reviewer', classes: ['review'] },
    ...APPROVERS.map((a) => ({ key: a.key, label: a.label, classes: ['approval' as const] })),
    { key: ACTORS.intruder.key, label: 'intruder', classes: ['work'] },
  ]);
}

/** Which actor normally proposes a transition of each class. */
export function proposerFor(cls: string): TestKey {
  switch (cls) {
    case 'owner':
      return ACTORS.owner;
    case 'work':
      return ACTORS.agent;
    case 'review':
      return ACTORS.reviewer;
    case 'approval':
      return ACTORS.approverA;
    default:
      return ACTORS.orchestrator;
  }
}
