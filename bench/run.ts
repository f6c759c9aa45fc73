/**
 * `npm run bench`: how long a user waits for a key. On the real test cluster (tests/cluster),
 * the LiteLLM-compatible test gateway and a real SMTP server, all on 127.0.0.1, it times each
 * request from `store.create` returning to (1) the Secret being `issued`, seen through a watch,
 * and (2) the email being received by the SMTP server; for three loop variants side by side,
 * repeated and interleaved. Prints a Markdown report and writes it to docs/BENCHMARKS.md.
 *
 * Environment: KEYPORTAL_CLUSTER_DIR (as the tests: default .cluster in the checkout),
 * BENCH_REQUESTS (200), BENCH_REPS (3), BENCH_RATE (paced requests a second, 10),
 * BENCH_BURST (0; 1 adds burst runs), BENCH_WRITE (1; 0 leaves docs/BENCHMARKS.md alone),
 * BENCH_ONLY (variants to run, "abc").
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CoreV1Api, KubeConfig, type V1Secret, makeInformer } from '@kubernetes/client-node';
import { type Config, parseConfig } from '@/lib/config/load';
import { buildLoop } from '@/lib/loop/wiring';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { LABEL, REQUEST_SELECTOR } from '@/lib/store/secret-codec';
import type { Page, PageOptions, WatchEvent } from '@/lib/store/types';
import { checkPluginEntry } from '@/plugins';
import { MASTER_KEY, TEST_MODELS, TEST_PLUGINS } from '@/tests/helpers/portal';
import { TestGateway } from '@/tests/servers/litellm';
import { type ReceivedMail, TestSmtp } from '@/tests/servers/smtp';
import { type Summary, fmtMiB, fmtMs, fmtRatio, median, medianSummary, summarize } from './stats';

const repo = path.resolve(import.meta.dirname, '..');
const stateDir = process.env.KEYPORTAL_CLUSTER_DIR ?? path.join(repo, '.cluster');
const REQUESTS = intEnv('BENCH_REQUESTS', 200, 1, 1000);
const REPS = intEnv('BENCH_REPS', 3, 1, 5);
const BURST = process.env.BENCH_BURST === '1';
const WRITE = process.env.BENCH_WRITE !== '0';
/** For trying the bench out: only these variants (e.g. "ab"). */
const ONLY = process.env.BENCH_ONLY ?? 'abc';
/** Paced arrivals for the watch-triggered variants, requests a second. */
const PACED_PER_SECOND = intEnv('BENCH_RATE', 10, 1, 200);
/** The original design's resync interval. */
const POLL_SECONDS = 30;
/** No run may take longer than this; a run that does is reported as incomplete. */
const RUN_TIMEOUT_MS = 75_000;
/** A run that would end after the bench has run this long is skipped (and reported so). */
const BUDGET_MS = 245_000;
const MODELS = ['gpt-4o', 'anthropic/claude-3'];

function intEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  return n;
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Variants and arrival patterns

interface Variant {
  key: 'a' | 'b' | 'c';
  label: string;
  concurrency: number;
  resyncSeconds: number;
  watch: boolean;
}

const VARIANTS: Record<Variant['key'], Variant> = {
  a: { key: 'a', label: '(a) as shipped: watch, concurrency 4', concurrency: 4, resyncSeconds: 60, watch: true },
  b: { key: 'b', label: '(b) watch, concurrency 1', concurrency: 1, resyncSeconds: 60, watch: true },
  c: { key: 'c', label: `(c) no watch, resync every ${POLL_SECONDS} s, concurrency 4`, concurrency: 4, resyncSeconds: POLL_SECONDS, watch: false },
};

type Pattern = 'paced' | 'burst';

/**
 * Milliseconds between two creations, as planned (the polling variant's is fixed at run time, see
 * runOnce). Paced: PACED_PER_SECOND for the watch-triggered loops; the polling loop gets its
 * requests spread evenly over one resync period instead, so that their arrival times fall across
 * the whole poll cycle, as they would in steady use. Burst: all at once.
 */
function intervalMs(v: Variant, pattern: Pattern): number {
  if (pattern === 'burst') return 0;
  return v.watch ? 1000 / PACED_PER_SECOND : (v.resyncSeconds * 1000) / REQUESTS;
}

/**
 * The original design's loop: no watch, only the periodic resync. The loop has no switch for
 * that, so the store it is given never reports a change; everything else (Lease, Events, the
 * reconciler, the work queue) is the shipped code, since buildLoop still sees a Kubernetes store.
 * It notes when each resync starts, so the bench knows the poll's phase.
 */
class ResyncOnlyStore extends KubernetesSecretStore {
  readonly resyncs: number[] = [];

