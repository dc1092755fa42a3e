/**
 * The reducer `reduce(state, transition) → state` (docs/design.md#state-and-hashes): pure, total, and the only code that
 * produces a new state document.
 *
 * Total means every (state, transition) pair has an answer. A transition that is not enabled in the
 * current phase, or whose inputs do not parse, leaves the state as it is and returns the very same
 * object — the statechart convention that an event a state does not handle is ignored. Deciding
 * whether a proposal *should* apply is the protocol's job (guards, signatures, ordering); the
 * reducer only says what applying it means.
 */
import type { StateDocument } from '../../schemas/state-document';
import { DEFAULT_CONFIG, type MachineConfig } from './config';
import type { REGIONS } from '../../schemas/statechart';
import {
  TRANSITION_NAMES,
  TRANSITIONS,
  transitionDef,
  type Region,
  type TransitionName,
} from '../../schemas/statechart';
import { HANDLERS, type Handler, type TransitionEvent } from './handlers';
import { canonicalHlc } from '../../schemas/hlc';
import { parseInputs, type InputOf } from '../../schemas/transition-inputs';
import { deepFreeze } from '../../schemas/canonical-json';

export type { TransitionEvent };

/** True when `name` is enabled from the current phase of its region. */
export function isEnabled(state: StateDocument, name: TransitionName): boolean {
  const def = TRANSITIONS[name];
  return (def.from as readonly string[]).includes(state[def.region].phase);
}

/** Transitions enabled from the current phases (guards not evaluated), in definition order. */
export function enabledTransitions(state: StateDocument): TransitionName[] {
  return TRANSITION_NAMES.filter((name) => isEnabled(state, name));
}

/**
 * Applies a transition whose inputs are already parsed. The protocol calls this after its checks so
 * inputs are parsed once; it assumes the transition is enabled.
 */
export function reduceParsed<K extends TransitionName>(
  state: StateDocument,
  event: TransitionEvent<K>,
  inputs: InputOf<K>,
  config: MachineConfig,
): StateDocument {
  const def = TRANSITIONS[event.name];
  const region: Region = def.region;
  const handler = HANDLERS[event.name] as Handler<K>;
  const hlcLast = canonicalHlc(event.hlc);
  if (hlcLast === null) return state;
  const next = handler(state[region] as never, inputs, { state, event, config });
  return deepFreeze({
    ...state,
    [region]: { ...next, phase: def.to },
    epoch: { ...state.epoch, [region]: state.epoch[region] + 1 },
    // Stored in its one canonical UTC spelling, so equal instants give equal documents.
    hlc_last: hlcLast,
    head: { seq: state.head.seq + 1, transition: event.name, signer: event.signer, idem_key: event.idem_key },
  });
}

/**
 * Applies `event` to `state` and returns the next state: the transition's region gets its new
 * document and phase, that region's epoch advances by exactly one, `hlc_last` and `head` record the
 * event. Never mutates `state`; unchanged regions are shared with it. Returns `state` itself when
 * the transition is unknown, not enabled, has unparseable inputs or a malformed HLC.
 */
export function reduce(
  state: StateDocument,
  event: TransitionEvent,
  config: MachineConfig = DEFAULT_CONFIG,
): StateDocument {
  const def = transitionDef(event.name);
  if (def === undefined) return state;
  const name = event.name;
  if (!isEnabled(state, name)) return state;
  const parsed = parseInputs(name, event.inputs);
  if (!parsed.ok) return state;
  return reduceParsed(state, event, parsed.value, config);
}

/** The phase a region is in. */
export function phaseOf<R extends Region>(
  state: StateDocument,
  region: R,
): (typeof REGIONS)[R]['states'][number] {
  return state[region].phase;
}
