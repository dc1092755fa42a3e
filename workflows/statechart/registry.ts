/**
 * The signer registry: which keys may propose which transition classes (docs/design.md#proposals: "the signer must
 * be registered and authorised for that transition class"). It is configuration handed to the
 * protocol, not part of the state document, so rotating a key does not rewrite mission state; a
 * replay must therefore use the registry that was in force, which the workflow keeps in its inputs.
 */
import { TRANSITION_CLASSES, type TransitionClass } from '../../schemas/statechart';
import { publicKeyOf, type SignerKey } from '../../schemas/signed-bytes';

/** One registered signer. `'*'` authorises every class (the orchestrator's own key, typically). */
export interface SignerEntry {
  readonly key: SignerKey;
  readonly classes: readonly (TransitionClass | '*')[];
  /** Human-readable name for reasons and logs. */
  readonly label?: string;
}

/** Read-only lookup built once from the entries. */
export interface SignerRegistry {
  readonly entries: readonly SignerEntry[];
  /** Null when authorised, otherwise the reason for refusal. */
  authorise(signer: string, cls: TransitionClass): string | null;
  isRegistered(signer: string): boolean;
}

/**
 * Builds a registry. Throws on malformed keys, unknown classes or a key listed twice — each would
 * be a configuration error that silently widened or narrowed someone's rights.
 */
export function createSignerRegistry(entries: readonly SignerEntry[]): SignerRegistry {
  const byKey = new Map<string, { all: boolean; classes: ReadonlySet<string>; label: string }>();
  for (const entry of entries) {
    if (publicKeyOf(entry.key) === null) throw new RangeError(`signer registry: malformed key ${entry.key}`);
    if (byKey.has(entry.key)) throw new RangeError(`signer registry: ${entry.key} listed twice`);
    for (const cls of entry.classes) {
      if (cls !== '*' && !(TRANSITION_CLASSES as readonly string[]).includes(cls)) {
        throw new RangeError(`signer registry: unknown transition class ${String(cls)}`);
      }
    }
    byKey.set(entry.key, {
      all: entry.classes.includes('*'),
      classes: new Set(entry.classes),
      label: entry.label ?? entry.key,
    });
  }
  const frozen = Object.freeze(
    entries.map((e) => Object.freeze({ ...e, classes: Object.freeze([...e.classes]) })),
  );
  return Object.freeze({
    entries: frozen,
    authorise(signer: string, cls: TransitionClass): string | null {
      const found = byKey.get(signer);
      if (found === undefined) return `signer ${signer} is not registered`;
      if (found.all || found.classes.has(cls)) return null;
      return `signer ${found.label} is not authorised for transition class '${cls}'`;
    },
    isRegistered(signer: string): boolean {
      return byKey.has(signer);
    },
  });
}
