import { AppsV1Api, CoreV1Api, type V1Container, type V1Deployment } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminKubeConfig, freshNamespace, kubectl, loopLeaseHolder, requestState } from '../helpers/cluster';
import { FULLNAME, RELEASE, chart, helmOn, withHelmHome } from '../helpers/helm';
import { freePort } from '../helpers/net';
import { MASTER_KEY } from '../helpers/portal';
import { requestKey } from '../helpers/portal-client';
import { PODMAN_LIMITS, podman, podmanStatus, testImage } from '../helpers/podman';
import { until } from '../helpers/wait';
import { afterThisTest } from '../helpers/world';
import { TestGateway } from '@/trial/litellm';
import { TestOidc } from '@/trial/oidc';
import { TestSmtp } from '@/trial/smtp';

// The image as Kubernetes would run it: the chart installed on the test cluster, and each pod's
// container started by podman from what the API server holds (its env with the Secret's values,
// the ConfigMap mounted read-only, the ServiceAccount's token and CA where kubelet puts them, the
// securityContext as podman flags). Only the network is the machine's own, on loopback.

withHelmHome();
let image = '';
beforeAll(async () => {
  image = await testImage();
}, 25 * 60_000);

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface World {
  ns: string;
  requestsNs: string;
  gateway: TestGateway;
  smtp: TestSmtp;
  url: string;
  port: number;
}



/** The chart installed with its defaults, pointed at loopback servers; the admin's Secret made as values.yaml says. */
async function installed(extraSet: string[] = []): Promise<World> {
  const ns = await freshNamespace('kp-img');
  const gateway = new TestGateway(MASTER_KEY);
  await gateway.start();
  const smtp = new TestSmtp();
  await smtp.start();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // A pod signs in through its identity provider: the development sign-in is refused in a pod.
  const oidcSecret = randomBytes(16).toString('hex');
  const oidc = new TestOidc({ clientId: 'keyportal', clientSecret: oidcSecret, redirectUri: `${url}/api/auth/callback/oidc` }, {});
  await oidc.start();
  afterThisTest(async () => {
    await gateway.stop();
    await smtp.stop();
    await oidc.stop();
  });
  await kubectl('-n', ns, 'create', 'secret', 'generic', 'keyportal-secrets', `--from-literal=GATEWAY_MASTER_KEY=${MASTER_KEY}`, `--from-literal=NEXTAUTH_SECRET=${randomBytes(32).toString('hex')}`, `--from-literal=OIDC_CLIENT_SECRET=${oidcSecret}`);
  const set = [
    'secrets.existingSecret=keyportal-secrets',
    `portal.publicUrl=${url}`,
    `config.gateway.baseUrl=${gateway.url}`,
    'config.mail.smtp.host=127.0.0.1',
    `config.mail.smtp.port=${smtp.address.port}`,
    'config.mail.smtp.security=none',
    'config.mail.from=keyportal@example.com',
    `auth.oidc.issuer=${oidc.issuer}`,
    'auth.oidc.clientId=keyportal',
    ...extraSet,
  ];
  await helmOn(ns, 'install', RELEASE, chart, '--set', set.join(','));
  return { ns, requestsNs: `${ns}-requests`, gateway, smtp, url, port };
}

