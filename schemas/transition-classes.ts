/**
 * Transition (operation) classes. A signer is authorised per class, an `idem_key` names its class,
 * and idempotency is tracked per class. The list lives here, below the statechart
 * (schemas/statechart.ts re-exports it), so that mission configs naming classes can
 * be checked by the gateway with the very list the workflow's signer registry accepts.
 */
export const TRANSITION_CLASSES = [
  'licence',
  'ingestion',
  'council',
  'environment',
  'plan',
  'work',
  'review',
  'approval',
  'reverb',
  'control',
  'policy',
  'owner',
  'terminal',
] as const;
export type TransitionClass = (typeof TRANSITION_CLASSES)[number];
