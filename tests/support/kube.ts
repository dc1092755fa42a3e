/**
 * A real Kubernetes control plane for tests, from the project's own toolchain (temporal-dev/kube.ts)
 * on free loopback ports: etcd → kube-apiserver (client certificates, RBAC, service-account tokens
 * signed with a generated key, serving certificate from a generated CA) → kube-controller-manager
 * (the Job, garbage-collector, namespace and service-account controllers among the defaults) →
 * kube-scheduler → kwok, which plays the kubelet of one simulated node (tests/support/kube-stages.yaml).
 *
 * Everything lives in one temporary folder (certificates, etcd data, kubeconfig, each process's
 * log); `stop()` ends the processes by PID, newest first, and removes the folder.
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ensureKubeToolchain } from '../../temporal-dev/kube';
import { freePort, stopProcess, type Supervised } from '../../temporal-dev/processes';

const stagesFile = fileURLToPath(new URL('./kube-stages.yaml', import.meta.url));

/** The simulated node every pod is scheduled to. */
export const KWOK_NODE = 'kwok-node-0';

/**
 * What the simulated node answers for any `agent` container's log: no process runs to write one,
 * but the request takes the real path (API server → node's kubelet endpoint → log file).
 */
export const SIMULATED_AGENT_LOG = 'agent output as served by the simulated node';

/** kwok's ClusterLogs rule serving SIMULATED_AGENT_LOG, in the kubelet's (CRI) log file format. */
function writeLogRule(dir: string): string {
  const logsFile = join(dir, 'agent.log');
  writeFileSync(logsFile, `2026-01-01T00:00:00.000000000Z stdout F ${SIMULATED_AGENT_LOG}\n`);
  const rule = join(dir, 'kwok-logs.yaml');
  writeFileSync(
    rule,
    JSON.stringify({
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'ClusterLogs',
      metadata: { name: 'agent-logs' },
      spec: { logs: [{ containers: ['agent'], logsFile, follow: false }] },
    }),
  );
  return rule;
}

