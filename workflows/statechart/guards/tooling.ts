/**
 * Tooling health (MCP, docs/design.md#guards): TOOLING_SYNC → READY needs every pinned tool server reachable and
 * at its pinned version. Reachability and versions come from a probe activity (`io.tools`); the
 * pins come with the proposal. Servers that are not pinned are ignored: they are not in use.
 */
import { fail, verdict, type GuardFor } from './types';

export const toolingGuard: GuardFor<'tooling'> = (_state, gi) => {
  const tools = gi.io.tools;
  if (tools === undefined) return fail('tool health required (io.tools)');
  const byName = new Map(tools.map((t) => [t.name, t]));
  const reasons: string[] = [];
  for (const [name, pin] of Object.entries(gi.inputs.pins).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const tool = byName.get(name);
    if (tool === undefined) reasons.push(`tool server ${name} was not probed`);
    else if (!tool.reachable) reasons.push(`tool server ${name} is unreachable`);
    else if (tool.version !== pin)
      reasons.push(`tool server ${name} runs ${tool.version ?? 'an unknown version'}, pinned ${pin}`);
  }
  return verdict(reasons);
};
