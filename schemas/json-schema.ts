/**
 * Helpers that let a zod contract state its rules in JSON Schema, so the OpenAPI document
 * generated from it refuses exactly what the gateway refuses. JSON Schema patterns take no flags
 * and fuzzers generate from them, hence character classes rather than `i` or lookarounds.
 */

/** A regex source matching `text` literally in any letter case: `ab-` → `[Aa][Bb]-`. */
export function anyCase(text: string): string {
  return [...text]
    .map((c) =>
      /[a-z]/i.test(c) ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c.replace(/[\\^$.*+?()[\]{}|/]/, '\\$&'),
    )
    .join('');
}
