import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type V1ConfigMap,
  type V1Container,
  type V1Deployment,
  type V1Ingress,
  type V1ObjectMeta,
  type V1Role,
  type V1Secret,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { type Config, parseConfig } from '@/lib/config/load';
import { KubernetesEventRecorder } from '@/lib/loop/events';
import { LeaseElector } from '@/lib/loop/lease';
import { StoreUnavailableError } from '@/lib/store/errors';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import type { WatchEvent } from '@/lib/store/types';
import { checkPluginEntry } from '@/plugins';
import { adminKubeConfig, freshNamespace, kubeConfigForToken, kubeconfigPath, kubectl, statusOf } from '../helpers/cluster';
import { until } from '../helpers/wait';

// The chart, proven with the real helm CLI and the real test API server: what it renders, what
// the API server accepts, and what its ServiceAccount may and may not do.

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const chart = path.join(repo, 'helm/keyportal');
const RELEASE = 'keyportal';
/** The release's full name and ServiceAccount name: the release name already holds the chart's. */
const FULLNAME = 'keyportal';
/** The names the chart maps from secrets.existingSecret into the environment. */
const SECRET_VARS = ['GATEWAY_MASTER_KEY', 'SMTP_PASSWORD', 'NEXTAUTH_SECRET', 'OIDC_CLIENT_SECRET', 'KEYPORTAL_WEBHOOK_SECRETS'];

let helmHome = '';

beforeAll(() => {
  // helm keeps its cache, config and repository data here, not in the user's home.
  helmHome = mkdtempSync(path.join(tmpdir(), 'keyportal-helm-'));
});

