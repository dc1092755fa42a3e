/**
 * What the people commands print and how they exit: one line per fact for people, one JSON
 * document for scripts (`--json`), and an exit code per kind of outcome (cli/usage.ts).
 */
import type { ApiResponse, ProblemBody, SignedOutcome } from '../../api/client';
import { EXIT } from '../usage';
import type { Context } from './context';

/** The exit code of an answer that was not a success. */
export function exitForStatus(status: number): number {
  if (status === 401 || status === 403) return EXIT.unauthorised;
  if (status === 503 || status === 504) return EXIT.unreachable;
  return EXIT.failure;
}

/** Prints a plain answer: the body as JSON, or `human(body)` lines; a problem to stderr. */
export function answer<T>(ctx: Context, res: ApiResponse<T>, human: (body: T) => string[]): number {
  if (!res.ok) return problem(ctx, res.status, res.body);
  if (ctx.json) ctx.io.out(JSON.stringify(res.body, null, 2));
  else for (const line of human(res.body)) ctx.io.out(line);
  return EXIT.ok;
}

export function problem(ctx: Context, status: number, body: ProblemBody | string): number {
  if (ctx.json) ctx.io.out(JSON.stringify({ status, problem: body }, null, 2));
  const detail = typeof body === 'string' ? body : `${body.title}: ${body.detail}`;
  ctx.io.err(`error: ${status} ${detail}${hint(status)}`);
  return exitForStatus(status);
}

function hint(status: number): string {
  if (status === 401) return ' (set SWOOSH_TOKEN, --token or a profile token)';
  if (status === 403) return " (this token's role may not do that)";
  return '';
}

/** Prints how a signed request ended and returns its exit code. */
export function signedOutcome<T>(
  ctx: Context,
  what: string,
  outcome: SignedOutcome<T>,
  accepted: (body: T) => string[],
): number {
  const { io } = ctx;
  if (ctx.json) io.out(JSON.stringify(outcome, null, 2));
  switch (outcome.kind) {
    case 'accepted':
      if (!ctx.json) {
        for (const line of accepted(outcome.body)) io.out(line);
        if (outcome.attempts > 1)
          io.out(`(sent ${outcome.attempts} times: ${(outcome.retriedBecause ?? ['retried']).join(', ')})`);
      }
      return EXIT.ok;
    case 'refused':
      io.err(`refused: ${what} failed the ${outcome.failingGuard} guard`);
      for (const reason of outcome.reasons) io.err(`  ${reason}`);
      if (outcome.opensAt !== undefined) {
        const inSeconds = Math.max(0, Math.ceil((Date.parse(outcome.opensAt) - Date.now()) / 1000));
        io.err(
          `the window opens at ${outcome.opensAt} (in ${inSeconds} s); run again with --wait to wait for it`,
        );
      }
      return EXIT.refused;
    case 'stale':
      io.err(`stale: HEAD moved on each of ${outcome.attempts} attempts; try again (or raise --retries)`);
      for (const reason of outcome.reasons) io.err(`  ${reason}`);
      return EXIT.stale;
    case 'failed':
      if (ctx.json) {
        ctx.io.err(
          `error: ${outcome.status} ${outcome.problem.title}: ${outcome.problem.detail}${hint(outcome.status)}`,
        );
        return exitForStatus(outcome.status);
      }
      return problem(ctx, outcome.status, outcome.problem);
  }
}
