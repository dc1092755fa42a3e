/**
 * Transitions, state projections, votes and owner controls over REST (SPEC §3, §7). A proposal is
 * passed to the mission's `transition` update with the update id set to its idem_key, so a retried
 * POST is deduplicated by Temporal and answered with the first outcome.
 */
import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type express from 'express';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { missionWorkflowId, TRANSITION_REJECTED, type TransitionRejection } from '../schemas/mission';
import { parseIdemKey, TransitionProposalSchema } from '../schemas/proposal';
import { controlSignal, stateQuery, transitionUpdate, voteUpdate } from '../workflows/definitions';
import { sendProblem, validationProblem } from './problem';
import { validated } from './validated';

const REGION_NAMES = [
  'boot',
  'ingestion',
  'council',
  'environment',
  'execution',
  'control',
  'policy',
  'terminal',
];

export const StateQueryParams = z.strictObject({
  mission: z.uuid(),
  projection: z
    .string()
    .optional()
    .transform((s) =>
      s
        ? s
            .split(',')
            .map((p) => p.trim().toLowerCase())
            .filter(Boolean)
        : [],
    )
    .refine((names) => names.every((n) => REGION_NAMES.includes(n)), {
      message: `projection names regions: ${REGION_NAMES.join(', ')} (any case)`,
    }),
});

export const TransitionQuery = z.strictObject({ mission: z.uuid().optional() });
export const VoteBody = z.strictObject({
  member: z.string().min(1).max(128),
  council_set_hash: z.string(),
  signature: z.string(),
});
export const ControlBody = z.strictObject({
  action: z.enum(['pause', 'resume']),
  reason: z.string().min(1).max(1024),
});
const MissionParam = z.strictObject({ id: z.uuid() });

function rejectionOf(error: unknown): { rejection?: TransitionRejection; message: string } | undefined {
  if (!(error instanceof WorkflowUpdateFailedError)) return undefined;
  const cause = error.cause;
  if (cause instanceof ApplicationFailure) {
    const details =
      cause.type === TRANSITION_REJECTED ? (cause.details?.[0] as TransitionRejection) : undefined;
    return { rejection: details, message: cause.message };
  }
  return { message: cause?.message ?? error.message };
}

export function mountTransitionRoutes(app: express.Express, client: Client): void {
  app.post('/transition', (req: Request, res: Response, next) => {
    const query = TransitionQuery.safeParse(req.query);
    if (!query.success) return sendProblem(res, validationProblem(query.error, 'query'));
    const body = TransitionProposalSchema.safeParse(req.body);
    if (!body.success) return sendProblem(res, validationProblem(body.error, 'body'));
    const proposal = body.data;
    const mission = query.data.mission ?? parseIdemKey(proposal.idem_key)?.goalId;
    if (!mission || !z.uuid().safeParse(mission).success) {
      return sendProblem(res, {
        status: 400,
        title: 'Invalid request',
        detail: 'name the mission with ?mission=<id> or use the mission id as the idem_key goalId',
        errors: [{ field: 'query.mission', reason: 'missing' }],
      });
    }
    const handle = client.workflow.getHandle(missionWorkflowId(mission));
    handle
      .executeUpdate(transitionUpdate, { args: [proposal], updateId: proposal.idem_key })
      .then((outcome) => {
        res.status(202).json(outcome);
      })
      .catch((error: unknown) => {
        if (error instanceof WorkflowNotFoundError) {
          return sendProblem(res, {
            status: 404,
            title: 'Not found',
            detail: `mission ${mission} not found`,
          });
        }
        const rejected = rejectionOf(error);
        if (!rejected) return next(error);
        const r = rejected.rejection;
        if (r?.failing_guard === 'concurrency') {
          res.status(409).json({ failing_guard: r.failing_guard, reasons: r.reasons, current_hash: r.head });
          return;
        }
        res.status(400).json({
          failing_guard: r?.failing_guard ?? 'rejected',
          reasons: r?.reasons ?? [rejected.message],
        });
      });
  });

  app.get('/state', (req: Request, res: Response, next) => {
    const query = StateQueryParams.safeParse(req.query);
    if (!query.success) return sendProblem(res, validationProblem(query.error, 'query'));
    client.workflow
      .getHandle(missionWorkflowId(query.data.mission))
      .query(stateQuery)
      .then((view) => {
        if (view.state === undefined || view.hash === undefined) {
          return sendProblem(res, {
            status: 409,
            title: 'No state',
            detail: 'mission predates the statechart',
          });
        }
        const names = query.data.projection.length > 0 ? query.data.projection : REGION_NAMES;
        const projection = Object.fromEntries(names.map((n) => [n, view.state![n]]));
        res.json({ hash: view.hash, phase: view.phase, projection });
      })
      .catch((error: unknown) => {
        if (error instanceof WorkflowNotFoundError) {
          return sendProblem(res, {
            status: 404,
            title: 'Not found',
            detail: `mission ${query.data.mission} not found`,
          });
        }
        next(error);
      });
  });

  app.post(
    '/missions/:id/votes',
    validated({ params: MissionParam, body: VoteBody }, async ({ params, body }, res) => {
      try {
        const tally = await client.workflow
          .getHandle(missionWorkflowId(params.id))
          .executeUpdate(voteUpdate, { args: [body] });
        res.status(202).json(tally);
      } catch (error) {
        const rejected = rejectionOf(error);
        if (!rejected) throw error;
        sendProblem(res, { status: 400, title: 'Vote rejected', detail: rejected.message });
      }
    }),
  );

  app.post(
    '/missions/:id/control',
    validated({ params: MissionParam, body: ControlBody }, async ({ params, body }, res) => {
      await client.workflow.getHandle(missionWorkflowId(params.id)).signal(controlSignal, body);
      res.status(202).json({ accepted: true });
    }),
  );
}
