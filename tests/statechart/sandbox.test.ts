/**
 * The core must run inside Temporal's workflow sandbox. Two checks: Temporal's own bundler accepts
 * a workflow that imports it (with `crypto` ignored, which tweetnacl probes for at load and never
 * uses for verification), and the bundled core, run in a bare V8 context with no require, process,
 * Buffer or crypto, and with Date and Math.random poisoned, replays a signed chaotic stream to the
 * same hashes as Node does.
 */
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { bundleWorkflowCode } from '@temporalio/worker';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { testRegistry } from './support/keys';
import { replay, simulate, summarise, type SimOptions } from './support/sim';
import type { SandboxInput } from './support/sandbox-entry';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

describe('the statechart core in the workflow sandbox', () => {
  it("passes Temporal's workflow bundler once crypto is ignored, and crypto is the only module it objects to", async () => {
    const workflowsPath = here('./support/sandbox-workflow.ts');
    const { code } = await bundleWorkflowCode({ workflowsPath, ignoreModules: ['crypto'], logger: quiet });
    expect(code).toContain('statechartProbe');
    const refused = await bundleWorkflowCode({ workflowsPath, logger: quiet }).then(
      () => 'accepted',
      (error: Error) => error.message,
    );
    const listed = [...refused.matchAll(/^\s+- '([^']+)'$/gm)].map((m) => m[1]);
    expect(listed).toEqual(['crypto']);
  }, 120_000);

  it('replays a signed chaotic stream to the same hashes in a bare context without Node, clock or randomness', async () => {
    const bundle = await build({
      entryPoints: [here('./support/sandbox-entry.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      globalName: 'SWOOSH',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      logLevel: 'silent',
      plugins: [
        {
          // What Temporal's `ignoreModules` does: the module resolves to an empty object.
          name: 'ignore-crypto',
          setup(b) {
            b.onResolve({ filter: /^crypto$/ }, () => ({ path: 'crypto', namespace: 'ignored' }));
            b.onLoad({ filter: /.*/, namespace: 'ignored' }, () => ({ contents: 'module.exports = {};' }));
          },
        },
      ],
    });
    const code = bundle.outputFiles[0]!.text;

    const options: SimOptions = {
      seed: 4242,
      deliveries: 24,
      signed: true,
      chaos: { duplicate: 0.1, reorder: 0.05, drop: 0.05, invalid: 0.1 },
    };
    const run = simulate(options);
    const inNode = replay(run.stream, options);
    const input: SandboxInput = {
      missionId: 'm-sim',
      signers: testRegistry().entries,
      steps: run.stream.map((d) => ({ proposal: d.proposal, io: d.io, now: d.now })),
    };

    const context = vm.createContext({ TextEncoder, TextDecoder });
    vm.runInContext(
      `
      const RealDate = Date;
      globalThis.Date = class extends RealDate {
        constructor() { throw new Error('the core constructed a Date'); }
        static now() { throw new Error('the core read Date.now()'); }
      };
      Math.random = () => { throw new Error('the core called Math.random()'); };
      `,
      context,
    );
    expect(vm.runInContext('typeof require + typeof process + typeof Buffer + typeof crypto', context)).toBe(
      'undefinedundefinedundefinedundefined',
    );
    vm.runInContext(code, context);
    // Parsed inside the context, as Temporal's payload converter does inside the sandbox.
    context.inputJson = JSON.stringify(input);
    const result = vm.runInContext('SWOOSH.replayInSandbox(JSON.parse(inputJson))', context) as {
      finalHash: string;
      outcomes: string[];
    };

    expect(result.finalHash).toBe(inNode.finalHash);
    expect(result.outcomes).toEqual(
      inNode.results.map((r) =>
        r.accepted ? (r.duplicate ? 'duplicate' : r.post_hash) : `rejected:${r.failing_guard}`,
      ),
    );
    expect(inNode.results.map(summarise)).toEqual(run.results.map(summarise));
    expect(result.outcomes.filter((o) => o.startsWith('sha256-')).length).toBeGreaterThan(10);
  }, 120_000);
});
