/**
 * `npx tsx bench/probe.ts`: one checkout's portal, one figure, for finding where time and memory
 * go (not for the document: `npm run bench` measures side by side).
 *
 * PROBE_CHECKOUT (a built checkout; default this one), PROBE_MODE (`loop`: 500 POSTs then 1,000
 * to issued; `rss`: the portal's RSS idle on an empty namespace and holding PROBE_NAMESPACE's
 * requests; `apiserver`: the API server alone at the same concurrency; `floor`: the web server's
 * CPU and latency per call of a few routes, one client, loop off; `life`: three rounds of 1,000
 * requests to issued and emailed, CPU a request of each process from /proc and the API calls by
 * verb (with BENCH_AUDIT_SETTLE_SECONDS=300, a life without the audit acknowledgement's write); `paced`: PROBE_N requests at PROBE_RATE a second, each from its POST's answer to issued; `idle`: the loop's
 * process at rest on PROBE_NAMESPACE, CPU a second; `seed`: stores PROBE_STORED requests for them, ended, or with PROBE_SEED_STATE=issued live keys; `wide`: POSTs wider than the bench's 50, and each on a connection of its own, as load generators send them), PROBE_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`; given to the web server and, with PROBE_WORKER, to the worker too), PROBE_WORKER (1: the loop in
 * its own process, as the chart's worker Deployment runs it).
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { clusterUp, freshNamespace } from './cluster';
import { startStandIns } from './stand-ins';
import { drained, fewClients, pacedToIssued, postLoad, queueFirstPage, queueHolds, seed, toIssued } from './portal/scenarios';
import { type Portal, rssBytes, startPortal, stopPortal, tlsCount } from './portal/server';
import { call, pool, sessionCookie } from './portal/clients';
import { type CpuReading, clusterPids, cpuMs, cpuPerRequest, readCpu } from './proc-cpu';
import { summarize } from './stats';
import { type KubeConfig, PatchStrategy } from '@kubernetes/client-node';
import { newRequestId, rfc3339 } from '@/lib/domain/key-request';
import { rawCall } from '@/lib/kube/raw';
import { type SecretObject, encodeNewRequest } from '@/lib/store/secret-codec';

const checkout = path.resolve(process.env.PROBE_CHECKOUT ?? path.join(import.meta.dirname, '..'));
const mode = process.env.PROBE_MODE ?? 'loop';
const nodeArgs = process.env.PROBE_NODE_ARGS?.split(' ').filter(Boolean);
const say = (s: string) => process.stderr.write(`probe: ${s}\n`);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** A portal with its loop (in a worker with PROBE_WORKER=1), a test gateway and SMTP server, on a fresh namespace, for `run`. */
async function withLoopPortal(name: string, port: number, run: (portal: Portal, kc: KubeConfig, namespace: string) => Promise<void>, stored?: string): Promise<void> {
  const { kubeconfig, kc } = clusterUp();
  const work = mkdtempSync(path.join(tmpdir(), 'keyportal-probe-'));
  const { gateway, smtp, stop: stopStandIns } = await startStandIns();
  const namespace = stored ?? (await freshNamespace(kc, name));
  const portal = await startPortal({ checkout, name, port, namespace, kubeconfig, gatewayUrl: gateway.url, smtp: smtp.address, workDir: work, loop: true, worker: process.env.PROBE_WORKER === '1', nodeArgs });
  try {
    await run(portal, kc, namespace);
  } finally {
    await stopPortal(portal);
    await stopStandIns();
  }
}

async function loop(): Promise<void> {
  await withLoopPortal('probe', 3390, async (portal, kc, namespace) => {
    await postLoad(portal, 'warm', 20, 10);
    const tlsAtStart = tlsCount(portal);
    for (const [width, few] of Object.entries(await fewClients(portal, kc, namespace, 'probe'))) {
      say(`POST, ${width} at a time: p50 ${few.latency.p50.toFixed(0)} ms p99 ${few.latency.p99.toFixed(0)} ms, ${few.perSecond.toFixed(1)} req/s, ${few.failures} failed`);
    }
    const post = await postLoad(portal, 'post', 500, 50);
    say(`POST p50 ${post.latency.p50.toFixed(0)} ms p99 ${post.latency.p99.toFixed(0)} ms (on connections already open ${post.openConnections?.p99.toFixed(0) ?? '-'} ms), ${post.perSecond.toFixed(1)} req/s, ${post.failures} failed`);
    await drained(kc, namespace, 120_000);
    const issue = await toIssued(portal, kc, namespace, 'issue', 1000);
    say(`1,000 to issued: ${issue.wallSeconds.toFixed(1)} s (posting ${issue.postSeconds.toFixed(1)} s), ${issue.issued} issued, ${issue.secretCallsPerRequest.toFixed(1)} secret calls, ${issue.eventsPerRequest.toFixed(1)} events per request`);
    say(`RSS after: ${mib(rssBytes(portal))}; TLS connections opened after warm-up: ${tlsCount(portal) - tlsAtStart}`);
  });
}

