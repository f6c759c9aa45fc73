import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { CoreV1Api, KubeConfig, type V1Secret, Watch } from '@kubernetes/client-node';
import { withKeepAlive } from '@/lib/kube/keep-alive';
import { type SecretObject } from '@/lib/store/secret-codec';
import type { RequestChange } from '@/lib/store/types';
import { applyChange } from '@/lib/store/write';

const repo = path.resolve(import.meta.dirname, '..');
const stateDir = process.env.KEYPORTAL_CLUSTER_DIR ?? path.join(repo, '.cluster');

/**
 * The test cluster, as the tests use it: reused if running (and left running), else started here.
 * Its KubeConfig keeps connections alive as the portal's does: without that, client-node opens a
 * TLS connection per call, and bench/probe.ts's API-server ceiling (391 creates/s at 50 at a
 * time) was its own handshakes, a third of what a kept-alive client gets from the same server.
 */
export function clusterUp(): { kubeconfig: string; kc: KubeConfig; stop: () => void } {
  const startedHere = !existsSync(path.join(stateDir, 'kubeconfig'));
  const out = execFileSync('bash', [path.join(repo, 'tests/cluster/up.sh')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const kubeconfig = out.trim().split('\n').pop() ?? '';
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  withKeepAlive(kc);
  return { kubeconfig, kc, stop: () => startedHere && execFileSync('bash', [path.join(repo, 'tests/cluster/down.sh')], { stdio: 'inherit' }) };
}

export async function freshNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** The API server's own request counters (`apiserver_request_total`), summed by "resource verb". */
export async function apiRequestCounts(kc: KubeConfig): Promise<Map<string, number>> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig names no cluster');
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.get(`${server}/metrics`, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET /metrics answered ${res.statusCode}`))));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('GET /metrics timed out')));
    req.on('error', reject);
  });
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    const verb = /verb="([^"]*)"/.exec(line)?.[1] ?? '';
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!resource || !Number.isFinite(value)) continue;
    counts.set(`${resource} ${verb}`, (counts.get(`${resource} ${verb}`) ?? 0) + value);
  }
  return counts;
}

/** Calls per resource between two readings: `secrets` and `events`, summed over verbs. */
export function callsBetween(before: Map<string, number>, after: Map<string, number>, resource: string): { total: number; byVerb: Record<string, number> } {
  const byVerb: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of after) {
    const [res, verb] = k.split(' ');
    if (res !== resource || verb === 'WATCH') continue;
    const d = v - (before.get(k) ?? 0);
    if (d > 0) {
      byVerb[verb as string] = d;
      total += d;
    }
  }
  return { total, byVerb };
}

/** Notes when each request Secret of a namespace is first seen issued, through one watch. */
export async function watchIssued(kc: KubeConfig, namespace: string, seen: Map<string, number>): Promise<() => void> {
  // The API server (or client-node's fetch) closes a long watch now and then; a watch that is not
  // resumed sees nothing after that, and the figure comes out as n/a. Each resume lists the issued
  // Secrets afresh (ADDED for each): ids already seen keep their first time, and one issued during
  // the gap is timed when it reappears, a little late rather than never. Bounded, like every loop.
  let stopped = false;
  let current: { abort: () => void } | undefined;
  let resumes = 0;
  const start = async (): Promise<void> => {
    current = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/secrets`,
      { labelSelector: 'keyportal.dev/state=issued' },
      (type: string, obj: V1Secret) => {
        const id = obj.metadata?.name?.replace(/^keyreq-/, '');
        if (id && (type === 'ADDED' || type === 'MODIFIED') && !seen.has(id)) seen.set(id, performance.now());
      },
      () => {
        if (stopped || resumes++ >= 200) return;
        setTimeout(() => void start().catch(() => undefined), 100);
      },
    );
  };
  await start();
  return () => {
    stopped = true;
    current?.abort();
  };
}

/**
 * A new request Secret with a change already applied, for seeding: applyChange reads the request
 * back first (its audit records come from what it was), and a body not yet created has no
 * resourceVersion, so it gets a stand-in for that read and loses it before the create.
 */
export function changedBeforeCreate(secret: SecretObject, ...changes: RequestChange[]): SecretObject {
  let s: SecretObject = { ...secret, metadata: { ...secret.metadata, resourceVersion: '1' } };
  for (const change of changes) s = applyChange(s, change);
  const { resourceVersion: _, ...metadata } = s.metadata;
  return { ...s, metadata };
}
