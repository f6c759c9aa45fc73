/**
 * `npm run bench:audit`: the audit trail and retention on the real test cluster (issue 26's figures).
 *
 * 1. Bytes one request Secret takes in etcd in each state (the API server's protobuf encoding, as
 *    etcd stores it, managedFields included), for a short and a long trace.
 * 2. Shipping: BENCH_AUDIT_N requests (default 1000) with their records waiting, drained through
 *    each sink (stdout into a pipe, http to a collector on loopback, syslog to a real rsyslogd):
 *    records a second, and the API calls it cost (one patch per request acknowledged).
 * 3. The backlog while the sink is down and BENCH_AUDIT_N requests flow through a real loop to
 *    issued and emailed; then the drain once it is back.
 * 4. The retention sweep over BENCH_AUDIT_N ended requests: deletions a second and API calls.
 */
import { PassThrough } from 'node:stream';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { AuditShipper } from '@/lib/audit/shipper';
import type { AuditSink } from '@/lib/audit/sink';
import { HttpSink } from '@/lib/audit/sinks/http';
import { StdoutSink } from '@/lib/audit/sinks/stdout';
import { SyslogSink } from '@/lib/audit/sinks/syslog';
import { type KeyRequest, rfc3339, secretName } from '@/lib/domain/key-request';
import { buildLoop } from '@/lib/loop/wiring';
import { KubernetesArchive } from '@/lib/retention/archive';
import { sweepRetention } from '@/lib/retention/sweep';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import type { RequestChange } from '@/lib/store/types';
import { AUDIT_SECRET, AuditCollector } from '@/tests/helpers/audit-collector';
import { MASTER_KEY, testConfig } from '@/tests/helpers/portal';
import { rsyslogAvailable, startRsyslog } from '@/tests/helpers/rsyslog';
import { apiRequestCounts, callsBetween, clusterUp, freshNamespace } from './cluster';
import { startStandIns } from './stand-ins';

const N = Number(process.env.BENCH_AUDIT_N ?? 1000);
const say = (s: string) => process.stderr.write(`bench:audit: ${s}\n`);
const now = () => rfc3339(new Date());

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

/** The Secret as etcd holds it: the API server's protobuf encoding (what it writes to etcd, before encryption at rest). */
async function storedBytes(kc: KubeConfig, namespace: string, id: string): Promise<number> {
  const server = kc.getCurrentCluster()?.server as string;
  const options: https.RequestOptions = { headers: { accept: 'application/vnd.kubernetes.protobuf' } };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    https
      .get(`${server}/api/v1/namespaces/${namespace}/secrets/${secretName(id)}`, options, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`GET answered ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

const reason = (i: number, long: boolean) => (long ? `Plugin ${i} looked at the request against the company's policy for this model and found nothing that settles it either way; passing it on.`.padEnd(200, '.') : `model matches pattern ${i}`);

/** A request through its life by hand, as the loop writes it: each step's change. */
function lifeSteps(long: boolean): Array<[label: string, change: (r: KeyRequest) => RequestChange]> {
  const plugins = long ? 8 : 2;
  const trace = Array.from({ length: plugins }, (_, i) => ({ plugin: `plugin-${i}`, outcome: i === plugins - 1 ? ('approve' as const) : ('continue' as const), reason: reason(i, long), ms: 3 }));
  const at = now();
  return [
    ['approved', () => ({ state: 'approved', decision: 'approved', decidedBy: 'plugin:plugin-1', decidedAt: at, reason: reason(plugins - 1, long), trace })],
    ['approved, key stored', () => ({ key: `sk-kp-${'x'.repeat(48)}`, keySha256: 'a'.repeat(64), notifying: { state: 'issued', at }, gatewayFinalizer: true })],
    ['issued', () => ({ state: 'issued', issuedAt: at, expiresAt: at, notified: 'issued', notifying: null, key: null, auditData: { limits: { max_budget: 10, rpm_limit: 60 } } })],
    ['revoked', () => ({ state: 'revoked', decision: 'revoked', decidedBy: 'user:admin@example.com', decidedAt: at, reason: 'Project ended' })],
    ['revoked, key deleted, emailed', () => ({ notified: 'revoked', gatewayFinalizer: false, audit: [{ type: 'key.deleted', data: { alias: 'keyportal-x', why: 'revoked' } }] })],
  ];
}

async function sizes(kc: KubeConfig, store: KubernetesSecretStore, namespace: string, shipper: AuditShipper, signal: AbortSignal): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const long of [false, true]) {
    const row: Record<string, number> = {};
    const { request } = await store.create({ email: `size-${long ? 'long' : 'short'}@example.com`, model: 'gpt-4o', ...(long ? { justification: 'Evaluating the model for the support team’s summarisation pipeline over the next quarter.' } : {}) });
    row['pending, records waiting'] = await storedBytes(kc, namespace, request.id);
    let r = request;
    for (const [label, change] of lifeSteps(long)) {
      r = await store.update(r, change(r));
      row[`${label}, records waiting`] = await storedBytes(kc, namespace, r.id);
    }
    await shipper.run(signal);
    row['revoked, records acknowledged'] = await storedBytes(kc, namespace, r.id);
    out[long ? 'long trace (8 plugins, 200-char reasons, a justification)' : 'short trace (2 plugins)'] = row;
  }
  // A denial, acknowledged: the most common ended request.
  const denied = (await store.create({ email: 'size-denied@example.com', model: 'internal/secret-model' })).request;
  await store.update(denied, { state: 'denied', decision: 'denied', decidedBy: 'plugin:blacklist', decidedAt: now(), reason: 'Internal models are not open for self-service keys.', trace: [{ plugin: 'blacklist', outcome: 'deny', reason: 'Internal models are not open for self-service keys.', ms: 1 }], notified: 'denied' });
  await shipper.run(signal);
  out['denied (short trace)'] = { 'denied, emailed, records acknowledged': await storedBytes(kc, namespace, denied.id) };
  return out;
}

