/**
 * The gateway's express app, built without listening so tests can mount it on any port and the
 * entry point can own the process lifecycle.
 */
import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response } from 'express';
import { MissionIdParam, MissionPrompt } from '../schemas/mission';
import { MissionConfigInput } from '../schemas/mission-config';
import { MissionConflictError, MissionNotFoundError, readMission, startMission } from './missions';
import { sendProblem } from './problem';
import { mountTransitionRoutes } from './transitions';
import { validated } from './validated';

export interface AppDeps {
  client: Client;
  taskQueue: string;
}

const BODY_LIMIT = '64kb';

/** A MissionPrompt, optionally with the mission's config (signers, council, schedule…). */
const MissionStartRequest = MissionPrompt.extend({ config: MissionConfigInput.optional() });

export function createApp({ client, taskQueue }: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'POST' && !req.is('application/json')) {
      const detail = 'body: content type must be application/json';
      return sendProblem(res, { status: 415, title: 'Unsupported media type', detail });
    }
    next();
  });
  app.use(express.json({ limit: BODY_LIMIT, strict: true, type: 'application/json' }));

  app.post(
    '/missions',
    validated({ body: MissionStartRequest }, async ({ body }, res) => {
      try {
        const { config, ...prompt } = body;
        const started = await startMission(client, taskQueue, prompt, config);
        res.status(started.created ? 201 : 200).json(started);
      } catch (err) {
        if (!(err instanceof MissionConflictError)) throw err;
        sendProblem(res, { status: 409, title: 'Mission conflict', detail: err.message });
      }
    }),
  );

  app.get(
    '/missions/:id',
    validated({ params: MissionIdParam }, async ({ params }, res) => {
      try {
        res.json(await readMission(client, params.id));
      } catch (err) {
        if (!(err instanceof MissionNotFoundError)) throw err;
        sendProblem(res, { status: 404, title: 'Not found', detail: err.message });
      }
    }),
  );

  mountTransitionRoutes(app, client);

  app.use((req: Request, res: Response) => {
    sendProblem(res, { status: 404, title: 'Not found', detail: `no route for ${req.method} ${req.path}` });
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = httpStatusOf(err);
    if (status !== undefined && status < 500) {
      const detail = status === 413 ? `body: larger than ${BODY_LIMIT}` : 'body: not valid JSON';
      sendProblem(res, {
        status,
        title: 'Bad request body',
        detail,
        errors: [{ field: 'body', reason: detail }],
      });
      return;
    }
    console.error(JSON.stringify({ level: 'error', msg: 'request failed', error: String(err) }));
    sendProblem(res, { status: 500, title: 'Internal error', detail: 'the request could not be completed' });
  });

  return app;
}

/** body-parser errors carry an HTTP status; anything else is ours and a 500. */
function httpStatusOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number') {
    return err.status;
  }
  return undefined;
}