export interface ControlPlane {
  /** Path of a kubeconfig for a cluster administrator (group system:masters). */
  kubeconfigPath: string;
  /** The same, loaded. */
  kubeConfig: KubeConfig;
  /** https://127.0.0.1:<port> */
  server: string;
  /** A kubeconfig that authenticates as `serviceAccount` in `namespace` with a fresh bound token. */
  kubeConfigFor(namespace: string, serviceAccount: string): Promise<KubeConfig>;
  stop(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.error)
    throw new Error(`'openssl' is needed to make the test cluster's certificates: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
}

/** A CA, the API server's serving certificate (127.0.0.1) and an administrator's client certificate. */
function makeCertificates(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=swoosh-test-ca'], dir);
  const signed = (name: string, subject: string, extensions: string[]) =>
    openssl(
      [
        'req',
        '-x509',
        ...ec,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-subj',
        subject,
        ...extensions.flatMap((e) => ['-addext', e]),
      ],
      dir,
    );
  signed('apiserver', '/CN=kube-apiserver', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'extendedKeyUsage=serverAuth',
  ]);
  signed('admin', '/O=system:masters/CN=swoosh-test-admin', ['extendedKeyUsage=clientAuth']);
  // Service-account tokens are signed with this key and checked with its public half.
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
}

function kubeconfigYaml(server: string, dir: string, user: Record<string, string>): string {
  const b64 = (file: string) => readFileSync(join(dir, file)).toString('base64');
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'swoosh-test', cluster: { server, 'certificate-authority-data': b64('ca.crt') } }],
    users: [{ name: 'swoosh-test-user', user }],
    contexts: [{ name: 'swoosh-test', context: { cluster: 'swoosh-test', user: 'swoosh-test-user' } }],
    'current-context': 'swoosh-test',
  });
}

/** Starts a child in its own process group, its output to `<dir>/<name>.log`. */
function startLogged(dir: string, name: string, command: string, args: string[]): Supervised {
  const logFd = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(command, args, { cwd: dir, detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', () => resolve(-1));
  });
  return { name, child, exited };
}

function logTail(dir: string, name: string): string {
  try {
    return readFileSync(join(dir, `${name}.log`), 'utf8')
      .split('\n')
      .slice(-30)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `check` until it is true; fails with the process's last log lines if it exits or time runs out. */
async function waitFor(
  proc: Supervised,
  dir: string,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited before ${what}:\n${logTail(dir, proc.name)}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`${proc.name}: no ${what} within ${timeoutMs / 1000} s:\n${logTail(dir, proc.name)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function httpsOk(url: string, dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        ca: readFileSync(join(dir, 'ca.crt')),
        cert: readFileSync(join(dir, 'admin.crt')),
        key: readFileSync(join(dir, 'admin.key')),
        timeout: 5_000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return response.ok;
}

export async function startControlPlane(): Promise<ControlPlane> {
  const bin = await ensureKubeToolchain();
  const dir = mkdtempSync(join(tmpdir(), 'swoosh-kube-'));
  const started: Supervised[] = [];
  const stop = async () => {
    for (const proc of started.reverse()) await stopProcess(proc, 10_000);
    started.length = 0;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    makeCertificates(dir);
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const server = `https://127.0.0.1:${apiPort}`;

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = startLogged(dir, 'etcd', bin.etcd, [
      '--name=swoosh-test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=swoosh-test=http://127.0.0.1:${etcdPeer}`,
      // Test data dies with the folder; fsync would only slow every write on a shared machine.
      '--unsafe-no-fsync',
    ]);
    started.push(etcd);
    await waitFor(etcd, dir, 'healthy etcd', () => httpOk(`${etcdUrl}/health`));

    const apiserver = startLogged(dir, 'kube-apiserver', bin.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      '--tls-cert-file=apiserver.crt',
      '--tls-private-key-file=apiserver.key',
      '--client-ca-file=ca.crt',
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-account-key-file=sa.pub',
      '--service-account-signing-key-file=sa.key',
      // An address range the API server hands out to Services; nothing here routes to it.
      '--service-cluster-ip-range=10.96.0.0/24',
      // Pod logs come from kwok's kubelet endpoint, which presents the CA's serving certificate.
      '--kubelet-client-certificate=admin.crt',
      '--kubelet-client-key=admin.key',
      '--kubelet-preferred-address-types=InternalIP',
      '--profiling=false',
    ]);
    started.push(apiserver);
    await waitFor(apiserver, dir, 'ready API server', () => httpsOk(`${server}/readyz`, dir));

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      kubeconfigYaml(server, dir, {
        'client-certificate-data': readFileSync(join(dir, 'admin.crt')).toString('base64'),
        'client-key-data': readFileSync(join(dir, 'admin.key')).toString('base64'),
      }),
    );

    const controllerManager = startLogged(dir, 'kube-controller-manager', bin.kubeControllerManager, [
      `--kubeconfig=${kubeconfigPath}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--service-account-private-key-file=sa.key',
      '--root-ca-file=ca.crt',
      // No kubelet renews the simulated node's lease: the lifecycle controller would taint it.
      '--controllers=*,-node-lifecycle-controller',
    ]);
    started.push(controllerManager);
    const scheduler = startLogged(dir, 'kube-scheduler', bin.kubeScheduler, [
      `--kubeconfig=${kubeconfigPath}`,
      '--leader-elect=false',
      '--secure-port=0',
    ]);
    started.push(scheduler);

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    const core = kubeConfig.makeApiClient(CoreV1Api);

    const kwokPort = await freePort();
    const kwok = startLogged(dir, 'kwok', bin.kwok, [
      `--kubeconfig=${kubeconfigPath}`,
      `--config=${stagesFile}`,
      `--config=${writeLogRule(dir)}`,
      `--manage-single-node=${KWOK_NODE}`,
      '--node-ip=127.0.0.1',
      `--node-port=${kwokPort}`,
      `--server-address=127.0.0.1:${kwokPort}`,
      '--tls-cert-file=apiserver.crt',
      '--tls-private-key-file=apiserver.key',
    ]);
    started.push(kwok);
    await core.createNode({
      body: {
        metadata: {
          name: KWOK_NODE,
          labels: { 'kubernetes.io/hostname': KWOK_NODE, 'kubernetes.io/os': 'linux', type: 'kwok' },
        },
      },
    });
    // The API server taints a new node not-ready until the node lifecycle controller, which is
    // off (above), clears it; kwok's node-initialize stage has made it Ready, so clear it here.
    await core.patchNode(
      { name: KWOK_NODE, body: { spec: { taints: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(kwok, dir, 'ready simulated node', async () => {
      const node = await core.readNode({ name: KWOK_NODE });
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    });
    // A namespace is usable once its service-account controller has made its `default` account.
    await waitFor(controllerManager, dir, 'default service account', async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      return true;
    });

    return {
      kubeconfigPath,
      kubeConfig,
      server,
      async kubeConfigFor(namespace, serviceAccount) {
        const token = await core.createNamespacedServiceAccountToken({
          name: serviceAccount,
          namespace,
          body: { spec: { audiences: [], expirationSeconds: 3600 } },
        });
        const config = new KubeConfig();
        config.loadFromString(kubeconfigYaml(server, dir, { token: token.status!.token }));
        return config;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