/** Wider than the bench's 50 at a time, and without keep-alive: what other load generators send. */
async function wide(): Promise<void> {
  await withLoopPortal('wide', 3390, async (portal, kc, namespace) => {
    await postLoad(portal, 'warm', 20, 10);
    const loads: Array<[users: number, width: number, close: boolean]> = [[1000, 100, false], [1500, 250, false], [500, 50, true], [500, 50, true]];
    for (const [i, [users, width, close]] of loads.entries()) {
      const r = await postLoad(portal, `wide${i}`, users, width, close);
      say(`${users} POSTs ${width} at a time${close ? ', each on a new connection' : ''}: ${r.perSecond.toFixed(0)} req/s, p50 ${r.latency.p50.toFixed(0)} ms p99 ${r.latency.p99.toFixed(0)} ms (on connections already open ${r.openConnections?.p99.toFixed(0) ?? '-'} ms), answers ${JSON.stringify(r.statuses)}`);
      await drained(kc, namespace, 180_000);
    }
  });
}

async function rss(): Promise<void> {
  const { kubeconfig, kc } = clusterUp();
  const work = mkdtempSync(path.join(tmpdir(), 'keyportal-probe-'));
  const empty = await freshNamespace(kc, 'probe-empty');
  const stored = process.env.PROBE_NAMESPACE;
  const n = Number(process.env.PROBE_STORED ?? 100_000);
  for (const [i, namespace] of [empty, stored].entries()) {
    if (!namespace) continue;
    const p = await startPortal({ checkout, name: `rss${i}`, port: 3391 + i, namespace, kubeconfig, gatewayUrl: 'http://127.0.0.1:9', smtp: { host: '127.0.0.1', port: 9 }, workDir: work, loop: false, nodeArgs });
    try {
      say(`${namespace}: RSS at ready ${mib(rssBytes(p))}`);
      if (namespace !== empty) await queueHolds(p, n);
      const q = await queueFirstPage(p, namespace === empty ? 0 : n);
      say(`${namespace}: queue API ${q.apiMs.toFixed(0)} ms, page ${q.pageMs.toFixed(0)} ms, RSS after the queue ${mib(q.rss)}`);
    } finally {
      await stopPortal(p);
    }
  }
}

/**
 * The floor: the API server alone, creating request Secrets from 50 kept-alive clients at once
 * (as the portal's POST does, minus the portal), then the two merge patches and three Events a
 * request costs in the loop, from 16 at once.
 */
async function apiserver(): Promise<void> {
  const { kc } = clusterUp();
  const ns = await freshNamespace(kc, 'probe-api');
  const path = `/api/v1/namespaces/${ns}`;
  const n = Number(process.env.PROBE_N ?? 2000);
  // Latency against concurrency first: where it stops buying throughput is the server's ceiling.
  for (const width of [1, 4, 16, 50]) await creates(kc, path, width === 1 ? 200 : 600, width, `c${width}`);
  const created = await creates(kc, path, n, 50, 'api');
  const t1 = performance.now();
  await pool(created, 16, async (s) => {
    let rv = s.metadata.resourceVersion;
    for (const state of ['approved', 'issued']) {
      const body = { metadata: { resourceVersion: rv, labels: { 'keyportal.dev/state': state }, annotations: { 'keyportal.dev/notified': String(Math.random()) } } };
      const r = await rawCall<SecretObject>(kc, { method: 'PATCH', path: `${path}/secrets/${s.metadata.name}`, body, contentType: PatchStrategy.MergePatch });
      rv = r.metadata.resourceVersion;
    }
    for (const reason of ['Approved', 'KeyMinted', 'EmailSent']) {
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      await rawCall(kc, { method: 'POST', path: `${path}/events`, body: { metadata: { generateName: `${s.metadata.name}.` }, involvedObject: { kind: 'Secret', name: s.metadata.name, namespace: ns }, reason, message: 'probe', type: 'Normal', firstTimestamp: now, lastTimestamp: now, count: 1 } });
    }
  });
  const loopWall = (performance.now() - t1) / 1000;
  say(`API server alone, the loop's 2 patches + 3 Events for ${n} requests, 16 at a time: ${loopWall.toFixed(1)} s, ${(n / loopWall).toFixed(0)} requests/s`);
}

