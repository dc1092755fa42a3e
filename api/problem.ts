/**
 * RFC 9457 problem details: every error the gateway returns has this shape, names the field
 * and the reason, and never carries a stack trace.
 */
import type { Response } from 'express';
import type { z } from 'zod';
import type { FieldProblem as FieldProblemSchema, Problem as ProblemSchema } from '../schemas/api';

export type FieldProblem = z.infer<typeof FieldProblemSchema>;

/** A problem as handlers write it; `type` is added when it is sent. */
export type Problem = Omit<z.infer<typeof ProblemSchema>, 'type'>;

/** Extension members (RFC 9457 §3.2), e.g. a rejected transition's `failing_guard`, ride along. */
export function sendProblem<P extends Problem>(res: Response, problem: P): void {
  res
    .status(problem.status)
    .type('application/problem+json')
    .json({ type: 'about:blank', ...problem });
}

export function fieldProblems(error: z.ZodError, prefix: string): FieldProblem[] {
  return error.issues.flatMap((issue) => {
    const path = [prefix, ...issue.path.map(String)].join('.');
    // An unknown key is reported on the object; name the key itself so the caller can find it.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: `${path}.${key}`, reason: 'unknown field' }));
    }
    return [{ field: path, reason: issue.message }];
  });
}

export function validationProblem(error: z.ZodError, prefix: string): Problem {
  const errors = fieldProblems(error, prefix);
  return {
    status: 400,
    title: 'Invalid request',
    detail: errors.map((e) => `${e.field}: ${e.reason}`).join('; '),
    errors,
  };
}

/** An error's first line, bounded: enough to act on, never a stack, a file path or a payload. */
export function firstLineOf(error: unknown, max = 200): string {
  // Node's file errors carry the path; the code says enough.
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    if (/^E[A-Z]+$/.test(error.code)) return error.code;
  }
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? '').slice(0, max);
}
