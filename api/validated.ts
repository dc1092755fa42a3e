/**
 * Route wrappers that parse the request with zod before the handler runs. Handlers receive the
 * parsed output only, so raw input can never reach a workflow.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { sendProblem, validationProblem } from './problem';

export interface Parsed<P, B> {
  params: P;
  body: B;
}

export function validated<PS extends z.ZodType, BS extends z.ZodType>(
  schemas: { params?: PS; body?: BS },
  handler: (input: Parsed<z.output<PS>, z.output<BS>>, res: Response) => Promise<void>,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const params = schemas.params
      ? schemas.params.safeParse(req.params)
      : { success: true as const, data: undefined };
    if (!params.success) return sendProblem(res, validationProblem(params.error, 'params'));
    const body = schemas.body
      ? schemas.body.safeParse(req.body)
      : { success: true as const, data: undefined };
    if (!body.success) return sendProblem(res, validationProblem(body.error, 'body'));
    handler({ params: params.data as z.output<PS>, body: body.data as z.output<BS> }, res).catch(next);
  };
}