/** N requests through to revoked by hand, their records left waiting (nothing ships them). */
async function seedWaiting(store: KubernetesSecretStore, prefix: string, n: number): Promise<{ ids: string[]; records: number }> {
  const ids: string[] = [];
  await pool(Array.from({ length: n }, (_, i) => i), 32, async (i) => {
    let { request: r } = await store.create({ email: `${prefix}${i}@bench.example.com`, model: 'gpt-4o' });
    for (const [, change] of lifeSteps(false)) r = await store.update(r, change(r));
    ids.push(r.id);
  });
  const records = (await Promise.all(ids.map((id) => store.get(id)))).reduce((n, r) => n + (JSON.parse(r.auditPending ?? '[]') as unknown[]).length, 0);
  return { ids, records };
}

async function drain(kc: KubeConfig, store: KubernetesSecretStore, sink: AuditSink, signal: AbortSignal): Promise<{ records: number; seconds: number; recordsPerSecond: number; apiSecretCalls: Record<string, number>; batches: number }> {
  const shipper = new AuditShipper({ store, sink, render: { source: 'https://keys.example.com', redactEmail: false }, settleMs: 0, batchSize: 500 });
  const before = await apiRequestCounts(kc);
  const started = performance.now();
  let records = 0;
  let batches = 0;
  for (let round = 0; round < 100; round++) {
    const report = await shipper.run(signal);
    if (report.error) throw new Error(report.error);
    records += report.shipped;
    batches += report.batches;
    if (report.shipped === 0 && shipper.backlog() === 0) break;
  }
  const seconds = (performance.now() - started) / 1000;
  return { records, seconds: Number(seconds.toFixed(2)), recordsPerSecond: Math.round(records / seconds), apiSecretCalls: callsBetween(before, await apiRequestCounts(kc), 'secrets').byVerb, batches };
}

