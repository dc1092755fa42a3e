/**
 * SWOOSH's image (docs/toolchain.md#the-image): the Containerfile declares a multi-stage build whose
 * final stage has no shell and runs as a non-root user; k8s/base deploys that image by the name
 * and tag it is built with and runs its entrypoint without npm or a shell; the build copies every
 * source folder and package the worker and gateway import. The image `npm run image` built, when
 * this machine has one, carries the config the Containerfile declares (building it takes minutes
 * and needs root, so `npm test` does not).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Deployment } from '@kubernetes/client-node';
import { build } from 'esbuild';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  DEV_TAG,
  IMAGE_NAME,
  declaredConfig,
  defaultLayout,
  packageVersion,
  parseContainerfile,
  productionPackages,
  readContainerfile,
  readImage,
  sourceFolders,
} from '../../temporal-dev/image';
import { DEFAULT_AGENT_CATALOGUE } from '../../schemas/agent-catalogue';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const file = readContainerfile();
const config = declaredConfig(file);
const final = file.stages.at(-1)!;

function deployments(dir: string): Map<string, V1Deployment> {
  const result = spawnSync('kubectl', ['kustomize', dir], { cwd: repo, encoding: 'utf8' });
  if (result.error) throw new Error(`could not run kubectl (needed to render k8s/): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr}`);
  const objects = parseAllDocuments(result.stdout).map(
    (doc) => doc.toJS() as V1Deployment & { kind: string },
  );
  return new Map(objects.filter((o) => o.kind === 'Deployment').map((o) => [o.metadata!.name!, o]));
}

describe('Containerfile', () => {
  test('is multi-stage, and its final stage has no shell: a distroless base, nothing RUN, nothing but the build copied', () => {
    expect(file.stages.length).toBeGreaterThanOrEqual(2);
    expect(file.stages[0]!.name).toBe('build');
    // distroless/cc: Debian 12's C and C++ runtimes, no shell, no package manager.
    expect(final.from).toMatch(/^gcr\.io\/distroless\/cc-debian12(:|@)/);
    const ops = final.instructions.map((i) => i.op);
    expect(ops).not.toContain('RUN');
    expect(ops).not.toContain('SHELL');
    for (const copy of final.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
      expect(copy.args, 'the final stage only takes from the build stage').toMatch(/^--from=build /);
    }
    // Exec form (a shell form would need /bin/sh): declaredConfig read both as JSON arrays.
    expect(config.Entrypoint).toEqual(['/usr/local/bin/node', '--import', 'tsx']);
    expect(config.Cmd).toEqual(['workers/main.ts']);
    expect(config.WorkingDir).toBe('/app');
    expect(config.Env).toContain('NODE_ENV=production');
    expect(
      config.Env.find((e) => e.startsWith('PATH='))
        ?.slice('PATH='.length)
        .split(':'),
    ).toContain('/usr/local/bin');
  });

  test('the parser reads what it is given: a shell-form command or a RUN in the final stage shows', () => {
    const text = 'FROM a AS build\nRUN make\nFROM b\nRUN \\\n  ls\nCMD npm start\n';
    const parsed = parseContainerfile(text);
    expect(parsed.stages.at(-1)!.instructions.map((i) => i.op)).toEqual(['RUN', 'CMD']);
    expect(() => declaredConfig(parsed)).toThrow(SyntaxError);
  });

  test("runs as a non-root user, the one the manifests' pods run as", () => {
    const [uid, gid] = config.User.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    for (const [name, deployment] of deployments('k8s/base')) {
      const pod = deployment.spec!.template.spec!;
      expect([pod.securityContext?.runAsUser, pod.securityContext?.runAsGroup], name).toEqual([uid, gid]);
      expect(pod.securityContext?.runAsNonRoot, name).toBe(true);
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        expect(container.securityContext?.readOnlyRootFilesystem, `${name}/${container.name}`).toBe(true);
      }
    }
  });

  test('k8s/base deploys it by its name and version, and the dev overlay by the dev tag', () => {
    const version = packageVersion();
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.title': IMAGE_NAME,
      'org.opencontainers.image.version': version,
    });
    for (const [dir, tag] of [
      ['k8s/base', version],
      ['k8s/overlays/dev', DEV_TAG],
    ] as const) {
      const rendered = deployments(dir);
      for (const name of ['swoosh-worker', 'swoosh-gateway']) {
        const pod = rendered.get(name)!.spec!.template.spec!;
        for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
          expect(container.image, `${dir} ${name}/${container.name}`).toBe(`${IMAGE_NAME}:${tag}`);
        }
      }
    }
  });

  test("the manifests run the image's entrypoint on files the image has; no npm, no shell", () => {
    const folders = sourceFolders(file);
    const rendered = deployments('k8s/base');
    const worker = rendered.get('swoosh-worker')!.spec!.template.spec!;
    const gateway = rendered.get('swoosh-gateway')!.spec!.template.spec!;
    expect(worker.containers[0]!.command).toBeUndefined();
    expect(worker.containers[0]!.args).toEqual(config.Cmd);
    expect(gateway.containers[0]!.command).toBeUndefined();
    expect(gateway.containers[0]!.args).toEqual(['api/main.ts']);
    for (const script of ['workers/main.ts', 'api/main.ts']) {
      expect(folders).toContain(script.split('/')[0]);
      expect(existsSync(join(repo, script))).toBe(true);
    }
    // The init container names its own command: node, found on the image's PATH.
    for (const init of worker.initContainers ?? []) expect(init.command?.[0]).toBe('node');
    for (const pod of [worker, gateway]) {
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        expect(['npm', 'sh', 'bash', '/bin/sh']).not.toContain(container.command?.[0]);
      }
    }
  });

  test("the default catalogue's agents that run this image name its node and scripts the image has", () => {
    const ours = Object.entries(DEFAULT_AGENT_CATALOGUE.agents).filter(([, agent]) =>
      agent.image.startsWith(`${IMAGE_NAME}:`),
    );
    expect(ours.map(([id]) => id).sort()).toEqual(['indexer', 'reviewer']);
    for (const [id, agent] of ours) {
      expect(agent.image, id).toBe(`${IMAGE_NAME}:${packageVersion()}`);
      // Relative to the image's WORKDIR, /app, where the pod starts (docs/agents.md#working-folder).
      expect(final.instructions.find((i) => i.op === 'WORKDIR')?.args).toBe('/app');
      expect(agent.command.slice(0, 3), id).toEqual(['node', '--import', 'tsx']);
      const script = agent.command[3]!;
      expect(sourceFolders(file), id).toContain(script.split('/')[0]);
      expect(existsSync(join(repo, script)), id).toBe(true);
    }
  });

  test('copies every source folder and production package that the worker, the gateway and the example agents import', async () => {
    const result = await build({
      entryPoints: [
        'workers/main.ts',
        'api/main.ts',
        // Bundled by the worker at start, and the process backend's supervisor (spawned by path).
        'workflows/index.ts',
        'workflows/interceptors.ts',
        'activities/jobs/process/supervisor.ts',
        // The example agents, which run in this image as Jobs.
        'agents/indexer.ts',
        'agents/reviewer.ts',
      ].map((entry) => join(repo, entry)),
      absWorkingDir: repo,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      outdir: 'out',
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    const folders = new Set(inputs.map((input) => input.split('/')[0]));
    expect([...folders].filter((f) => !sourceFolders(file).includes(f!))).toEqual([]);

    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as Parameters<
      typeof productionPackages
    >[0];
    const shipped = new Set(productionPackages(lock).map((p) => p.slice('node_modules/'.length)));
    const imported = new Set(
      Object.values(result.metafile.inputs)
        .flatMap((input) => input.imports)
        .filter((i) => i.external && !i.path.startsWith('node:') && !builtinModules.includes(i.path))
        .map((i) =>
          i.path
            .split('/')
            .slice(0, i.path.startsWith('@') ? 2 : 1)
            .join('/'),
        ),
    );
    expect(imported.size).toBeGreaterThan(5);
    expect([...imported].filter((name) => !shipped.has(name))).toEqual([]);
    // tsx is the entrypoint's loader, not an import.
    expect(shipped.has('tsx')).toBe(true);
  });
});

const layout = process.env.SWOOSH_IMAGE_LAYOUT ?? defaultLayout();

describe.runIf(existsSync(join(layout, 'index.json')))(
  `the image \`npm run image\` built (${layout})`,
  () => {
    let images: Record<string, ReturnType<typeof readImage>>;

    beforeAll(() => {
      images = { version: readImage(layout, packageVersion()), dev: readImage(layout, DEV_TAG) };
    });

    test("carries the Containerfile's config under both tags: non-root user, entrypoint, command, labels", () => {
      for (const image of Object.values(images)) {
        expect(image.config).toMatchObject(config);
        expect(image.config.User).not.toMatch(/^(0|root)(:|$)/);
        expect(image.os).toBe('linux');
        // The Debian base and the app, as two layers.
        expect(image.layers).toHaveLength(2);
      }
    });

    test('its layers are whole tar archives (GNU tar reads them to the end) with no shell, all root-owned', () => {
      const entries = images.version!.layers.flatMap((layer) => {
        const listing = spawnSync('tar', ['-tvzf', layer], { encoding: 'utf8', maxBuffer: 256 << 20 });
        expect(listing.stderr.replace("tar: Removing leading `/' from member names\n", ''), layer).toBe('');
        expect(listing.status, layer).toBe(0);
        return listing.stdout.trim().split('\n');
      });
      const paths = entries.map((line) => line.split(/\s+/).slice(5).join(' ').replace(/^\/?/, '/'));
      expect(paths).toContain('/usr/local/bin/node');
      expect(paths).toContain('/app/workers/main.ts');
      expect(paths).toContain('/app/node_modules/tsx/package.json');
      expect(paths.filter((p) => /\/s?bin\/(sh|bash|dash|busybox|apt|apt-get|dpkg)( |$)/.test(p))).toEqual(
        [],
      );
      expect(entries.filter((line) => line.split(/\s+/)[1] !== '0/0')).toEqual([]);
    });
  },
);
