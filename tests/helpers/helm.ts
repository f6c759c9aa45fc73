import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, type V1ConfigMap, type V1Container, type V1Deployment, type V1ObjectMeta, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, inject } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { type Config, parseConfig } from '@/lib/config/load';
import { checkPluginEntry } from '@/plugins';
import { adminKubeConfig, kubeconfigPath } from './cluster';

// The real helm CLI against the chart, and what the chart renders, for the helm suites.

let helmHome = '';

/** Gives the calling test file a helm home of its own (cache, config, repositories), removed after. */
export function withHelmHome(): void {
  beforeAll(() => {
    helmHome = mkdtempSync(path.join(tmpdir(), 'keyportal-helm-'));
  });
  afterAll(() => {
    if (helmHome) rmSync(helmHome, { recursive: true, force: true });
  });
}

/** The calling file's helm home as environment variables, for a helm the test does not start itself. */
export function helmEnv(): Record<string, string> {
  return { HELM_CACHE_HOME: path.join(helmHome, 'cache'), HELM_CONFIG_HOME: path.join(helmHome, 'config'), HELM_DATA_HOME: path.join(helmHome, 'data') };
}

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
export const chart = path.join(repo, 'helm/keyportal');
export const RELEASE = 'keyportal';
/** The release's full name and ServiceAccount name: the release name already holds the chart's. */
export const FULLNAME = 'keyportal';
/** The names the chart maps from secrets.existingSecret into the environment. */
export const SECRET_VARS = ['GATEWAY_MASTER_KEY', 'SMTP_PASSWORD', 'NEXTAUTH_SECRET', 'OIDC_CLIENT_SECRET', 'KEYPORTAL_WEBHOOK_SECRETS', 'KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS'];


export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a binary and reports its exit code instead of throwing on a non-zero one. */
export async function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
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

export function helm(...args: string[]): Promise<Ran> {
  const { KUBECONFIG: _ignored, ...env } = process.env;
  return exec(`${inject('clusterBin')}/helm`, args, { ...env, ...helmEnv() });
}

export async function helmOk(...args: string[]): Promise<string> {
  const r = await helm(...args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** helm against the test cluster, as admin. */
export function helmOn(namespace: string, ...args: string[]): Promise<string> {
  return helmOk(...args, '--kubeconfig', kubeconfigPath(), '--namespace', namespace);
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
  [field: string]: unknown;
}

export function manifests(yamlText: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value) out.push(value);
  }
  return out;
}

/**
 * What a real install must name, having no sane default (values.schema.json requires them unless
 * trial.enabled): where users reach the portal, the identity provider, the gateway, the sender
 * and the relay. Tests that are about something else start from these.
 */
export const REQUIRED_VALUES = [
  'portal.publicUrl=https://keys.example.com',
  'auth.oidc.issuer=https://login.example.com/realms/staff',
  'auth.oidc.clientId=keyportal',
  'config.gateway.baseUrl=https://litellm.llm.svc:4000',
  'config.mail.from=keyportal@example.com',
  'config.mail.smtp.host=smtp.example.com',
];
export const REQUIRED = ['--set', REQUIRED_VALUES.join(',')];

/** `helm template` as a platform admin runs it, with the required values; `--set`-style arguments follow and win. */
export async function render(namespace: string, ...args: string[]): Promise<Manifest[]> {
  return manifests(await helmOk('template', RELEASE, chart, '--namespace', namespace, ...REQUIRED, ...args));
}

export function only<T>(objects: Manifest[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}: ${objects.map((o) => o.kind).join(', ')}`);
  return found[0] as unknown as T;
}

export function portalContainer(deployment: V1Deployment): V1Container {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'keyportal');
  if (!container) throw new Error('the Deployment has no keyportal container');
  return container;
}

/** A stand-in for a Secret's value, of the form and length config load asks for. */
export const fakeSecret = (key: string): string => `${key.endsWith('WEBHOOK_SECRETS') ? 'hr:' : ''}value-of-${key}-0123456789abcdef0123456789abcdef`;

/** The environment the pod would get: literal values, downward-API fields, and secret keys. */
export function podEnv(deployment: V1Deployment, namespace: string): Record<string, string> {
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
export function portalConfig(objects: Manifest[], namespace: string): Config {
  const configMap = only<V1ConfigMap>(objects, 'ConfigMap');
  const text = configMap.data?.['config.yaml'];
  if (!text) throw new Error('the ConfigMap holds no config.yaml');
  // The portal's own Deployment (a trial renders its stand-ins' beside it).
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === FULLNAME) as unknown as V1Deployment | undefined;
  if (!deployment) throw new Error(`no Deployment ${FULLNAME} rendered`);
  return parseConfig(parseYaml(text), { source: 'helm template', env: podEnv(deployment, namespace), checkPlugin: checkPluginEntry });
}

export function withoutSecretEnv(o: Manifest): Manifest {
  if (o.kind !== 'Deployment') return o;
  const d = structuredClone(o) as unknown as V1Deployment;
  const c = portalContainer(d);
  c.env = (c.env ?? []).filter((e) => !e.valueFrom?.secretKeyRef);
  return d as unknown as Manifest;
}

export async function createAdminSecret(namespace: string, sentinel: string): Promise<void> {
  const data = Object.fromEntries(SECRET_VARS.map((k) => [k, Buffer.from(`${sentinel}-${k}`).toString('base64')]));
  const body: V1Secret = { metadata: { name: 'keyportal-secrets' }, type: 'Opaque', data };
  await adminKubeConfig().makeApiClient(CoreV1Api).createNamespacedSecret({ namespace, body });
}

/** `kubectl auth can-i` as the bearer of `token`: true for yes, false for no. */
export async function canI(token: string, namespace: string | undefined, verb: string, resource: string): Promise<boolean> {
  const args = ['--kubeconfig', kubeconfigPath(), '--token', token, 'auth', 'can-i', verb, resource];
  if (namespace) args.push('-n', namespace);
  const r = await exec(`${inject('clusterBin')}/kubectl`, args);
  const answer = r.stdout.trim();
  if (answer === 'yes' && r.code === 0) return true;
  if (answer === 'no' && r.code === 1) return false;
  throw new Error(`kubectl auth can-i ${verb} ${resource} answered "${answer}" (exit ${r.code}): ${r.stderr}`);
}