  override async watch(_onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  override listAll(page?: PageOptions): Promise<Page> {
    if (!page?.continue) this.resyncs.push(now());
    return super.listAll(page);
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster, as tests/setup/cluster.ts handles it: reuse a running one, stop only our own.

interface Cluster {
  kubeconfig: string;
  startedHere: boolean;
}

function clusterUp(): Cluster {
  const startedHere = !existsSync(path.join(stateDir, 'kubeconfig'));
  const out = execFileSync('bash', [path.join(repo, 'tests/cluster/up.sh')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const kubeconfig = out.trim().split('\n').pop() ?? '';
  if (!existsSync(kubeconfig)) throw new Error(`cluster:up printed no kubeconfig path (got "${kubeconfig}")`);
  return { kubeconfig, startedHere };
}

/** Set once this process has started the cluster; cleared once it has stopped it again. */
let ownCluster = false;

/** Stops the cluster only if this bench started it (a cluster someone else runs is left alone). */
function stopOwnCluster(): void {
  if (!ownCluster) return;
  ownCluster = false;
  execFileSync('bash', [path.join(repo, 'tests/cluster/down.sh')], { stdio: 'inherit' });
}

/** Resident set size of a process cluster:up started (by its pid file), in bytes. */
function clusterRss(name: 'kube-apiserver' | 'etcd'): number {
  try {
    const pid = readFileSync(path.join(stateDir, `${name}.pid`), 'utf8').split(' ')[0];
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The API server's own request counters (`apiserver_request_total`), summed by "resource verb". */
async function apiRequestCounts(kc: KubeConfig): Promise<Map<string, number>> {
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
    const key = `${resource} ${verb}`;
    counts.set(key, (counts.get(key) ?? 0) + value);
  }
  return counts;
}

function diffCounts(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What one API call costs: the store's GET (as the loop makes it) against the same GET over one
// kept-alive connection, with the TLS connections each opens counted.

interface CallCost {
  calls: number;
  store: { ms: number; cpuMs: number; tlsPerCall: number };
  keepAlive: { ms: number; cpuMs: number; tlsPerCall: number };
}

async function callCost(kc: KubeConfig, kubeconfig: string): Promise<CallCost> {
  const calls = 100;
  const namespace = `bench-calls-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  const store = new KubernetesSecretStore({ namespace, kubeconfigPath: kubeconfig });
  const { request } = await store.create({ email: 'calls@bench.example.com', model: 'gpt-4o' });
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const agent = new https.Agent({ keepAlive: true, ca: options.ca });
  const url = `${kc.getCurrentCluster()?.server}/api/v1/namespaces/${namespace}/secrets/keyreq-${request.id}`;
  const rawGet = () =>
    new Promise<void>((resolve, reject) => {
      https
        .get(url, { agent, headers: options.headers }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`GET answered ${res.statusCode}`))));
        })
        .on('error', reject);
    });
  const connect = tls.connect;
  let connections = 0;
  tls.connect = ((...args: Parameters<typeof tls.connect>) => {
    connections++;
    return connect(...args);
  }) as typeof tls.connect;
  const measure = async (fn: () => Promise<unknown>) => {
    await fn(); // a first call outside the measurement
    const times: number[] = [];
    connections = 0;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) {
      const t = now();
      await fn();
      times.push(now() - t);
    }
    const cpu = process.cpuUsage(cpu0);
    return { ms: median(times), cpuMs: (cpu.user + cpu.system) / 1000 / calls, tlsPerCall: connections / calls };
  };
  try {
    return { calls, store: await measure(() => store.get(request.id)), keepAlive: await measure(rawGet) };
  } finally {
    tls.connect = connect;
    agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The loop's log: info lines are dropped, warnings counted by message (shown per run).

const warnings = new Map<string, number>();
function captureLoopLog(): void {
  const take = (original: (...args: unknown[]) => void) => (...args: unknown[]) => {
    const first = args[0];
    if (args.length === 1 && typeof first === 'string' && first.startsWith('{"time"')) {
      try {
        const line = JSON.parse(first) as { level?: string; msg?: string };
        if (line.level !== 'info') warnings.set(line.msg ?? '?', (warnings.get(line.msg ?? '?') ?? 0) + 1);
        return;
      } catch {
        // not one of ours: print it
      }
    }
    original(...args);
  };
  console.log = take(console.log.bind(console));
  console.error = take(console.error.bind(console));
}

const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

// ---------------------------------------------------------------------------------------------
// One run: a fresh namespace, gateway and SMTP server; one warm-up request; then REQUESTS timed.

interface RunResult {
  variant: Variant['key'];
  pattern: Pattern;
  rep: number;
  namespace: string;
  /** Requests created a second (Infinity for a burst). */
  offeredRate: number;
  /** Polling only: how many requests one poll picked up, and how fast they were then done. */
  drain?: { pickedUp: number; perSecond: number };
  issued: Summary;
  email: Summary;
  /** Per request, from `issued` seen to the email received. */
  issuedToEmail: Summary;
  /** Completed (issued and emailed) requests per second, from the first creation to the last email. */
  throughput: number;
  completed: number;
  keysMinted: number;
  emails: number;
  /** Secrets API calls per request (creation included), and Events written per request. */
  secretCallsPerRequest: number;
  secretCallsByVerb: string;
  secretCallsPerVerb: Record<string, number>;
  eventsPerRequest: number;
  /** Bench-process CPU (loop, gateway, SMTP, watch, creation together) per request. */
  cpuMsPerRequest: number;
  rssAfter: number;
  warnings: number;
  wallMs: number;
}

function benchConfig(v: Variant, namespace: string, kubeconfig: string, gatewayUrl: string, smtp: { host: string; port: number }): Config {
  return parseConfig(
    {
      portal: { publicUrl: 'http://portal.test:3000' },
      models: TEST_MODELS,
      approvals: {
        default: 'review',
        notify: ['approvers@example.com'],
        plugins: TEST_PLUGINS,
      },
      gateway: { type: 'litellm', baseUrl: gatewayUrl, publicUrl: 'https://llm.example.com' },
      mail: { from: 'Keyportal <keys@example.com>', keyDelivery: 'email', smtp: { host: smtp.host, port: smtp.port, security: 'none' } },
      store: { type: 'kubernetes', namespace, kubeconfig },
      // Everything else (Lease, retry, claims) as shipped.
      loop: { concurrency: v.concurrency, resyncSeconds: v.resyncSeconds },
    },
    { source: 'bench', env: { GATEWAY_MASTER_KEY: MASTER_KEY }, checkPlugin: checkPluginEntry },
  );
}

/** Records when each Secret is first seen `issued`, through a watch of its own. */
async function watchIssued(kc: KubeConfig, namespace: string, seen: Map<string, number>): Promise<() => Promise<void>> {
  const api = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1Secret>(
    kc,
    `/api/v1/namespaces/${namespace}/secrets`,
    () => api.listNamespacedSecret({ namespace, labelSelector: REQUEST_SELECTOR }),
    REQUEST_SELECTOR,
  );
  const look = (s: V1Secret) => {
    const id = s.metadata?.name?.replace(/^keyreq-/, '');
    if (id && s.metadata?.labels?.[LABEL.state] === 'issued' && !seen.has(id)) seen.set(id, now());
  };
  informer.on('add', look);
  informer.on('update', look);
  let stopped = false;
  informer.on('error', () => {
    if (!stopped) setTimeout(() => void informer.start().catch(() => undefined), 200);
  });
  await informer.start();
  return async () => {
    stopped = true;
    await informer.stop().catch(() => undefined);
  };
}

/** Records when the SMTP server has received (and parsed) the first message to each address. */
function timeDeliveries(smtp: TestSmtp, at: Map<string, number>): void {
  const push = smtp.messages.push.bind(smtp.messages);
  smtp.messages.push = (...items: ReceivedMail[]) => {
    const t = now();
    for (const m of items) for (const to of m.to) if (!at.has(to)) at.set(to, t);
    return push(...items);
  };
}

async function until(check: () => boolean, timeoutMs: number, everyMs = 10): Promise<boolean> {
  const deadline = now() + timeoutMs;
  while (!check()) {
    if (now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

async function runOnce(kc: KubeConfig, cluster: Cluster, v: Variant, pattern: Pattern, rep: number): Promise<RunResult> {
  const started = now();
  const tag = randomBytes(3).toString('hex');
  const namespace = `bench-${v.key}-${pattern}-${rep}-${tag}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  const gateway = new TestGateway(MASTER_KEY);
  await gateway.start();
  const smtp = new TestSmtp();
  await smtp.start();
  const emailAt = new Map<string, number>();
  timeDeliveries(smtp, emailAt);
  const issuedAt = new Map<string, number>();
  const stopWatching = await watchIssued(kc, namespace, issuedAt);

  const config = benchConfig(v, namespace, cluster.kubeconfig, gateway.url, smtp.address);
  const portal = new KubernetesSecretStore({ namespace, kubeconfigPath: cluster.kubeconfig });
  const loopStore = v.watch
    ? new KubernetesSecretStore({ namespace, kubeconfigPath: cluster.kubeconfig })
    : new ResyncOnlyStore({ namespace, kubeconfigPath: cluster.kubeconfig });
  const { loop } = buildLoop(config, loopStore, {});
  const warningsBefore = [...warnings.values()].reduce((a, b) => a + b, 0);

  try {
    // Warm-up (not timed): created before the loop starts, so even the polling loop's first
    // resync takes it; it also waits out the Lease and opens the connections.
    const warmEmail = `warmup-${tag}@bench.example.com`;
    const warm = (await portal.create({ email: warmEmail, model: 'gpt-4o-mini' })).request;
    loop.start();
    if (!(await until(() => issuedAt.has(warm.id) && emailAt.has(warmEmail), 30_000))) throw new Error(`the warm-up request in ${namespace} was not issued and emailed within 30 s`);

    let gap = intervalMs(v, pattern);
    if (loopStore instanceof ResyncOnlyStore && pattern === 'paced') {
      // From now until just before the next poll: every arrival then waits for that poll, and
      // the arrivals cover the poll cycle's phases evenly.
      const lastPoll = loopStore.resyncs.at(-1) ?? now();
      gap = Math.max(0, lastPoll + v.resyncSeconds * 1000 - 750 - now()) / REQUESTS;
    }
    const apiBefore = await apiRequestCounts(kc);
    const cpuBefore = process.cpuUsage();
    const t0 = now();
    const created: Array<Promise<{ id: string; email: string; at: number; created: boolean }>> = [];
    for (let i = 0; i < REQUESTS; i++) {
      const due = t0 + i * gap;
      const wait = due - now();
      if (wait > 1) await sleep(wait);
      const email = `u${i}-${tag}@bench.example.com`;
      created.push(portal.create({ email, model: MODELS[i % MODELS.length] as string }).then((r) => ({ id: r.request.id, email, at: now(), created: r.created })));
    }
    const requests = await Promise.all(created);
    const complete = () => requests.every((r) => issuedAt.has(r.id) && emailAt.has(r.email));
    await until(complete, Math.max(1000, RUN_TIMEOUT_MS - (now() - started)), 20);
    const cpu = process.cpuUsage(cpuBefore);
    const api = diffCounts(apiBefore, await apiRequestCounts(kc));

    const issued: number[] = [];
    const email: number[] = [];
    const gaps: number[] = [];
    let completed = 0;
    let last = t0;
    for (const r of requests) {
      const i = issuedAt.get(r.id);
      const e = emailAt.get(r.email);
      if (i !== undefined) issued.push(i - r.at);
      if (e !== undefined) email.push(e - r.at);
      if (i !== undefined && e !== undefined) {
        gaps.push(e - i);
        completed++;
        last = Math.max(last, e);
      }
    }
    let drain: RunResult['drain'];
    if (loopStore instanceof ResyncOnlyStore) {
      const lastCreated = Math.max(...requests.map((r) => r.at));
      const poll = loopStore.resyncs.find((t) => t >= lastCreated);
      if (poll !== undefined) {
        const pickedUp = requests.filter((r) => r.at <= poll && (emailAt.get(r.email) ?? 0) >= poll);
        const end = Math.max(...pickedUp.map((r) => emailAt.get(r.email) ?? poll));
        if (pickedUp.length && end > poll) drain = { pickedUp: pickedUp.length, perSecond: pickedUp.length / ((end - poll) / 1000) };
      }
    }
    const secretCalls = [...api].filter(([k]) => k.startsWith('secrets ')).sort((x, y) => y[1] - x[1]);
    const secretTotal = secretCalls.reduce((s, [, n]) => s + n, 0);
    const events = [...api].filter(([k]) => k.startsWith('events ')).reduce((s, [, n]) => s + n, 0);
    return {
      variant: v.key,
      pattern,
      rep,
      namespace,
      offeredRate: gap > 0 ? 1000 / gap : Number.POSITIVE_INFINITY,
      drain,
      issued: summarize(issued),
      email: summarize(email),
      issuedToEmail: summarize(gaps),
      throughput: completed / ((last - t0) / 1000),
      completed,
      keysMinted: gateway.keys.size - 1,
      emails: smtp.messages.length - 1,
      secretCallsPerRequest: secretTotal / REQUESTS,
      secretCallsByVerb: secretCalls.map(([k, n]) => `${k.split(' ')[1]} ${(n / REQUESTS).toFixed(1)}`).join(', '),
      secretCallsPerVerb: Object.fromEntries(secretCalls.map(([k, n]) => [k.split(' ')[1] ?? k, n / REQUESTS])),
      eventsPerRequest: events / REQUESTS,
      cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / REQUESTS,
      rssAfter: process.memoryUsage().rss,
      warnings: [...warnings.values()].reduce((a, b) => a + b, 0) - warningsBefore,
      wallMs: now() - started,
    };
  } finally {
    await loop.stop();
    await stopWatching();
    await gateway.stop();
    await smtp.stop();
    // The namespace stays: with no controller-manager it would never finish terminating; the
    // cluster's data goes at cluster:down (as in the tests).
  }
}

/**
 * Interleaved: a, b, a, c, b, a for BENCH_REPS=3. (a) is cheap and runs REPS times. (b) cannot
 * keep up with the paced rate, so a run of it takes about twice as long: it runs REPS-1 times.
 * (c) costs a poll period plus the drain of one poll's worth of requests: it runs once.
 */
function plan(): Array<[Variant['key'], Pattern, number]> {
  const out: Array<[Variant['key'], Pattern, number]> = [];
  const repsB = Math.max(1, REPS - 1);
  for (let rep = 1; rep <= REPS; rep++) {
    out.push(['a', 'paced', rep]);
    if (rep === Math.min(2, REPS)) out.push(['c', 'paced', 1]);
    if (rep <= repsB) out.push(['b', 'paced', rep]);
  }
  if (BURST) for (let rep = 1; rep <= repsB; rep++) out.push(['a', 'burst', rep], ['b', 'burst', rep]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The report

interface Aggregate {
  variant: Variant;
  pattern: Pattern;
  runs: RunResult[];
  issued: Summary;
  email: Summary;
  issuedToEmail: Summary;
  throughput: number;
  secretCalls: number;
  events: number;
  cpuMs: number;
}

function aggregate(results: RunResult[]): Aggregate[] {
  const out: Aggregate[] = [];
  for (const pattern of ['paced', 'burst'] as const) {
    for (const v of Object.values(VARIANTS)) {
      const runs = results.filter((r) => r.variant === v.key && r.pattern === pattern);
      if (runs.length === 0) continue;
      out.push({
        variant: v,
        pattern,
        runs,
        issued: medianSummary(runs.map((r) => r.issued)),
        email: medianSummary(runs.map((r) => r.email)),
        issuedToEmail: medianSummary(runs.map((r) => r.issuedToEmail)),
        throughput: median(runs.map((r) => r.throughput)),
        secretCalls: median(runs.map((r) => r.secretCallsPerRequest)),
        events: median(runs.map((r) => r.eventsPerRequest)),
        cpuMs: median(runs.map((r) => r.cpuMsPerRequest)),
      });
    }
  }
  return out;
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

function arrivals(runs: readonly RunResult[]): string {
  const rate = median(runs.map((r) => r.offeredRate));
  if (!Number.isFinite(rate)) return `${REQUESTS} at once`;
  return `${REQUESTS} at ${Number.isInteger(rate) ? rate : rate.toFixed(1)}/s`;
}

function resultTable(aggs: Aggregate[]): string {
  const rows = [
    '| variant | arrivals | runs | to | p50 | p90 | p99 | max | throughput | secrets API calls / req |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const a of aggs) {
    const incomplete = a.runs.filter((r) => r.completed < REQUESTS).length;
    const runs = `${a.runs.length}${incomplete ? ` (${incomplete} incomplete)` : ''}`;
    for (const [to, s] of [['issued', a.issued], ['email', a.email]] as const) {
      rows.push(
        `| ${to === 'issued' ? a.variant.label : ''} | ${to === 'issued' ? arrivals(a.runs) : ''} | ${to === 'issued' ? runs : ''} | ${to} | ${fmtMs(s.p50)} | ${fmtMs(s.p90)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} | ${
          to === 'issued' ? `${a.throughput.toFixed(1)} req/s` : ''
        } | ${to === 'issued' ? a.secretCalls.toFixed(1) : ''} |`,
      );
    }
  }
  return rows.join('\n');
}

function ratioTable(aggs: Aggregate[]): string {
  const rows = ['| ratio | arrivals | issued p50 | issued p99 | email p50 | email p99 | throughput |', '|---|---|---:|---:|---:|---:|---:|'];
  for (const pattern of ['paced', 'burst'] as const) {
    const base = aggs.find((a) => a.pattern === pattern && a.variant.key === 'a');
    if (!base) continue;
    for (const other of aggs.filter((a) => a.pattern === pattern && a.variant.key !== 'a')) {
      rows.push(
        `| ${other.variant.key} / a | ${pattern} | ${fmtRatio(other.issued.p50 / base.issued.p50)} | ${fmtRatio(other.issued.p99 / base.issued.p99)} | ${fmtRatio(other.email.p50 / base.email.p50)} | ${fmtRatio(
          other.email.p99 / base.email.p99,
        )} | ${fmtRatio(other.throughput / base.throughput)} |`,
      );
    }
  }
  return rows.join('\n');
}

function runsTable(results: RunResult[]): string {
  const rows = [
    '| # | variant | arrivals | issued p50 / p99 / max | email p50 / p99 / max | done | keys | emails | req/s | secrets calls / req (by verb) | events / req | CPU ms / req | wall |',
    '|---|---|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|',
  ];
  results.forEach((r, i) => {
    rows.push(
      `| ${i + 1} | ${r.variant} | ${arrivals([r])} | ${fmtMs(r.issued.p50)} / ${fmtMs(r.issued.p99)} / ${fmtMs(r.issued.max)} | ${fmtMs(r.email.p50)} / ${fmtMs(r.email.p99)} / ${fmtMs(
        r.email.max,
      )} | ${r.completed} | ${r.keysMinted} | ${r.emails} | ${r.throughput.toFixed(1)} | ${r.secretCallsPerRequest.toFixed(1)} (${r.secretCallsByVerb}) | ${r.eventsPerRequest.toFixed(1)} | ${r.cpuMsPerRequest.toFixed(1)} | ${fmtMs(r.wallMs)} |`,
    );
  });
  return rows.join('\n');
}

function interpretation(aggs: Aggregate[], results: RunResult[], cost: CallCost | undefined): string[] {
  const get = (k: Variant['key'], p: Pattern) => aggs.find((x) => x.variant.key === k && x.pattern === p);
  const a = get('a', 'paced');
  const b = get('b', 'paced');
  const c = get('c', 'paced');
  const ab = get('a', 'burst');
  const bb = get('b', 'burst');
  const out: string[] = [];
  if (a) {
    const ok = a.issued.p99 < 1000;
    out.push(
      `- **Target, p99 creation→issued under 1 s:** ${ok ? '**met**' : '**not met**'} as shipped at ${PACED_PER_SECOND} requests/s: p50 ${fmtMs(a.issued.p50)}, p99 ${fmtMs(a.issued.p99)}, max ${fmtMs(a.issued.max)}. The email arrives ${fmtMs(a.issuedToEmail.p50)} after \`issued\` at the median (p99 ${fmtMs(a.issuedToEmail.p99)}; p99 creation→email ${fmtMs(a.email.p99)}): after \`issued\` the loop records an Event, reads the Secret again for the key, renders the message and opens a new SMTP connection for it (\`SmtpMailer\` does not pool connections), and the test SMTP server (npm smtp-server) waits 100 ms before its greeting to catch early talkers.`,
    );
  }
  if (a && c) {
    const drain = median(c.runs.map((r) => r.drain?.perSecond ?? Number.NaN));
    const picked = median(c.runs.map((r) => r.drain?.pickedUp ?? Number.NaN));
    out.push(
      `- **Watch vs. the original design (poll every ${POLL_SECONDS} s):** to issued p50 ${fmtMs(c.issued.p50)} and p99 ${fmtMs(c.issued.p99)}, i.e. ${fmtRatio(c.issued.p50 / a.issued.p50)} and ${fmtRatio(c.issued.p99 / a.issued.p99)} the shipped loop (to email ${fmtRatio(c.email.p50 / a.email.p50)} and ${fmtRatio(c.email.p99 / a.email.p99)}). A request first waits for the next poll (0 to ${POLL_SECONDS} s), then for its place in the batch that poll picked up${
        Number.isFinite(drain) ? ` (here one poll found ${picked} requests, and the 4 workers got through them at ${drain.toFixed(1)} req/s)` : ''
      }: with polling the worst case is the interval plus a whole batch, while the watch hands each request to a worker as it arrives.`,
    );
  }
  if (a && b) {
    const keepsUp = b.throughput >= PACED_PER_SECOND * 0.9;
    out.push(
      `- **Concurrency 1 vs 4, same arrivals:** issued p50 ${fmtRatio(b.issued.p50 / a.issued.p50)}, p99 ${fmtRatio(b.issued.p99 / a.issued.p99)}; email p50 ${fmtRatio(b.email.p50 / a.email.p50)}, p99 ${fmtRatio(b.email.p99 / a.email.p99)}. ${
        keepsUp
          ? `One worker still keeps up with ${PACED_PER_SECOND}/s, so the difference is the occasional wait behind another request.`
          : `One worker finishes about ${b.throughput.toFixed(1)} requests/s (a request's API calls, gateway calls and SMTP session one after another), fewer than the ${PACED_PER_SECOND}/s arriving, so a queue builds for the whole run and the wait grows with it; four workers kept up (${a.throughput.toFixed(1)} req/s). Well below ${b.throughput.toFixed(0)} requests/s the two would look alike.`
      }`,
    );
  }
  if (ab && bb) {
    out.push(
      `- **Burst of ${REQUESTS}:** concurrency 4 completes ${ab.throughput.toFixed(1)} req/s (p99 to email ${fmtMs(ab.email.p99)}), concurrency 1 ${bb.throughput.toFixed(1)} req/s (p99 ${fmtMs(bb.email.p99)}): ${fmtRatio(ab.throughput / bb.throughput)} the throughput. These rows show capacity, not what one user waits for in normal use.`,
    );
  }
  if (a) {
    out.push(
      `- **Cost per request (as shipped):** ${a.secretCalls.toFixed(1)} Secret API calls (${verbs(a)}; 3 of them are the creation: a LIST for a live duplicate, the POST, a LIST again), ${a.events.toFixed(1)} Event writes, and ${a.cpuMs.toFixed(1)} ms CPU in this process (loop, test gateway, SMTP server and the timing watch together). ${
        cost ? `Each API call opens a new TLS connection (${cost.store.tlsPerCall.toFixed(2)} per call, see below) and takes ${fmtMs(cost.store.ms)} instead of ${fmtMs(cost.keepAlive.ms)} on a reused one. ` : ''
      }From reading \`lib/loop/reconciler.ts\`: after each write the reconciler reads the Secret again although the write returned it, and \`readKey\` reads it once more for the mint and once more for the email.`,
    );
  }
  const bad = results.filter((r) => r.completed < REQUESTS || r.keysMinted !== REQUESTS || r.emails !== REQUESTS);
  out.push(
    bad.length
      ? `- **Correctness: ${bad.length} run(s) did not end with exactly one key and one email per request** (runs ${bad.map((r) => results.indexOf(r) + 1).join(', ')}); see the per-run table.`
      : `- **Correctness:** every run ended with exactly ${REQUESTS} keys at the gateway and ${REQUESTS} emails (besides the warm-up's): no request lost, none minted or emailed twice.`,
  );
  return out;
}

/** "GET 6.9, PATCH 3.9, …": the median over an aggregate's runs. */
function verbs(agg: Aggregate): string {
  const all = new Set(agg.runs.flatMap((r) => Object.keys(r.secretCallsPerVerb)));
  return [...all]
    .map((v) => [v, median(agg.runs.map((r) => r.secretCallsPerVerb[v] ?? 0))] as const)
    .sort((x, y) => y[1] - x[1])
    .map(([v, n]) => `${v} ${n.toFixed(1)}`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const benchStart = now();
  const startedAt = new Date();
  const load0 = os.loadavg();
  const rss0 = process.memoryUsage().rss;
  captureLoopLog();
  say(`cluster state in ${stateDir}`);
  const cluster = clusterUp();
  ownCluster = cluster.startedHere;
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping`);
    stopOwnCluster();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: RunResult[] = [];
  const skipped: string[] = [];
  let cost: CallCost | undefined;
  const clusterRss0 = { apiserver: clusterRss('kube-apiserver'), etcd: clusterRss('etcd') };
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  sampler.unref();
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    cost = await callCost(kc, cluster.kubeconfig);
    say(`one Secret GET: ${cost.store.ms.toFixed(1)} ms through the store, ${cost.keepAlive.ms.toFixed(1)} ms over a kept-alive connection`);
    const schedule = plan().filter(([key]) => ONLY.includes(key));
    const took = new Map<string, number>();
    for (const [key, pattern, rep] of schedule) {
      const v = VARIANTS[key];
      // What this run will take: as long as the last one like it, else the plan plus a margin.
      const planned = pattern === 'burst' ? 30_000 : v.watch ? REQUESTS * intervalMs(v, pattern) + 5_000 : v.resyncSeconds * 1000 + 25_000;
      const expected = took.get(`${key} ${pattern}`) ?? planned;
      if (now() - benchStart + expected > BUDGET_MS) {
        skipped.push(`${v.label}, ${pattern}, run ${rep}`);
        say(`skipping ${v.label}, ${pattern}, run ${rep}: it would end past the time budget`);
        continue;
      }
      say(`run ${results.length + 1}/${schedule.length}: ${v.label}, ${pattern}, repetition ${rep}`);
      const r = await runOnce(kc, cluster, v, pattern, rep);
      results.push(r);
      took.set(`${key} ${pattern}`, r.wallMs);
      say(
        `  issued p50 ${fmtMs(r.issued.p50)} p99 ${fmtMs(r.issued.p99)}; email p50 ${fmtMs(r.email.p50)} p99 ${fmtMs(r.email.p99)}; ${r.completed}/${REQUESTS} done, ${r.throughput.toFixed(1)} req/s, ${fmtMs(r.wallMs)}`,
      );
    }
  } finally {
    clearInterval(sampler);
  }
  const clusterRss1 = { apiserver: clusterRss('kube-apiserver'), etcd: clusterRss('etcd') };
  const rss1 = process.memoryUsage().rss;
  const load1 = os.loadavg();
  stopOwnCluster();
  const totalMs = now() - benchStart;

  const aggs = aggregate(results);
  const nproc = (() => {
    try {
      return execFileSync('nproc', { encoding: 'utf8' }).trim();
    } catch {
      return String(os.availableParallelism());
    }
  })();
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const loads = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
  const topWarnings = [...warnings].sort((x, y) => y[1] - x[1]).slice(0, 5);

  const report = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` (`bench/run.ts`); run it again to replace this file. Numbers from one machine; compare ratios, not absolutes, across machines.',
    '',
    '## How it was measured',
    '',
    '```sh',
    'npm run bench    # KEYPORTAL_CLUSTER_DIR=/some/dir npm run bench to use (or start) a cluster elsewhere',
    '```',
    '',
    `- **Date:** ${startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z')}; total bench time ${fmtMs(totalMs)} (cluster ${cluster.startedHere ? 'started and stopped by the bench' : 'already running, reused'}).`,
    `- **Machine:** ${nproc} CPUs (\`nproc\`), ${cpuModel}, ${fmtMiB(os.totalmem())} RAM, ${os.type()} ${os.release()}, Node.js ${process.version}. Load average (1, 5, 15 min) at start ${loads(load0)}, at end ${loads(load1)}.`,
    '- **Setup:** the real test cluster (`tests/cluster`: etcd and kube-apiserver on 127.0.0.1, TLS, RBAC), the LiteLLM-compatible test gateway (`tests/servers/litellm.ts`) and a real SMTP server (`tests/servers/smtp.ts`), all loopback. The loop runs in the bench process, built by `buildLoop` from a config like the tests\' (blacklist + whitelist chain, `keyDelivery: email`, Lease election and Kubernetes Events on, retry and claim settings as shipped); only concurrency, resync and the watch vary.',
    `- **Each run:** a fresh namespace, gateway and SMTP server; one untimed warm-up request (it also waits out the Lease); then ${REQUESTS} whitelisted requests (distinct requesters, \`gpt-4o\` and \`anthropic/claude-3\`) created through a second store instance, as the portal would. Latency runs from \`store.create\` resolving to (1) the Secret first seen \`issued\` by a separate watch and (2) the SMTP server having received and parsed the email. Throughput: requests issued and emailed per second, from the first creation to the last email.`,
    `- **Arrivals:** *paced* rows are the ones that show what a user waits for, so they are the main result: ${PACED_PER_SECOND} requests/s for the watch-triggered loops (a busy portal, far above real use, yet each request arrives on its own rather than behind ${REQUESTS - 1} others). For the polling loop, the ${REQUESTS} requests are spread evenly from the end of the warm-up to just before its next poll (about one ${POLL_SECONDS} s period, so ${(REQUESTS / POLL_SECONDS).toFixed(1)}/s): arrival times then cover the whole poll cycle, as in steady use, and every request is picked up by one poll; its lower rate can only flatter it.${BURST ? ` *Burst* rows (${REQUESTS} created at once) show capacity, not a user's normal wait.` : ''}`,
    `- **Repetitions:** interleaved in the order ${plan()
      .filter(([k]) => ONLY.includes(k))
      .map(([k, p]) => (p === 'burst' ? `${k} (burst)` : k))
      .join(', ')}; each statistic in the results is the **median over that variant's runs** of the run's statistic (the runs column says how many). (b) cannot keep up with the paced rate, so its runs take about twice as long and it gets one run fewer; (c) costs a poll period plus the drain of a whole poll's worth of requests, so it runs once. Percentiles are nearest-rank over ${REQUESTS} samples: p99 is the ${ordinal(REQUESTS - Math.ceil(0.99 * REQUESTS) + 1)}-slowest request, max the slowest.`,
    '- **Variant (c)** has no switch in `lib/loop/loop.ts` (the loop always watches), so the bench gives it a store whose `watch` never reports a change (`ResyncOnlyStore` in `bench/run.ts`); the loop, reconciler, Lease and Events are the shipped code.',
    skipped.length ? `- **Skipped to stay within the time budget:** ${skipped.join('; ')}.` : '',
    '',
    '## Results',
    '',
    resultTable(aggs),
    '',
    '## Ratios (variant / as shipped; above ×1 is slower, except throughput)',
    '',
    ratioTable(aggs),
    '',
    '## Interpretation',
    '',
    ...interpretation(aggs, results, cost),
    '',
    ...(cost
      ? [
          '## What one API call costs',
          '',
          `${cost.calls} sequential GETs of one request Secret, after one untimed call each (medians; CPU is this process's user + system time per call):`,
          '',
          '| how | latency | client CPU | TLS connections opened per call |',
          '|---|---:|---:|---:|',
          `| \`KubernetesSecretStore.get\` (as the loop calls it) | ${cost.store.ms.toFixed(1)} ms | ${cost.store.cpuMs.toFixed(1)} ms | ${cost.store.tlsPerCall.toFixed(2)} |`,
          `| the same GET over one kept-alive \`https.Agent\` | ${cost.keepAlive.ms.toFixed(1)} ms | ${cost.keepAlive.cpuMs.toFixed(1)} ms | ${cost.keepAlive.tlsPerCall.toFixed(2)} |`,
          '',
          `@kubernetes/client-node 1.4 makes a new \`https.Agent\` for every API call (\`KubeConfig.applySecurityAuthentication\` → \`createAgent\`; kubernetes-client/javascript#2893), so each of a request's ~${results[0] ? Math.round(median(results.map((r) => r.secretCallsPerRequest))) : 13} Secret calls (and each Event and Lease call) pays a TCP and TLS handshake: ${fmtRatio(cost.store.ms / cost.keepAlive.ms)} the latency and ${fmtRatio(cost.store.cpuMs / cost.keepAlive.cpuMs)} the client CPU of a reused connection.`,
          '',
        ]
      : []),
    '## Memory',
    '',
    '| process | before | after | peak |',
    '|---|---:|---:|---:|',
    `| bench (loop, gateway, SMTP server, watch) RSS | ${fmtMiB(rss0)} | ${fmtMiB(rss1)} | ${fmtMiB(peakRss)} |`,
    `| kube-apiserver RSS | ${fmtMiB(clusterRss0.apiserver)} | ${fmtMiB(clusterRss1.apiserver)} | |`,
    `| etcd RSS | ${fmtMiB(clusterRss0.etcd)} | ${fmtMiB(clusterRss1.etcd)} | |`,
    '',
    `"Before" is the bench process right after start-up (before the cluster and the first run), "after" once every run has stopped its loop and servers (${results.length * (REQUESTS + 1)} requests in total, ${results.length} namespaces kept until cluster:down). A difference is heap growth the GC had not returned, not necessarily a leak.`,
    '',
    '## Every run',
    '',
    runsTable(results),
    '',
    topWarnings.length
      ? `Loop warnings logged during the bench: ${topWarnings.map(([m, n]) => `"${m}" ×${n}`).join('; ')}.`
      : 'The loop logged no warnings during the bench.',
    '',
  ]
    .filter((line, i, all) => !(line === '' && all[i - 1] === ''))
    .join('\n');

  process.stdout.write(`${report}\n`);
  if (WRITE) {
    mkdirSync(path.join(repo, 'docs'), { recursive: true });
    writeFileSync(path.join(repo, 'docs/BENCHMARKS.md'), report);
    say(`wrote docs/BENCHMARKS.md; total ${fmtMs(totalMs)}`);
  }
  const failed = results.some((r) => r.completed < REQUESTS);
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  stopOwnCluster();
  process.exit(1);
});