/** What kubelet would hand the container: env resolved against the API, files in place, flags from the securityContext. */
async function podmanArgs(w: World, deployment: V1Deployment, container: V1Container, podName: string): Promise<{ args: string[]; metricsPort: number }> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const spec = deployment.spec?.template.spec;
  const dir = mkdtempSync(path.join(tmpdir(), 'keyportal-pod-'));
  chmodSync(dir, 0o755);

  const env: string[] = [];
  for (const e of container.env ?? []) {
    let value = e.value;
    if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') value = podName;
    const ref = e.valueFrom?.secretKeyRef;
    if (ref?.name) {
      const secret = await core.readNamespacedSecret({ name: ref.name, namespace: w.ns });
      const data = secret.data?.[ref.key];
      if (data === undefined && ref.optional) continue;
      value = Buffer.from(data ?? '', 'base64').toString();
    }
    if (value !== undefined) env.push(`${e.name}=${value}`);
  }
  // The machine's network stands in for the pod's: listen on loopback only, on a free port, and
  // reach the API server where the test cluster serves it.
  const server = new URL(adminKubeConfig().getCurrentCluster()?.server ?? '');
  // Each pod has the metrics port to itself in Kubernetes; here they share one network.
  const metricsPort = await freePort();
  env.push(`PORT=${w.port}`, 'HOSTNAME=127.0.0.1', `KUBERNETES_SERVICE_HOST=${server.hostname}`, `KUBERNETES_SERVICE_PORT=${server.port}`);
  env.push(`KEYPORTAL_METRICS_PORT=${metricsPort}`, 'KEYPORTAL_METRICS_HOST=127.0.0.1');
  const envFile = path.join(dir, 'env');
  writeFileSync(envFile, env.join('\n') + '\n', { mode: 0o600 });

  const volumes: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = spec?.volumes?.find((v) => v.name === mount.name);
    // An emptyDir is a tmpfs here; its sizeLimit in the kernel's units (64Mi -> 64m).
    if (volume?.emptyDir) volumes.push('--tmpfs', `${mount.mountPath}:rw,size=${String(volume.emptyDir.sizeLimit ?? '64Mi').replace(/Mi$/, 'm').replace(/Gi$/, 'g')},mode=1777`);
    else if (volume?.configMap?.name) {
      const configMap = await core.readNamespacedConfigMap({ name: volume.configMap.name, namespace: w.ns });
      const files = path.join(dir, mount.name);
      mkdirSync(files, { mode: 0o755 });
      for (const item of volume.configMap.items ?? []) writeFileSync(path.join(files, item.path), configMap.data?.[item.key] ?? '', { mode: 0o644 });
      volumes.push('-v', `${files}:${mount.mountPath}:ro`);
    } else throw new Error(`the test does not know how to mount volume ${mount.name}`);
  }
  if (spec?.automountServiceAccountToken !== false) {
    const sa = path.join(dir, 'serviceaccount');
    mkdirSync(sa, { mode: 0o755 });
    const token = (await kubectl('create', 'token', spec?.serviceAccountName ?? '', '-n', w.ns, '--duration', '10m')).trim();
    writeFileSync(path.join(sa, 'token'), token, { mode: 0o644 });
    writeFileSync(path.join(sa, 'ca.crt'), Buffer.from(adminKubeConfig().getCurrentCluster()?.caData ?? '', 'base64'), { mode: 0o644 });
    writeFileSync(path.join(sa, 'namespace'), w.ns, { mode: 0o644 });
    volumes.push('-v', `${sa}:${SA_DIR}:ro`);
  }

  const pod = spec?.securityContext ?? {};
  const sc = container.securityContext ?? {};
  // The chart's settings, and nothing looser, become podman's.
  expect(sc).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
  const user = sc.runAsUser ?? pod.runAsUser;
  const group = sc.runAsGroup ?? pod.runAsGroup;
  expect(user).toBeGreaterThan(0);
  const args = [
    '--network=host', ...PODMAN_LIMITS,
    '--read-only', '--read-only-tmpfs=false', '--cap-drop=all', '--security-opt=no-new-privileges',
    '--user', `${user}:${group}`, '--env-file', envFile, ...volumes,
  ];
  return { args, metricsPort };
}

interface Running {
  name: string;
  metricsPort: number;
  logs(): Promise<string>;
}

async function runPod(w: World, deployment: V1Deployment, containerName: string): Promise<Running> {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === containerName);
  if (!container) throw new Error(`no container ${containerName} in ${deployment.metadata?.name}`);
  const name = `${deployment.metadata?.name}-${randomBytes(3).toString('hex')}`;
  const { args, metricsPort } = await podmanArgs(w, deployment, container, name);
  // Registered first: a container podman created but could not start is removed too.
  afterThisTest(async () => {
    await podmanStatus('rm', '-f', '-t', '0', name);
  });
  await podman('run', '-d', '--name', name, ...args, image, ...(container.command ?? []), ...(container.args ?? []));
  // podman logs replays the container's stdout and stderr on its own two.
  const logs = async () => {
    const { stdout, stderr } = await podmanStatus('logs', name);
    return stdout + stderr;
  };
  return { name, metricsPort, logs };
}

