/**
 * `npm run bench:sweep`: the gateway sweep (lib/loop/sweep.ts) over N issued requests and N keys
 * at the LiteLLM-compatible test gateway, on the real test cluster, with a few orphans and
 * missing keys mixed in. Reports the sweep's time (median of 3, after the request cache synced),
 * the gateway calls it made and the API server calls it cost (apiserver_request_total before and
 * after), and its RSS. BENCH_SWEEP_N (default 10000).
 */
import { createHash } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { newRequestId, rfc3339 } from '@/lib/domain/key-request';
import { withKeepAlive } from '@/lib/kube/keep-alive';
import { LogEventRecorder } from '@/lib/loop/events';
import { sweepGateway } from '@/lib/loop/sweep';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { encodeNewRequest } from '@/lib/store/secret-codec';
import { MASTER_KEY } from '@/tests/helpers/portal';
import { TestGateway } from '@/trial/litellm';
import { apiRequestCounts, callsBetween, changedBeforeCreate, clusterUp, freshNamespace } from './cluster';
import { median } from './stats';

const N = Number(process.env.BENCH_SWEEP_N ?? 10_000);
const ORPHANS = Math.max(1, Math.round(N / 100));
const say = (s: string) => process.stderr.write(`bench:sweep: ${s}\n`);

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

async function main(): Promise<void> {
  process.env.KEYPORTAL_LOG = 'silent';
  const cluster = clusterUp();
  const namespace = await freshNamespace(cluster.kc, 'bench-sweep');
  const api = withKeepAlive(cluster.kc).makeApiClient(CoreV1Api);
  const gateway = new TestGateway(MASTER_KEY);
  await gateway.start();
  const t = Date.parse('2026-01-01T00:00:00Z');
  say(`seeding ${N} issued requests and their keys, ${ORPHANS} orphans and ${ORPHANS} missing keys`);
  await pool(Array.from({ length: N }, (_, i) => i), 32, async (i) => {
    const id = newRequestId();
    const key = `sk-kp-bench-${id}-${i}`;
    const token = createHash('sha256').update(key).digest('hex');
    const fresh = encodeNewRequest({ id, email: `u${i}@bench.example.com`, model: 'gpt-4o', createdAt: rfc3339(new Date(t + i * 1000)) });
    const issued = changedBeforeCreate(
      fresh,
      { state: 'approved', decision: 'approved', decidedBy: 'plugin:whitelist', decidedAt: rfc3339(new Date(t + i * 1000)), reason: 'listed', keySha256: token, gatewayFinalizer: true },
      { state: 'issued', issuedAt: rfc3339(new Date(t + i * 1000)), notified: 'issued' },
    );
    await api.createNamespacedSecret({ namespace, body: issued as never });
    // The last ORPHANS requests lost their key at the gateway (missing).
    if (i >= N - ORPHANS) return;
    gateway.keys.set(token, { key, token, key_alias: `keyportal-${id}`, models: ['gpt-4o'], user_id: `u${i}@bench.example.com`, metadata: { request_id: id }, max_budget: 10, budget_duration: '30d', rpm_limit: null, tpm_limit: null, team_id: null, key_type: null, expires: null, budget_reset_at: null, spend: 0, created_at: new Date(t + i * 1000).toISOString() });
  });
  for (let i = 0; i < ORPHANS; i++) {
    const id = newRequestId();
    const key = `sk-kp-orphan-${id}`;
    const token = createHash('sha256').update(key).digest('hex');
    gateway.keys.set(token, { key, token, key_alias: `keyportal-${id}`, models: ['gpt-4o'], user_id: 'gone@bench.example.com', metadata: { request_id: id }, max_budget: null, budget_duration: null, rpm_limit: null, tpm_limit: null, team_id: null, key_type: null, expires: null, budget_reset_at: null, spend: 0, created_at: new Date(t).toISOString() });
  }
  const store = new KubernetesSecretStore({ namespace, kubeConfig: cluster.kc });
  store.warm();
  const synced = Date.now();
  await store.ping().catch(() => undefined);
  await store.listByState('issued', { limit: 1 });
  say(`request cache synced in ${Date.now() - synced} ms`);
  const client = new LiteLLMGateway({ baseUrl: gateway.url, masterKey: MASTER_KEY, timeoutMs: 30_000 });
  const times: number[] = [];
  let last;
  let calls = { total: 0, byVerb: {} as Record<string, number> };
  let gatewayCalls = 0;
  for (let run = 0; run < 3; run++) {
    const before = await apiRequestCounts(cluster.kc);
    const logged = gateway.requestLog.length;
    const started = performance.now();
    last = await sweepGateway({ store, gateway: client, events: new LogEventRecorder(), orphans: 'report' });
    times.push(performance.now() - started);
    gatewayCalls = gateway.requestLog.length - logged;
    calls = callsBetween(before, await apiRequestCounts(cluster.kc), 'secrets');
  }
  const rss = process.memoryUsage().rss;
  console.log(
    JSON.stringify(
      { issued: N, gatewayKeys: gateway.keys.size, orphans: last?.orphans.length, missing: last?.missing.length, medianMs: Math.round(median(times)), runsMs: times.map(Math.round), gatewayCalls, apiServerSecretCalls: calls.total, rssMiB: Math.round(rss / 1048576) },
      null,
      2,
    ),
  );
  store.close();
  await gateway.stop();
  cluster.stop();
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