async function main(): Promise<void> {
  process.env.KEYPORTAL_LOG = 'silent';
  const cluster = clusterUp();
  const { kc } = cluster;
  const signal = new AbortController().signal;
  const result: Record<string, unknown> = { n: N };

  // 1. Bytes per state.
  {
    const namespace = await freshNamespace(kc, 'bench-audit-size');
    const store = new KubernetesSecretStore({ namespace, kubeConfig: kc });
    const out = new PassThrough().resume();
    const shipper = new AuditShipper({ store, sink: new StdoutSink(out), render: { source: 'x', redactEmail: false }, settleMs: 0, batchSize: 500 });
    result.secretBytes = await sizes(kc, store, namespace, shipper, signal);
    store.close();
    say('sizes measured');
  }

  // 2. Sink throughput, one fresh namespace per sink.
  const sinks: Array<[string, () => Promise<{ sink: AuditSink; stop: () => Promise<void> }>]> = [
    ['stdout (into a pipe)', async () => ({ sink: new StdoutSink(new PassThrough().resume()), stop: async () => undefined })],
    [
      'http (collector on loopback)',
      async () => {
        const c = new AuditCollector();
        await c.start();
        return { sink: new HttpSink({ url: c.url, timeoutSeconds: 10, secret: AUDIT_SECRET }), stop: () => c.stop() };
      },
    ],
  ];
  if (rsyslogAvailable()) {
    sinks.push([
      'syslog (rsyslogd, TCP, octet-counted)',
      async () => {
        const r = await startRsyslog();
        return { sink: new SyslogSink({ host: '127.0.0.1', port: r.port, tls: false, appName: 'keyportal', facility: 'authpriv', timeoutSeconds: 30 }), stop: () => r.dispose() };
      },
    ]);
  }
  const shipping: Record<string, unknown> = {};
  for (const [name, make] of sinks) {
    const namespace = await freshNamespace(kc, 'bench-audit-ship');
    const store = new KubernetesSecretStore({ namespace, kubeConfig: kc });
    const seeded = await seedWaiting(store, 'ship', N);
    const { sink, stop } = await make();
    shipping[name] = { requests: N, recordsWaiting: seeded.records, ...(await drain(kc, store, sink, signal)) };
    await stop();
    store.close();
    say(`shipped through ${name}`);
  }
  result.shipping = shipping;

  // 3. The backlog while the sink is down, with N requests flowing through a real loop.
  {
    const namespace = await freshNamespace(kc, 'bench-audit-down');
    const { gateway, smtp, stop: stopStandIns } = await startStandIns();
    const collector = new AuditCollector();
    await collector.start();
    collector.mode = 'error';
    const config = testConfig({ store: { type: 'kubernetes', namespace, kubeconfig: cluster.kubeconfig }, gatewayUrl: gateway.url, smtp: smtp.address, auditUrl: collector.url, loop: { concurrency: 32 } });
    const store = new KubernetesSecretStore({ namespace, kubeConfig: kc });
    const parts = buildLoop(config, store, { GATEWAY_MASTER_KEY: MASTER_KEY, KEYPORTAL_AUDIT_SECRET: AUDIT_SECRET });
    parts.loop.start();
    const started = performance.now();
    await pool(Array.from({ length: N }, (_, i) => i), 16, async (i) => void (await store.create({ email: `down${i}@bench.example.com`, model: 'gpt-4o' })));
    let issuedAt = 0;
    let peak = 0;
    for (let i = 0; i < 1200; i++) {
      const page = await store.query({ state: 'issued', limit: 1 });
      peak = Math.max(peak, parts.audit.backlog());
      if (page.total === N && smtp.messages.length >= N) {
        issuedAt = performance.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 2500));
    const backlog = parts.audit.backlog();
    const oldest = Math.round(parts.audit.oldestSeconds());
    const failures = collector.batches;
    collector.mode = 'ok';
    const back = performance.now();
    for (let i = 0; i < 1200 && parts.audit.backlog() > 0; i++) await new Promise((r) => setTimeout(r, 100));
    const drained = performance.now();
    result.sinkDown = {
      requests: N,
      issuedAndEmailedSeconds: Number(((issuedAt - started) / 1000).toFixed(2)),
      backlogRecordsWhileDown: backlog,
      peakBacklogSeen: Math.max(peak, backlog),
      oldestSecondsWhileDown: oldest,
      // In memory meanwhile: one small entry per request with records waiting (the records are in etcd).
      acknowledgedWhileDown: failures,
      drainSecondsOnceBack: Number(((drained - back) / 1000).toFixed(2)),
      deliveredDistinct: collector.distinct().length,
    };
    await parts.loop.stop();
    store.close();
    await collector.stop();
    await stopStandIns();
    say('sink-down backlog measured');
  }

  // 4. Retention over N ended requests, decided 100 days ago, records acknowledged.
  {
    const namespace = await freshNamespace(kc, 'bench-audit-ret');
    // Created and decided 100 days ago (the sweep goes by the latest time a request carries).
    const then = () => new Date(Date.now() - 100 * 86_400_000);
    const store = new KubernetesSecretStore({ namespace, kubeConfig: kc, clock: then });
    const old = rfc3339(then());
    await pool(Array.from({ length: N }, (_, i) => i), 32, async (i) => {
      const { request } = await store.create({ email: `ret${i}@bench.example.com`, model: 'internal/secret-model' });
      await store.update(request, { state: 'denied', decision: 'denied', decidedBy: 'plugin:blacklist', decidedAt: old, reason: 'closed', notified: 'denied' });
    });
    const sink = new StdoutSink(new PassThrough().resume());
    const shipper = new AuditShipper({ store, sink, render: { source: 'x', redactEmail: false }, settleMs: 0, batchSize: 500, deletedBy: async () => 'retention' });
    for (let i = 0; i < 20 && (i === 0 || shipper.backlog() > 0); i++) await shipper.run(signal);
    const archive = new KubernetesArchive(kc, namespace);
    const before = await apiRequestCounts(kc);
    const started = performance.now();
    let deleted = 0;
    // maxDeletesPerMinute 6000 (the setting's ceiling): a turn deletes up to 1000, one every 10 ms.
    for (let turn = 0; turn < 20 && deleted < N; turn++) deleted += (await sweepRetention({ store, archive, endedDays: 90, maxDeletesPerMinute: 6000, clock: () => new Date() }, signal)).deleted;
    for (let i = 0; i < 50 && shipper.backlog() >= 0; i++) {
      await shipper.run(signal);
      if ((await store.query({ limit: 1 })).total === 0) break;
    }
    const seconds = (performance.now() - started) / 1000;
    const after = await apiRequestCounts(kc);
    result.retention = {
      requests: N,
      deleted,
      seconds: Number(seconds.toFixed(2)),
      deletionsPerSecond: Math.round(deleted / seconds),
      apiCalls: { secrets: callsBetween(before, after, 'secrets').byVerb, configmaps: callsBetween(before, after, 'configmaps').byVerb },
      left: (await store.query({ limit: 1 })).total,
    };
    store.close();
    say('retention measured');
  }

  console.log(JSON.stringify(result, null, 2));
  cluster.stop();
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