/** `count` request Secrets created `width` at a time, timed and reported; the created objects. */
async function creates(kc: KubeConfig, path: string, count: number, width: number, tag: string): Promise<SecretObject[]> {
  const start = performance.now();
  const done = await pool(Array.from({ length: count }, (_, i) => i), width, async (i) => {
    const t = performance.now();
    const body = encodeNewRequest({ id: newRequestId(), email: `${tag}-${i}@bench.example.com`, model: 'gpt-4o', createdAt: rfc3339(new Date()) });
    const secret = await rawCall<SecretObject>(kc, { method: 'POST', path: `${path}/secrets`, body });
    return { ms: performance.now() - t, secret };
  });
  const l = summarize(done.map((d) => d.ms));
  say(`API server alone, ${count} Secret creates ${width} at a time: p50 ${l.p50.toFixed(0)} ms p99 ${l.p99.toFixed(0)} ms, ${(count / ((performance.now() - start) / 1000)).toFixed(0)}/s`);
  return done.map((d) => d.secret);
}

/**
 * What a route costs the web server before and around our code: one client at a time, the loop
 * off, PROBE_N calls per route after 20 to warm up; CPU from /proc per call. healthz is Next's own
 * floor (the handler returns a constant). With PROBE_NAMESPACE (a namespace `seed` filled), the
 * same on a store that already holds that many requests; with PROBE_FIRST too, by people who
 * already have requests there.
 */
async function floor(): Promise<void> {
  const { kubeconfig, kc } = clusterUp();
  const work = mkdtempSync(path.join(tmpdir(), 'keyportal-probe-'));
  const namespace = process.env.PROBE_NAMESPACE ?? (await freshNamespace(kc, 'probe-floor'));
  const n = Number(process.env.PROBE_N ?? 1000);
  const p = await startPortal({ checkout, name: 'floor', port: 3393, namespace, kubeconfig, gatewayUrl: 'http://127.0.0.1:9', smtp: { host: '127.0.0.1', port: 9 }, workDir: work, loop: false, nodeArgs });
  try {
    // One person per POST: a second request for the same model would be a 409.
    // New people, or with PROBE_FIRST (on a seeded namespace) people who come back: each of
    // `seed`'s 20,000 requesters holds five ended requests. A run leaves its POSTs pending, so the
    // next run on the same namespace starts past them (PROBE_FIRST += PROBE_N + 20).
    const first = process.env.PROBE_FIRST;
    const who = first === undefined ? (i: number) => `f${i}-${Date.now().toString(36)}` : (i: number) => `old${Number(first) + i}`;
    const cookies = await Promise.all(Array.from({ length: n + 20 }, (_, i) => sessionCookie(p, `${who(i)}@bench.example.com`)));
    const routes: Array<[string, (i: number) => ReturnType<typeof call>]> = [
      ['GET /api/healthz', () => call(p, 'GET', '/api/healthz', '')],
      ['GET /api/models', (i) => call(p, 'GET', '/api/models', cookies[i] as string)],
      ['POST /api/requests', (i) => call(p, 'POST', '/api/requests', cookies[i] as string, { model: 'gpt-4o' })],
    ];
    for (const [name, fn] of routes) {
      for (let i = 0; i < 20; i++) await fn(n + i);
      const cpu0 = cpuMs(p.child.pid);
      const ms: number[] = [];
      let failed = 0;
      for (let i = 0; i < n; i++) {
        const r = await fn(i);
        ms.push(r.ms);
        if (r.status >= 300) failed++;
      }
      const l = summarize(ms);
      say(`${name}: p50 ${l.p50.toFixed(2)} ms p99 ${l.p99.toFixed(2)} ms, web server CPU ${((cpuMs(p.child.pid) - cpu0) / n).toFixed(2)} ms a call, ${failed} failed`);
    }
  } finally {
    await stopPortal(p);
  }
}

/**
 * What a whole life costs each process: creation to issued and emailed, 1,000 at a time, three
 * rounds after a warm-up. With PROBE_NAMESPACE (a namespace `seed` filled with ended requests), on
 * a store that already holds them (the API server's figure then includes the bench's own polls).
 */
/** `portal 4.21`, … : CPU ms a request of each process between two readings, as the probe prints it. */
const cpuWords = (before: CpuReading, after: CpuReading, requests: number): string[] => Object.entries(cpuPerRequest(before, after, requests)).map(([name, ms]) => `${name} ${ms.toFixed(2)}`);