async function waitReady(w: World, pod: Running, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  await until(
    async () => {
      const state = (await podman('inspect', '--format', '{{.State.Status}}', pod.name)).trim();
      if (state === 'exited') throw new Error(`the container exited before it was ready:\n${await pod.logs()}`);
      return (await fetch(`${w.url}/api/readyz`).catch(() => undefined))?.ok;
    },
    'the portal container to answer readyz 200',
    timeoutMs,
    200,
  );
  return Date.now() - started;
}

const stateOf = (w: World, id: string) => requestState(w.requestsNs, id);
const leaseHolder = (w: World) => loopLeaseHolder(w.requestsNs);

/** A failed wait says what the container logged, which is all there is to go on. */
async function watching<T>(pod: Running, wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- ${pod.name} logs:\n${(await pod.logs()).slice(-6000)}`);
  }
}

/** SIGTERM as kubelet sends it; resolves with the exit code and how long it took. */
async function terminate(pod: Running): Promise<{ code: number; ms: number }> {
  const started = Date.now();
  await podman('kill', '--signal', 'TERM', pod.name);
  const code = Number((await podman('wait', pod.name)).trim());
  return { code, ms: Date.now() - started };
}

function expectNoSecretsIn(logs: string, secrets: string[]): void {
  for (const secret of secrets) expect(logs).not.toContain(secret);
  // The portal's own lines are JSON, one object per line (Next's start-up banner is not ours).
  const ours = logs.split('\n').filter((l) => l.startsWith('{'));
  expect(ours.length).toBeGreaterThan(0);
  for (const line of ours) expect(() => JSON.parse(line) as unknown).not.toThrow();
}

describe('the image, run as the chart’s pod', () => {
  it('serves, issues a request through the gateway, and on SIGTERM hands back the Lease and exits in under 10 s', async () => {
    const w = await installed();
    const deployment = await adminKubeConfig().makeApiClient(AppsV1Api).readNamespacedDeployment({ name: FULLNAME, namespace: w.ns });
    const pod = await runPod(w, deployment, 'keyportal');
    const coldStartMs = await waitReady(w, pod);
    console.info(`image: ${image}, cold start to ready ${coldStartMs} ms`);

    const id = await requestKey(w.url, 'ada@example.com', 'gpt-4o-mini');
    await watching(pod, until(async () => (await stateOf(w, id)) === 'issued', 'the request to be issued by the loop in the container', 30_000, 200));
    expect([...w.gateway.keys.values()].filter((k) => k.key_alias?.includes(id))).toHaveLength(1);
    await watching(pod, until(() => w.smtp.messages.filter((m) => m.to.includes('ada@example.com')).length === 1, 'one email to the requester', 15_000));
    expect(await leaseHolder(w)).toContain(pod.name);
    // The administrators' command line, in the same container with the pod's own credentials: a
    // key deleted at the gateway by hand is reported missing, nothing else is wrong.
    const sweep = async () => JSON.parse(await podman('exec', pod.name, 'node', 'keyportal.mjs', 'sweep', '--json')) as { keys: number; orphans: unknown[]; missing: string[] };
    expect(await sweep()).toMatchObject({ keys: 1, orphans: [], missing: [] });
    await fetch(`${w.gateway.url}/key/delete`, { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ key_aliases: [`keyportal-${id}`] }) });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await sweep()).toMatchObject({ keys: 0, orphans: [], missing: [id] });

    const stopped = await terminate(pod);
    console.info(`image: SIGTERM to exit ${stopped.ms} ms`);
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);
    expect(await leaseHolder(w)).toBe('');
    const logs = await pod.logs();
    expectNoSecretsIn(logs, [MASTER_KEY, ...[...w.gateway.keys.values()].map((k) => k.key)]);
    expect(logs).toMatch(/"server: stopped"/);
  });

  it('runs the loop in the worker Deployment’s pod (node worker.mjs) while the web pod only serves', async () => {
    const w = await installed(['worker.enabled=true', 'worker.replicaCount=1', 'replicaCount=1']);
    const apps = adminKubeConfig().makeApiClient(AppsV1Api);
    const web = await runPod(w, await apps.readNamespacedDeployment({ name: FULLNAME, namespace: w.ns }), 'keyportal');
    await waitReady(w, web);
    const workerDeployment = await apps.readNamespacedDeployment({ name: `${FULLNAME}-worker`, namespace: w.ns });
    expect(workerDeployment.spec?.template.spec?.containers[0]?.command).toEqual(['node', 'worker.mjs']);
    const worker = await runPod(w, workerDeployment, 'worker');
    await watching(worker, until(async () => (await leaseHolder(w).catch(() => '')).includes(worker.name), 'the worker to take the Lease', 30_000, 200));

    const id = await requestKey(w.url, 'grace@example.com', 'gpt-4o-mini');
    await watching(worker, until(async () => (await stateOf(w, id)) === 'issued', 'the worker to issue the request', 30_000, 200));
    // The web pod never led: its loop is off. Each pod's metrics say which one leads.
    expect(await web.logs()).not.toMatch(/"loop: started"/);
    const metrics = async (pod: Running) => (await fetch(`http://127.0.0.1:${pod.metricsPort}/metrics`)).text();
    expect(await metrics(worker)).toMatch(/^keyportal_loop_leader 1$/m);
    expect(await metrics(web)).toMatch(/^keyportal_loop_leader 0$/m);

    const stopped = await terminate(worker);
    expect(stopped).toMatchObject({ code: 0 });
    expect(stopped.ms).toBeLessThan(10_000);
    expect(await leaseHolder(w)).toBe('');
    expectNoSecretsIn(await worker.logs(), [MASTER_KEY, ...[...w.gateway.keys.values()].map((k) => k.key)]);
    await terminate(web);
  });

  it('refuses the development sign-in in a pod, whatever publicUrl says: the container exits naming why', async () => {
    const w = await installed(['config.auth.devSignIn=true']);
    const deployment = await adminKubeConfig().makeApiClient(AppsV1Api).readNamespacedDeployment({ name: FULLNAME, namespace: w.ns });
    const pod = await runPod(w, deployment, 'keyportal');
    await until(async () => (await podman('inspect', '--format', '{{.State.Status}}', pod.name)).trim() === 'exited', 'the container to exit', 30_000, 200);
    expect(Number((await podman('inspect', '--format', '{{.State.ExitCode}}', pod.name)).trim())).toBe(1);
    expect(await pod.logs()).toContain('development sign-in cannot be used in a Kubernetes pod');
  });

  it('ships the built server and nothing else: no tests, sources maps, dev dependencies or .env, and a non-root user', async () => {
    const script = `
      const fs = require('node:fs'), path = require('node:path');
      const found = [];
      const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else found.push(p); } };
      walk('/app');
      console.log(JSON.stringify({ uid: process.getuid(), files: found }));`;
    const out = JSON.parse(await podman('run', '--rm', '--network=none', ...PODMAN_LIMITS, '--read-only', image, 'node', '-e', script)) as { uid: number; files: string[] };
    expect(out.uid).toBe(10001);
    expect(out.files).toContain('/app/server.js');
    expect(out.files).toContain('/app/worker.mjs');
    expect(out.files).toContain('/app/keyportal.mjs');
    expect(out.files).toContain('/app/trial.mjs');
    expect(out.files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(out.files.filter((f) => /\/\.env/.test(f))).toEqual([]);
    expect(out.files.filter((f) => /^\/app\/(tests|bench|lib|app|plugins)\//.test(f))).toEqual([]);
    for (const dev of ['vitest', 'typescript', 'eslint', '@playwright', 'playwright-core', 'tsx', 'esbuild', 'smtp-server', 'oidc-provider']) {
      expect(out.files.filter((f) => f.startsWith(`/app/node_modules/${dev}/`))).toEqual([]);
    }
    const size = Number((await podman('image', 'inspect', '--format', '{{.Size}}', image)).trim());
    console.info(`image: ${image}, ${Math.round(size / 1024 / 1024)} MiB`);
  });
});