afterAll(() => {
  if (helmHome) rmSync(helmHome, { recursive: true, force: true });
});

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a binary and reports its exit code instead of throwing on a non-zero one. */
async function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(file, args, { timeout: 45_000, maxBuffer: 16 * 1024 * 1024, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    // A spawn failure (ENOENT) or a timeout (killed, no exit code) is the harness failing, not helm.
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function helm(...args: string[]): Promise<Ran> {
  const { KUBECONFIG: _ignored, ...env } = process.env;
  return exec(`${inject('clusterBin')}/helm`, args, {
    ...env,
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
  });
}

async function helmOk(...args: string[]): Promise<string> {
  const r = await helm(...args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** helm against the test cluster, as admin. */
function helmOn(namespace: string, ...args: string[]): Promise<string> {
  return helmOk(...args, '--kubeconfig', kubeconfigPath(), '--namespace', namespace);
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
  [field: string]: unknown;
}

function manifests(yamlText: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value) out.push(value);
  }
  return out;
}

/** `helm template` as a platform admin runs it; `--set`-style arguments follow. */
async function render(namespace: string, ...args: string[]): Promise<Manifest[]> {
  return manifests(await helmOk('template', RELEASE, chart, '--namespace', namespace, ...args));
}

function only<T>(objects: Manifest[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}: ${objects.map((o) => o.kind).join(', ')}`);
  return found[0] as unknown as T;
}

function portalContainer(deployment: V1Deployment): V1Container {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'keyportal');
  if (!container) throw new Error('the Deployment has no keyportal container');
  return container;
}

/** A stand-in for a Secret's value, of the form and length config load asks for. */
const fakeSecret = (key: string): string => `${key === 'KEYPORTAL_WEBHOOK_SECRETS' ? 'hr:' : ''}value-of-${key}-0123456789abcdef0123456789abcdef`;

/** The environment the pod would get: literal values, downward-API fields, and secret keys. */
function podEnv(deployment: V1Deployment, namespace: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of portalContainer(deployment).env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = namespace;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = `${FULLNAME}-5d9c7b6f4-x2x7q`;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = fakeSecret(e.valueFrom.secretKeyRef.key);
  }
  return env;
}

/** Parses the rendered ConfigMap's config.yaml exactly as the portal does at start-up. */
function portalConfig(objects: Manifest[], namespace: string): Config {
  const configMap = only<V1ConfigMap>(objects, 'ConfigMap');
  const text = configMap.data?.['config.yaml'];
  if (!text) throw new Error('the ConfigMap holds no config.yaml');
  const deployment = only<V1Deployment>(objects, 'Deployment');
  return parseConfig(parseYaml(text), { source: 'helm template', env: podEnv(deployment, namespace), checkPlugin: checkPluginEntry });
}

describe('the Helm chart passes helm lint', () => {
  it('lints clean in strict mode, with defaults and with every optional part switched on', async () => {
    const plain = await helm('lint', '--strict', chart);
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);

    const full = await helm(
      'lint', '--strict', chart,
      '--set', 'secrets.existingSecret=keyportal-secrets,ingress.enabled=true,ingress.className=nginx',
      '--set', 'ingress.tls.enabled=true,ingress.tls.secretName=keys-tls,auth.oidc.issuer=https://login.example.com,auth.oidc.clientId=keyportal',
    );
    expect(full.code, full.stdout + full.stderr).toBe(0);
  });
});

describe('helm template renders what the portal can run', () => {
  it('renders a config.yaml that the portal’s own schema accepts, with the environment the pod gets', async () => {
    const objects = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets', '--set', 'portal.publicUrl=https://keys.corp.test');
    const config = portalConfig(objects, 'keys');
    expect(config.store).toEqual({ type: 'kubernetes', namespace: 'keys' });
    expect(config.models.map((m) => m.id)).toHaveLength(2);
    expect(config.approvals.default).toBe('review');
    expect(config.approvals.plugins.map((p) => p.name)).toEqual(['blacklist', 'whitelist']);
    expect(config.gateway).toMatchObject({ type: 'litellm', baseUrl: 'http://litellm:4000' });
    expect(config.mail.smtp?.host).toBeTruthy();
    expect(config.portal.publicUrl).toBe('https://keys.corp.test');
    expect(config.loop).toMatchObject({ enabled: true, leaderElection: true });
    expect(config.secrets.GATEWAY_MASTER_KEY).toBe(fakeSecret('GATEWAY_MASTER_KEY'));

    // OIDC settings reach the portal's auth section; its client secret must come from the Secret.
    const oidcArgs = ['--set', 'auth.oidc.issuer=https://login.corp.test/realms/staff,auth.oidc.clientId=keyportal'];
    const oidc = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets', ...oidcArgs);
    expect(portalConfig(oidc, 'keys').auth.oidc).toMatchObject({ issuer: 'https://login.corp.test/realms/staff', clientId: 'keyportal' });
    expect(portalConfig(oidc, 'keys').secrets).toMatchObject({ OIDC_CLIENT_SECRET: fakeSecret('OIDC_CLIENT_SECRET'), NEXTAUTH_SECRET: fakeSecret('NEXTAUTH_SECRET') });
    expect(() => portalConfig(oidc.map(withoutSecretEnv), 'keys')).toThrow(/OIDC_CLIENT_SECRET/);

    // The same check refuses what the portal would refuse, naming the field.
    const bad = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets', '--set', 'config.approvals.default=maybe');
    expect(() => portalConfig(bad, 'keys')).toThrow(/approvals\.default/);
    // Without the admin's Secret the litellm gateway has no master key, and the portal says so.
    expect(() => portalConfig(objects.map(withoutSecretEnv), 'keys')).toThrow(/GATEWAY_MASTER_KEY/);
  });

  it('puts secrets in the pod only as references to the admin’s Secret, never as values', async () => {
    const objects = await render('keys', '--set', 'secrets.existingSecret=keyportal-secrets');
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    const env = portalContainer(only<V1Deployment>(objects, 'Deployment')).env ?? [];
    for (const name of SECRET_VARS) {
      const entry = env.find((e) => e.name === name);
      expect(entry, name).toBeDefined();
      expect(entry?.value, name).toBeUndefined();
      expect(entry?.valueFrom?.secretKeyRef, name).toEqual({ name: 'keyportal-secrets', key: name, optional: true });
    }

    // Without existingSecret, no secret variable is set at all.
    const none = portalContainer(only<V1Deployment>(await render('keys'), 'Deployment')).env ?? [];
    expect(none.map((e) => e.name).filter((n) => SECRET_VARS.includes(n))).toEqual([]);

    // A secret typed into the values is refused before anything renders, and is not echoed back.
    const sentinel = `sk-${randomBytes(8).toString('hex')}`;
    const inConfig = await helm('template', RELEASE, chart, '--set', `config.gateway.masterKey=${sentinel}`);
    expect(inConfig.code).not.toBe(0);
    expect(inConfig.stderr).toMatch(/config\.gateway\.masterKey: secrets never go in config\.yaml/);
    expect(inConfig.stderr).not.toContain(sentinel);
    expect(inConfig.stdout).not.toContain(sentinel);
    const inSecrets = await helm('template', RELEASE, chart, '--set', `secrets.gatewayMasterKey=${sentinel}`);
    expect(inSecrets.code).not.toBe(0);
    expect(inSecrets.stderr).toMatch(/gatewayMasterKey/);
    expect(inSecrets.stderr).not.toContain(sentinel);
  });

  it('refuses a value of the wrong type, naming the field', async () => {
    const replicas = await helm('template', RELEASE, chart, '--set', 'replicaCount=two');
    expect(replicas.code).not.toBe(0);
    expect(replicas.stderr).toMatch(/replicaCount/);
    expect(replicas.stderr).toMatch(/integer/);

    const ingress = await helm('template', RELEASE, chart, '--set', 'ingress.enabled=yes');
    expect(ingress.code).not.toBe(0);
    expect(ingress.stderr).toMatch(/ingress\/enabled|ingress\.enabled/);

    // A well-typed value of the same fields renders, so the refusals above are the schema's.
    expect((await helm('template', RELEASE, chart, '--set', 'replicaCount=3,ingress.enabled=true')).code).toBe(0);
  });

  it('runs the portal hardened: non-root, read-only root, no capabilities, probes on readyz and healthz', async () => {
    const deployment = only<V1Deployment>(await render('keys'), 'Deployment');
    const pod = deployment.spec?.template.spec;
    const c = portalContainer(deployment);
    expect(deployment.spec?.replicas).toBe(2);
    expect(pod?.serviceAccountName).toBe(FULLNAME);
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.image).toBe('ghcr.io/keyportal/keyportal:0.1.0');
    expect(c.ports).toEqual([{ name: 'http', containerPort: 3000, protocol: 'TCP' }]);
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/api/readyz', port: 'http' });
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/api/healthz', port: 'http' });
    expect(c.resources?.requests).toBeDefined();

    // The only writable paths are emptyDirs; the config is a read-only ConfigMap mount.
    const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const volumes = Object.fromEntries((pod?.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes[mounts['/tmp']?.name ?? '']?.emptyDir).toBeDefined();
    expect(volumes[mounts['/app/.next/cache']?.name ?? '']?.emptyDir).toBeDefined();
    expect(mounts['/etc/keyportal']?.readOnly).toBe(true);
    expect(volumes[mounts['/etc/keyportal']?.name ?? '']?.configMap?.name).toBe(FULLNAME);

    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(env.KEYPORTAL_CONFIG?.value).toBe('/etc/keyportal/config.yaml');
    expect(env.KEYPORTAL_STORE_TYPE?.value).toBe('kubernetes');
    expect(env.NODE_ENV?.value).toBe('production');
    expect(env.KEYPORTAL_NAMESPACE?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    expect(env.POD_NAME?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  });

  it('rolls the pods when the config changes, and only then', async () => {
    const checksum = async (...args: string[]) =>
      only<V1Deployment>(await render('keys', ...args), 'Deployment').spec?.template.metadata?.annotations?.['checksum/config'];
    const base = await checksum();
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(await checksum('--set', 'replicaCount=3')).toBe(base);
    expect(await checksum('--set', 'config.loop.concurrency=8')).not.toBe(base);
  });

  it('adds a PodDisruptionBudget only for more than one replica, and an Ingress only when asked', async () => {
    const two = await render('keys');
    expect(two.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(1);
    expect(two.filter((o) => o.kind === 'Ingress')).toHaveLength(0);
    expect(only<{ spec: { type: string; ports: unknown[] } }>(two, 'Service').spec).toMatchObject({
      type: 'ClusterIP',
      ports: [{ port: 80, targetPort: 'http' }],
    });

    const one = await render(
      'keys',
      '--set', 'replicaCount=1,ingress.enabled=true,ingress.className=nginx,ingress.host=keys.corp.test',
      '--set', 'ingress.tls.enabled=true,ingress.tls.secretName=keys-tls',
    );
    expect(one.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(0);
    const ingress = only<V1Ingress>(one, 'Ingress');
    expect(ingress.spec?.ingressClassName).toBe('nginx');
    expect(ingress.spec?.rules?.[0]?.host).toBe('keys.corp.test');
    expect(ingress.spec?.tls).toEqual([{ hosts: ['keys.corp.test'], secretName: 'keys-tls' }]);
    expect(ingress.spec?.rules?.[0]?.http?.paths[0]?.backend.service).toEqual({ name: FULLNAME, port: { name: 'http' } });
  });
});

function withoutSecretEnv(o: Manifest): Manifest {
  if (o.kind !== 'Deployment') return o;
  const d = structuredClone(o) as unknown as V1Deployment;
  const c = portalContainer(d);
  c.env = (c.env ?? []).filter((e) => !e.valueFrom?.secretKeyRef);
  return d as unknown as Manifest;
}

async function createAdminSecret(namespace: string, sentinel: string): Promise<void> {
  const data = Object.fromEntries(SECRET_VARS.map((k) => [k, Buffer.from(`${sentinel}-${k}`).toString('base64')]));
  const body: V1Secret = { metadata: { name: 'keyportal-secrets' }, type: 'Opaque', data };
  await adminKubeConfig().makeApiClient(CoreV1Api).createNamespacedSecret({ namespace, body });
}

describe('helm install on the real API server', () => {
  it('installs, upgrades and uninstalls, and never copies the admin’s Secret into the release', async () => {
    const ns = await freshNamespace('kp-helm');
    const sentinel = `sk-${randomBytes(8).toString('hex')}`;
    await createAdminSecret(ns, sentinel);
    const admin = adminKubeConfig();
    const core = admin.makeApiClient(CoreV1Api);
    const apps = admin.makeApiClient(AppsV1Api);
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    const policy = admin.makeApiClient(PolicyV1Api);

    // No kubelet here: the pods never run, so no --wait; the API server validates every object.
    const installed = await helmOn(ns, 'install', RELEASE, chart, '--set', 'secrets.existingSecret=keyportal-secrets');
    expect(installed).toMatch(/STATUS: deployed/);
    expect(installed).toContain(`kubectl -n ${ns} get secrets -l keyportal.dev/state=in-review`);
    expect(installed).not.toContain('secrets.existingSecret is empty');

    const deployment = await apps.readNamespacedDeployment({ name: FULLNAME, namespace: ns });
    expect(deployment.spec?.replicas).toBe(2);
    await core.readNamespacedServiceAccount({ name: FULLNAME, namespace: ns });
    await rbac.readNamespacedRole({ name: FULLNAME, namespace: ns });
    await rbac.readNamespacedRoleBinding({ name: FULLNAME, namespace: ns });
    await policy.readNamespacedPodDisruptionBudget({ name: FULLNAME, namespace: ns });
    const service = await core.readNamespacedService({ name: FULLNAME, namespace: ns });
    expect(service.spec?.clusterIP).toMatch(/^10\.0\.0\.\d+$/);
    const configMap = await core.readNamespacedConfigMap({ name: FULLNAME, namespace: ns });
    expect(parseYaml(configMap.data?.['config.yaml'] ?? '')).toMatchObject({ loop: { concurrency: 4 } });

    // The secret values stay in the admin's Secret: not in the release, its values or its objects.
    const everything = await helmOn(ns, 'get', 'all', RELEASE);
    expect(everything).toContain('keyportal-secrets');
    expect(everything).not.toContain(sentinel);
    expect(JSON.stringify(configMap)).not.toContain(sentinel);
    expect(JSON.stringify(deployment)).not.toContain(sentinel);

    const before = deployment.spec?.template.metadata?.annotations?.['checksum/config'];
    await helmOn(ns, 'upgrade', RELEASE, chart, '--reuse-values', '--set', 'config.loop.concurrency=8,replicaCount=1');
    const upgraded = await apps.readNamespacedDeployment({ name: FULLNAME, namespace: ns });
    expect(upgraded.spec?.replicas).toBe(1);
    expect(upgraded.spec?.template.metadata?.annotations?.['checksum/config']).not.toBe(before);
    const newConfig = await core.readNamespacedConfigMap({ name: FULLNAME, namespace: ns });
    expect(parseYaml(newConfig.data?.['config.yaml'] ?? '')).toMatchObject({ loop: { concurrency: 8 } });
    expect(await statusOf(policy.readNamespacedPodDisruptionBudget({ name: FULLNAME, namespace: ns }))).toBe(404);
    const history = JSON.parse(await helmOn(ns, 'history', RELEASE, '-o', 'json')) as Array<{ revision: number; status: string }>;
    expect(history.map((h) => [h.revision, h.status])).toEqual([
      [1, 'superseded'],
      [2, 'deployed'],
    ]);

    await helmOn(ns, 'uninstall', RELEASE);
    await until(
      async () => (await statusOf(apps.readNamespacedDeployment({ name: FULLNAME, namespace: ns }))) === 404,
      'the Deployment to be gone after helm uninstall',
    );
    const leftovers = await Promise.all([
      statusOf(core.readNamespacedConfigMap({ name: FULLNAME, namespace: ns })),
      statusOf(core.readNamespacedServiceAccount({ name: FULLNAME, namespace: ns })),
      statusOf(core.readNamespacedService({ name: FULLNAME, namespace: ns })),
      statusOf(rbac.readNamespacedRole({ name: FULLNAME, namespace: ns })),
      statusOf(rbac.readNamespacedRoleBinding({ name: FULLNAME, namespace: ns })),
    ]);
    expect(leftovers).toEqual([404, 404, 404, 404, 404]);
    // The admin's own Secret was never the chart's to delete.
    expect(await statusOf(core.readNamespacedSecret({ name: 'keyportal-secrets', namespace: ns }))).toBe(200);
    expect(JSON.parse(await helmOn(ns, 'list', '-o', 'json'))).toEqual([]);
  });
});

/** `kubectl auth can-i` as the bearer of `token`: true for yes, false for no. */
async function canI(token: string, namespace: string | undefined, verb: string, resource: string): Promise<boolean> {
  const args = ['--kubeconfig', kubeconfigPath(), '--token', token, 'auth', 'can-i', verb, resource];
  if (namespace) args.push('-n', namespace);
  const r = await exec(`${inject('clusterBin')}/kubectl`, args);
  const answer = r.stdout.trim();
  if (answer === 'yes' && r.code === 0) return true;
  if (answer === 'no' && r.code === 1) return false;
  throw new Error(`kubectl auth can-i ${verb} ${resource} answered "${answer}" (exit ${r.code}): ${r.stderr}`);
}

describe('the chart’s RBAC, used with a real ServiceAccount token', () => {
  it('lets the portal store, watch, elect and record in its namespace, and nothing more', async () => {
    const ns = await freshNamespace('kp-rbac');
    const other = await freshNamespace('kp-other');
    const notes = await helmOn(ns, 'install', RELEASE, chart);
    expect(notes).toContain('WARNING: secrets.existingSecret is empty');
    const token = (await kubectl('create', 'token', FULLNAME, '-n', ns, '--duration', '10m')).trim();
    expect(token.split('.')).toHaveLength(3);
    const kc: KubeConfig = kubeConfigForToken(token, 'keyportal-sa');

    // The token really is the chart's ServiceAccount, not the admin.
    const whoami = await exec(`${inject('clusterBin')}/kubectl`, [
      '--kubeconfig', kubeconfigPath(), '--token', token, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}',
    ]);
    expect(whoami.stdout).toBe(`system:serviceaccount:${ns}:${FULLNAME}`);

    // The authorizer learns of the new RoleBinding through its informer: allow it a moment.
    const store = new KubernetesSecretStore({ namespace: ns, kubeConfig: kc });
    await until(() => store.ping().then(() => true), 'the RoleBinding to take effect', 10_000, 100);

    // The request store, as the portal runs it: create, list, read, patch, watch.
    const created = await store.create({ email: 'ada@example.com', model: 'gpt-4o-mini' });
    expect(created.created).toBe(true);
    const id = created.request.id;
    expect((await store.listAll()).items.map((r) => r.id)).toEqual([id]);
    expect((await store.listByState('pending')).items.map((r) => r.id)).toEqual([id]);

    const storeEvents: WatchEvent[] = [];
    const stopStoreWatch = new AbortController();
    const storeWatching = store.watch((e) => storeEvents.push(e), stopStoreWatch.signal);
    const rawEvents: string[] = [];
    const rawErrors: unknown[] = [];
    const rawWatch = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/secrets`,
      { labelSelector: 'app.kubernetes.io/component=key-request' },
      (type: string, obj: V1Secret) => rawEvents.push(`${type}:${obj.metadata?.labels?.['keyportal.dev/state']}`),
      (err: unknown) => {
        if (err) rawErrors.push(err);
      },
    );
    try {
      await until(() => storeEvents.some((e) => e.type === 'upsert' && e.id === id), 'the store’s watch to list the request');
      await until(() => rawEvents.includes('ADDED:pending'), `the ServiceAccount's watch to open (errors: ${rawErrors.map(String).join('; ')})`);
      const read = await store.get(id);
      const moved = await store.update(read, { state: 'in-review', reason: 'held for a person', decidedBy: 'plugin:helm-test' });
      expect(moved.state).toBe('in-review');
      expect((await store.get(id)).state).toBe('in-review');
      await until(() => rawEvents.includes('MODIFIED:in-review'), 'the ServiceAccount’s watch to see the patch');
      await until(
        () => storeEvents.filter((e) => e.type === 'upsert' && e.id === id).length >= 2,
        'the store’s watch to see the patch',
      );
    } finally {
      rawWatch.abort();
      stopStoreWatch.abort();
      await storeWatching;
    }

    // Leader election on the Lease the loop uses, with the Lease code the loop runs.
    const a = new LeaseElector(kc, { namespace: ns, identity: 'replica-a' });
    const b = new LeaseElector(kc, { namespace: ns, identity: 'replica-b' });
    expect(await a.tryAcquireOrRenew()).toBe(true); // create
    expect(await a.tryAcquireOrRenew()).toBe(true); // get + update (renew)
    expect(await b.tryAcquireOrRenew()).toBe(false); // held by a
    await a.release();
    expect(await b.tryAcquireOrRenew()).toBe(true); // update (take over)
    const lease = await adminKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'keyportal-loop', namespace: ns });
    expect(lease.spec?.holderIdentity).toBe('replica-b');

    // An Event on the request, with the recorder the loop uses (it never throws: check it landed).
    await new KubernetesEventRecorder(kc, ns).record(created.request, { type: 'Normal', reason: 'HelmChartCheck', message: 'recorded by the chart’s ServiceAccount' });
    const events = await adminKubeConfig().makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns });
    const ours = events.items.find((e) => e.reason === 'HelmChartCheck');
    expect(ours?.involvedObject.name).toBe(`keyreq-${id}`);
    expect(ours?.involvedObject.uid).toBe(created.request.uid);

    // Least privilege: another namespace, and anything cluster-wide, is refused.
    const api = kc.makeApiClient(CoreV1Api);
    expect(await statusOf(api.listNamespacedSecret({ namespace: other }))).toBe(403);
    expect(await statusOf(api.listSecretForAllNamespaces())).toBe(403);
    expect(await statusOf(api.listPodForAllNamespaces())).toBe(403);
    expect(await statusOf(api.listConfigMapForAllNamespaces())).toBe(403);
    expect(await statusOf(api.listNamespacedConfigMap({ namespace: ns }))).toBe(403);
    await expect(new KubernetesSecretStore({ namespace: other, kubeConfig: kc }).create({ email: 'ada@example.com', model: 'gpt-4o-mini' })).rejects.toThrow(
      StoreUnavailableError,
    );

    // The Role, verb by verb: what the code calls is granted; everything else is not.
    const expected: Array<[verb: string, resource: string, namespace: string | undefined, allowed: boolean]> = [
      ['get', 'secrets', ns, true],
      ['list', 'secrets', ns, true],
      ['watch', 'secrets', ns, true],
      ['create', 'secrets', ns, true],
      ['patch', 'secrets', ns, true],
      ['delete', 'secrets', ns, true],
      ['update', 'secrets', ns, false],
      ['deletecollection', 'secrets', ns, false],
      ['create', 'events', ns, true],
      ['patch', 'events', ns, false],
      ['create', 'events.events.k8s.io', ns, false],
      ['create', 'leases.coordination.k8s.io', ns, true],
      ['get', 'leases.coordination.k8s.io/keyportal-loop', ns, true],
      ['update', 'leases.coordination.k8s.io/keyportal-loop', ns, true],
      ['get', 'leases.coordination.k8s.io/kube-scheduler', ns, false],
      ['list', 'leases.coordination.k8s.io', ns, false],
      ['delete', 'leases.coordination.k8s.io/keyportal-loop', ns, false],
      ['get', 'configmaps', ns, false],
      ['create', 'pods', ns, false],
      ['create', 'roles.rbac.authorization.k8s.io', ns, false],
      ['create', 'serviceaccounts/token', ns, false],
      ['get', 'secrets', other, false],
      ['list', 'secrets', undefined, false],
      ['delete', 'namespaces', undefined, false],
    ];
    const answers = await Promise.all(expected.map(([verb, resource, namespace]) => canI(token, namespace, verb, resource)));
    const table = (allowed: boolean[]) => expected.map(([verb, resource, namespace], i) => `${verb} ${resource} in ${namespace ?? '(cluster)'}: ${allowed[i] ? 'yes' : 'no'}`);
    expect(table(answers)).toEqual(table(expected.map((e) => e[3])));

    // The Role as installed holds exactly these rules.
    const role: V1Role = await adminKubeConfig().makeApiClient(RbacAuthorizationV1Api).readNamespacedRole({ name: FULLNAME, namespace: ns });
    expect(role.rules?.map((r) => ({ ...r, verbs: [...r.verbs].sort() }))).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'watch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['keyportal-loop'], verbs: ['get', 'update'] },
    ]);
  });
});
