/**
 * Route wrappers that parse the request with zod before the handler runs, for routers served
 * outside the gateway's registry (the bare timer router). Handlers receive the parsed output only,
 * so raw input can never reach a workflow; refusals are the registry's problem documents.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { sendProblem, validationProblem } from './problem';

export interface Parsed<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export function validated<PS extends z.ZodType, QS extends z.ZodType, BS extends z.ZodType>(
  schemas: { params?: PS; query?: QS; body?: BS },
  handler: (input: Parsed<z.output<PS>, z.output<QS>, z.output<BS>>, res: Response) => Promise<void>,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const parts = { params: req.params, query: req.query, body: req.body as unknown };
    const out: Record<string, unknown> = {};
    for (const key of ['params', 'query', 'body'] as const) {
      const schema = schemas[key];
      if (!schema) continue;
      const parsed = schema.safeParse(parts[key]);
      if (!parsed.success) return sendProblem(res, validationProblem(parsed.error, key));
      out[key] = parsed.data;
    }
    handler(out as unknown as Parsed<z.output<PS>, z.output<QS>, z.output<BS>>, res).catch(next);
  };
}
