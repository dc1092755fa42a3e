/** `swoosh missions start|list|show|watch`. */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { MissionListQuery, type MissionSummary } from '../../schemas/api';
import { TransitionEvent } from '../../schemas/ledger-page';
import { MissionPrompt, type MissionView } from '../../schemas/mission';
import { MissionConfigInput, RunnableMissionConfig } from '../../schemas/mission-config';
import { SignerKeySchema } from '../../schemas/proposal';
import { EXIT, UsageError } from '../usage';
import { type CliIo, type Context, context, flag, parse } from './context';
import { answer, problem } from './output';

export async function missions(command: string | undefined, args: string[], io: CliIo): Promise<number> {
  switch (command) {
    case 'start':
      return start(args, io);
    case 'list':
      return list(args, io);
    case 'show':
      return show(args, io);
    case 'watch':
      return watch(args, io);
    default:
      throw new UsageError(`unknown command "missions ${command ?? ''}"`);
  }
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`${what} takes exactly one mission id`);
  return flag('mission', z.uuid({ error: 'a mission id is a UUID' }), positionals[0]);
}

/** A JSON file given by a flag, parsed by `schema`: a usage error naming the field. */
export async function jsonFile<S extends z.ZodType>(
  name: string,
  path: string,
  schema: S,
): Promise<z.output<S>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`${name} ${path}: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new UsageError(`${name} ${path}: ${why}`);
  }
  return parsed.data;
}

async function start(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    id: { type: 'string' },
    objective: { type: 'string' },
    spec: { type: 'string' },
    priority: { type: 'string' },
    config: { type: 'string' },
    approver: { type: 'string', multiple: true },
    'auto-approve': { type: 'boolean' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
  const ctx = await context(values, io, 'operator');
  const prompt = flag('mission prompt (--id, --objective, --spec, --priority)', MissionPrompt, {
    id: values.id ?? randomUUID(),
    objective: values.objective,
    priority: values.priority ?? 'P1',
    originatingSpec: values.spec,
    createdAt: new Date().toISOString(),
  });
  const config: z.input<typeof MissionConfigInput> =
    values.config !== undefined ? await jsonFile('--config', values.config, MissionConfigInput) : {};
  for (const approver of values.approver ?? []) {
    const key =
      approver === 'me' ? (await ctx.signer()).keyId : flag('--approver', SignerKeySchema, approver);
    const signers = config.signers ?? [];
    const existing = signers.find((s) => s.key === key);
    if (existing) {
      if (!existing.classes.includes('approval')) existing.classes.push('approval');
    } else
      signers.push({
        key,
        classes: ['approval'],
        label: approver === 'me' ? (await ctx.signer()).name : 'approver',
      });
    config.signers = signers;
  }
  if (values['auto-approve']) config.autoApprove = true;
  // The gateway checks the same rules; checked here too so a mistake names the flag or the file's field.
  const runnable = flag('mission config', RunnableMissionConfig, config);
  const res = await ctx.client.startMission({ ...prompt, config: runnable });
  return answer(ctx, res, (body) => [
    `${body.created ? 'started' : 'already running'} mission ${prompt.id} (workflow ${body.workflowId})`,
    ...(runnable.autoApprove || runnable.signers.some((s) => s.classes.includes('approval'))
      ? []
      : [
          'note: nobody but the orchestrator may approve its beats and autoApprove is off, so it will wait in REVIEW;',
          'start it with --approver <key> or --auto-approve to let it run to its end',
        ]),
  ]);
}

async function list(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    phase: { type: 'string' },
    priority: { type: 'string' },
    'page-size': { type: 'string' },
    'page-token': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
  const query = flag('list filters', MissionListQuery, {
    phase: values.phase,
    priority: values.priority,
    pageSize: values['page-size'],
    pageToken: values['page-token'],
  });
  const ctx = await context(values, io, 'viewer');
  const res = await ctx.client.listMissions(query);
  return answer(ctx, res, (page) => [
    ...table(page.missions),
    ...(page.nextPageToken ? [`more: --page-token ${page.nextPageToken}`] : []),
  ]);
}

function table(missions: MissionSummary[]): string[] {
  if (missions.length === 0) return ['no missions'];
  const rows = [
    ['mission', 'status', 'phase', 'priority', 'started', 'objective'],
    ...missions.map((m) => [
      m.missionId,
      m.status,
      m.phase ?? '-',
      m.priority ?? '-',
      m.startTime,
      m.objective ?? '',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '));
}

/** The parts of the state document `show` prints; the rest is in `--json`. */
const Shown = z.object({
  execution: z.object({
    phase: z.string(),
    beat: z.number(),
    window_id: z.string().nullable(),
    approvals: z.array(z.object({ approver: z.string(), decision: z.string() })),
  }),
  council: z.object({ phase: z.string(), members: z.array(z.object({ id: z.string() })) }),
  control: z.object({ phase: z.string(), reason: z.string().nullable() }),
});

async function show(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {});
  const id = one(positionals, 'missions show');
  const ctx = await context(values, io, 'viewer');
  return answer(ctx, await ctx.client.getMission(id), (view) => describe(view));
}

function describe(view: MissionView): string[] {
  const lines = [
    `mission ${view.missionId}: ${view.phase}`,
    `objective: ${view.prompt.objective}`,
    `HEAD: ${view.hash ?? '-'}`,
  ];
  const state = Shown.safeParse(view.state);
  if (state.success) {
    const { execution: e, council: c, control } = state.data;
    const approvals = e.approvals.map((a) => `${a.decision} by ${a.approver}`).join(', ') || 'none';
    lines.push(
      `execution: ${e.phase}, beat ${e.beat}, window ${e.window_id ?? '-'}; approvals: ${approvals}`,
    );
    lines.push(`council: ${c.phase} (${c.members.map((m) => m.id).join(', ') || 'the orchestrator'})`);
    lines.push(`control: ${control.phase}${control.reason ? ` (${control.reason})` : ''}`);
  }
  return lines;
}

async function watch(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    count: { type: 'string' },
    'last-event-id': { type: 'string' },
  });
  const id = one(positionals, 'missions watch');
  const count =
    values.count === undefined ? Infinity : flag('--count', z.coerce.number().int().positive(), values.count);
  const ctx = await context(values, io, 'viewer');
  const stop = new AbortController();
  const abort = () => stop.abort();
  io.signal?.addEventListener('abort', abort, { once: true });
  let seen = 0;
  try {
    for await (const event of ctx.client.events(id, {
      lastEventId: values['last-event-id'],
      signal: stop.signal,
    })) {
      if (event.event === 'error') {
        const detail = z.object({ detail: z.string() }).safeParse(JSON.parse(event.data));
        return problem(ctx, 502, detail.success ? detail.data.detail : event.data);
      }
      printEvent(ctx, event.id, event.data);
      if (++seen >= count) break;
    }
  } catch (error) {
    const status = /event stream refused: (\d{3})/.exec((error as Error).message)?.[1];
    if (status === undefined) throw error;
    return problem(ctx, Number(status), (error as Error).message);
  } finally {
    stop.abort();
    io.signal?.removeEventListener('abort', abort);
  }
  return EXIT.ok;
}

function printEvent(ctx: Context, id: string | undefined, data: string): void {
  if (ctx.json) return ctx.io.out(data);
  const record = TransitionEvent.safeParse(JSON.parse(data));
  if (!record.success) return ctx.io.out(`${id ?? '-'} ${data}`);
  const r = record.data;
  ctx.io.out(`#${r.seq} ${r.transition} by ${r.signer.slice(0, 20)}… → ${r.post_state_hash}`);
}
