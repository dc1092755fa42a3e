import { CancelledFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import { createToolHealthActivities, type ToolHealthDeps } from '../../activities/tool-health';
import type { ToolServerConfig } from '../../schemas/tool-health';
import { activityEnvironment } from './support/activity-env';
import { closedPortUrl } from './support/http-server';
import { type McpServerOptions, type McpTestServer, startMcpServer } from './support/mcp-server';

const servers: McpTestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function mcpServer(options: McpServerOptions): Promise<McpTestServer> {
  const server = await startMcpServer(options);
  servers.push(server);
  return server;
}

const tool = (name: string, url: string, pinnedVersion = '1.4.0', extra: Partial<ToolServerConfig> = {}) => ({
  name,
  url,
  pinnedVersion,
  ...extra,
});

function probe(deps: Partial<ToolHealthDeps> & Pick<ToolHealthDeps, 'servers'>) {
  const harness = activityEnvironment();
  const heartbeats: unknown[] = [];
  harness.env.on('heartbeat', (details: unknown) => heartbeats.push(details));
  // A generous timeout, so a loaded machine does not turn 'up' into 'down'; the timeout test sets its own.
  const activities = createToolHealthActivities({
    probes: 3,
    probeIntervalMs: 10,
    timeoutMs: 5_000,
    ...deps,
  });
  return { report: harness.run(activities.probeToolServers), heartbeats, harness };
}

describe('MCP tool health', () => {
  it('reports a server that answers initialize and ping as up, on its pin, with latency', async () => {
    const server = await mcpServer({ name: 'search-tools', version: '1.4.0' });
    const { report, heartbeats } = probe({
      servers: [tool('search', server.url, '1.4.0', { expectedName: 'search-tools' })],
    });
    const result = await report;

    expect(result.ok).toBe(true);
    expect(result.reasons).toEqual([]);
    expect(result.mismatches).toEqual([]);
    expect(result.servers[0]).toMatchObject({
      name: 'search',
      status: 'up',
      reachable: true,
      probes: 3,
      answered: 3,
      serverInfo: { name: 'search-tools', version: '1.4.0' },
      protocolVersion: '2025-06-18',
      versionMatch: true,
      lastError: null,
    });
    expect(result.servers[0]?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(server.stats).toEqual({ initializeCalls: 3, pings: 3, sessionsEnded: 3 });
    expect(heartbeats).toHaveLength(3);
  });

  it.each(['sse', 'sse-open'] as const)(
    'reads answers sent as server-sent events (%s)',
    async (transport) => {
      const server = await mcpServer({ version: '1.4.0', transport });
      const result = await probe({ servers: [tool('sse', server.url)] }).report;
      expect(result.servers[0]).toMatchObject({ status: 'up', versionMatch: true });
      expect(server.stats.pings).toBe(3);
    },
  );

  it('reports a server nobody listens for as down', async () => {
    const result = await probe({ servers: [tool('gone', await closedPortUrl())] }).report;
    expect(result.ok).toBe(false);
    expect(result.servers[0]).toMatchObject({
      status: 'down',
      reachable: false,
      answered: 0,
      latencyMs: null,
      versionMatch: null,
      lastError: 'ECONNREFUSED',
    });
    expect(result.reasons).toEqual(['tool server gone is unreachable: ECONNREFUSED']);
  });

  it('reports a server that does not answer within the timeout as down', async () => {
    const server = await mcpServer({ version: '1.4.0', fate: () => 'hang' });
    const result = await probe({ servers: [tool('stuck', server.url)], probes: 1, timeoutMs: 200 }).report;
    expect(result.servers[0]).toMatchObject({ status: 'down', lastError: 'no answer within 200 ms' });
  });

  it('reports a server that alternately refuses, fails and answers as flapping', async () => {
    const fates = ['serve', 'refuse', 'serve', 'fail'] as const;
    const server = await mcpServer({ version: '1.4.0', fate: (n) => fates[n % fates.length] ?? 'serve' });
    const result = await probe({ servers: [tool('flaky', server.url)], probes: 4 }).report;
    expect(result.ok).toBe(false);
    expect(result.servers[0]).toMatchObject({ status: 'flapping', reachable: false, probes: 4, answered: 2 });
    expect(result.servers[0]?.lastError).toBe('initialize answered HTTP 503');
    expect(result.reasons).toEqual([
      'tool server flaky is flapping: 2/4 probes answered (initialize answered HTTP 503)',
    ]);
  });

  it('reports a reported version that differs from the pin as a mismatch', async () => {
    const server = await mcpServer({ name: 'git-tools', version: '1.3.9' });
    const result = await probe({ servers: [tool('git', server.url, '1.4.0')] }).report;
    expect(result.ok).toBe(false);
    expect(result.servers[0]).toMatchObject({ status: 'up', versionMatch: false });
    expect(result.mismatches).toEqual([{ name: 'git', pinned: '1.4.0', reported: '1.3.9' }]);
    expect(result.reasons).toEqual(['tool server git reports git-tools 1.3.9, pinned 1.4.0']);
  });

  it('reports a different server on the pinned address as a mismatch', async () => {
    const server = await mcpServer({ name: 'impostor', version: '1.4.0' });
    const result = await probe({ servers: [tool('git', server.url, '1.4.0', { expectedName: 'git-tools' })] })
      .report;
    expect(result.servers[0]?.versionMatch).toBe(false);
    expect(result.ok).toBe(false);
  });

  it('probes every server and reports each one', async () => {
    const good = await mcpServer({ version: '1.4.0' });
    const stale = await mcpServer({ version: '0.9.0' });
    const result = await probe({
      servers: [tool('good', good.url), tool('stale', stale.url), tool('gone', await closedPortUrl())],
      probes: 1,
    }).report;
    expect(result.servers.map((s) => [s.name, s.status, s.versionMatch])).toEqual([
      ['good', 'up', true],
      ['stale', 'up', false],
      ['gone', 'down', null],
    ]);
  });

  it('stops probing when the activity is cancelled', async () => {
    const server = await mcpServer({ version: '1.4.0' });
    const { report, harness } = probe({
      servers: [tool('slow', server.url)],
      probes: 50,
      probeIntervalMs: 100,
    });
    setTimeout(() => harness.env.cancel(), 150);
    await expect(report).rejects.toBeInstanceOf(CancelledFailure);
    expect(server.stats.initializeCalls).toBeLessThan(50);
  });

  it('rejects a configuration without a usable URL', () => {
    expect(() => createToolHealthActivities({ servers: [tool('bad', 'ftp://127.0.0.1/')] })).toThrow();
  });
});