async function life(): Promise<void> {
  const stored = process.env.PROBE_NAMESPACE;
  await withLoopPortal('probe-life', 3394, async (portal, kc, namespace) => {
    const pids = { portal: portal.child.pid, worker: portal.worker?.pid, ...clusterPids() };
    // Tags of this run's own: a second run on the same seeded namespace meets none of the first's people.
    const run = Date.now().toString(36);
    await postLoad(portal, `warm${run}`, 50, 10);
    // `seed`'s requests are denied and told: only the rest can be busy.
    await drained(kc, namespace, 60_000, stored ? 'keyportal.dev/state!=denied' : '');
    for (let round = 1; round <= 3; round++) {
      const before = readCpu(pids);
      const own = process.cpuUsage();
      const f = await toIssued(portal, kc, namespace, `life${round}${run}`, 1000);
      const after = readCpu(pids);
      const ownMs = (({ user, system }) => (user + system) / 1000)(process.cpuUsage(own));
      // The bench's own (its 50 clients, the gateway and SMTP doubles, its watch): on the same cores.
      const cpu = [...cpuWords(before, after, f.requests), `bench ${(ownMs / f.requests).toFixed(2)}`].join(', ');
      const calls = Object.entries(f.secretCallsByVerb).map(([verb, n]) => `${n.toFixed(1)} ${verb}`).join(' + ');
      say(`life, round ${round}: ${f.issued} issued in ${f.wallSeconds.toFixed(1)} s; CPU ms a request: ${cpu}; Secret calls a request: ${calls}; ${f.eventsPerRequest.toFixed(1)} Events`);
    }
  }, stored);
}

/**
 * A quiet portal: PROBE_N (200) requests at PROBE_RATE a second (10), each timed from its POST's
 * answer to `issued` (minted, emailed, written), after 30 to warm up; CPU a request of each process.
 */
async function paced(): Promise<void> {
  await withLoopPortal('probe-paced', 3396, async (portal, kc, namespace) => {
    const pids = { portal: portal.child.pid, worker: portal.worker?.pid, ...clusterPids() };
    const n = Number(process.env.PROBE_N ?? 200);
    const rate = Number(process.env.PROBE_RATE ?? 10);
    await pacedToIssued(portal, kc, namespace, 'warm', 30, rate);
    const before = readCpu(pids);
    const wait = await pacedToIssued(portal, kc, namespace, 'paced', n, rate);
    const after = readCpu(pids);
    const cpu = cpuWords(before, after, n).join(', ');
    say(`${n} at ${rate} a second: POST p50 ${wait.post.p50.toFixed(1)} ms p99 ${wait.post.p99.toFixed(1)} ms; POST answer to issued p50 ${wait.p50.toFixed(1)} ms p99 ${wait.p99.toFixed(1)} ms; CPU ms a request: ${cpu}`);
  });
}

/**
 * The loop's process at rest: CPU a second over three minutes (after 30 s to settle) on
 * PROBE_NAMESPACE's stored requests, or on an empty namespace; nothing is asked of it.
 */
async function idle(): Promise<void> {
  const { kubeconfig, kc } = clusterUp();
  const work = mkdtempSync(path.join(tmpdir(), 'keyportal-probe-'));
  const namespace = process.env.PROBE_NAMESPACE ?? (await freshNamespace(kc, 'probe-idle'));
  const p = await startPortal({ checkout, name: 'idle', port: 3395, namespace, kubeconfig, gatewayUrl: 'http://127.0.0.1:9', smtp: { host: '127.0.0.1', port: 9 }, workDir: work, loop: true, worker: process.env.PROBE_WORKER === '1', nodeArgs });
  try {
    const pid = p.worker?.pid ?? p.child.pid;
    await sleep(30_000);
    for (let minute = 1; minute <= 3; minute++) {
      const cpu0 = cpuMs(pid);
      const t0 = performance.now();
      await sleep(60_000);
      say(`idle on ${namespace}, minute ${minute}: the loop's process ${((cpuMs(pid) - cpu0) / ((performance.now() - t0) / 1000)).toFixed(1)} ms of CPU a second`);
    }
  } finally {
    await stopPortal(p);
  }
}

/** Stores PROBE_STORED ended requests in a fresh namespace and prints its name (for `rss`). */
async function seedOnly(): Promise<void> {
  const { kc } = clusterUp();
  const namespace = await freshNamespace(kc, 'probe-stored');
  await seed(kc, namespace, Number(process.env.PROBE_STORED ?? 100_000));
  process.stdout.write(`${namespace}\n`);
}

(mode === 'rss' ? rss() : mode === 'seed' ? seedOnly() : mode === 'idle' ? idle() : mode === 'apiserver' ? apiserver() : mode === 'floor' ? floor() : mode === 'life' ? life() : mode === 'paced' ? paced() : mode === 'wide' ? wide() : loop()).catch((err: unknown) => {
  process.stderr.write(`probe: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
