import { createHash, randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { newRequestId, rfc3339 } from '@/lib/domain/key-request';
import { withKeepAlive } from '@/lib/kube/keep-alive';
import { encodeNewRequest } from '@/lib/store/secret-codec';
import { apiRequestCounts, callsBetween, changedBeforeCreate, watchIssued } from '../cluster';
import { type Summary, median, summarize } from '../stats';
import { call, pool, sessionCookie } from './clients';
import { type Portal, rssBytes, tlsCount } from './server';

const MODELS = ['gpt-4o', 'anthropic/claude-3'];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

export interface PostFigures {
  latency: Summary;
  /**
   * The same POSTs sent on connections already open. A burst's first requests each open one, and
   * Node accepts one connection per turn of its event loop (libuv 1.45+, "don't accept() in a
   * loop"): under load a turn is tens of ms, so the last of 50 new connections waits seconds to
   * be accepted while the open ones are served.
   */
  openConnections?: Summary;
  perSecond: number;
  failures: number;
}

/**
 * POST /api/requests for `users` distinct people, `width` at a time, as fast as they come back;
 * `close`: each on a connection of its own (a load generator without keep-alive).
 */
export async function postLoad(p: Portal, tag: string, users: number, width: number, close = false): Promise<PostFigures & { ids: string[]; startedAt: number; endedAt: number; statuses: Record<string, number> }> {
  const cookies = await Promise.all(Array.from({ length: users }, (_, i) => sessionCookie(p, `u${i}-${tag}@bench.example.com`)));
  // From here on: the cookies above are the users' sign-ins, made before they start posting.
  const t0 = performance.now();
  const results = await pool(cookies.map((cookie, i) => ({ cookie, model: MODELS[i % 2] })), width, (u) =>
    call(p, 'POST', '/api/requests', u.cookie, { model: u.model }, close).catch((err: Error) => ({ status: 0, error: err.message, ms: 0, bytes: 0, body: '', newConnection: true })),
  );
  const wall = (performance.now() - t0) / 1000;
  const ok = results.filter((r) => r.status === 201);
  const ids = ok.map((r) => (JSON.parse(r.body) as { request: { id: string } }).request.id);
  const open = ok.filter((r) => !r.newConnection);
  const statuses: Record<string, number> = {};
  for (const r of results) {
    const what = 'error' in r ? r.error : String(r.status);
    statuses[what] = (statuses[what] ?? 0) + 1;
  }
  return { latency: summarize(ok.map((r) => r.ms)), ...(open.length ? { openConnections: summarize(open.map((r) => r.ms)) } : {}), perSecond: ok.length / wall, failures: results.length - ok.length, statuses, ids, startedAt: t0, endedAt: t0 + wall * 1000 };
}

/**
 * The portal's own latency, where the API server is not the queue: 100 users one at a time, then
 * 300 ten at a time, each batch left to the loop before the next. Keyed by clients at once.
 */
export async function fewClients(p: Portal, kc: KubeConfig, namespace: string, tag: string): Promise<Record<string, PostFigures>> {
  const out: Record<string, PostFigures> = {};
  for (const [users, width] of [[100, 1], [300, 10]] as const) {
    out[String(width)] = await postLoad(p, `post${width}-${tag}`, users, width);
    await drained(kc, namespace, 120_000);
  }
  return out;
}

export interface IssueFigures {
  requests: number;
  wallSeconds: number;
  /** Of those, the 50 clients' posting alone: first POST to last answer. */
  postSeconds: number;
  issued: number;
  secretCallsPerRequest: number;
  secretCallsByVerb: Record<string, number>;
  eventsPerRequest: number;
  tlsPerApiCall: number;
}

/** `n` requests from creation (first POST) to all issued, as fast as 50 clients post them. */
export async function toIssued(p: Portal, kc: KubeConfig, namespace: string, tag: string, n: number): Promise<IssueFigures> {
  const seen = new Map<string, number>();
  const stop = await watchIssued(kc, namespace, seen);
  const before = await apiRequestCounts(kc);
  const tlsBefore = tlsCount(p);
  const { ids, startedAt: t0, endedAt } = await postLoad(p, tag, n, 50);
  await until(() => ids.every((id) => seen.has(id)), 120_000);
  const last = Math.max(...ids.map((id) => seen.get(id) ?? Number.NaN));
  // The emails and their writes follow `issued`, and Events may be queued behind them: the
  // calls are counted once the API server's counters stop moving (bounded).
  const after = await settledCounts(kc, 60_000);
  stop();
  const secrets = callsBetween(before, after, 'secrets');
  const events = callsBetween(before, after, 'events');
  const leases = callsBetween(before, after, 'leases');
  const apiCalls = secrets.total + events.total + leases.total;
  return {
    requests: ids.length,
    wallSeconds: (last - t0) / 1000,
    postSeconds: (endedAt - t0) / 1000,
    issued: ids.filter((id) => seen.has(id)).length,
    secretCallsPerRequest: secrets.total / ids.length,
    secretCallsByVerb: Object.fromEntries(Object.entries(secrets.byVerb).map(([k, v]) => [k, v / ids.length])),
    eventsPerRequest: events.total / ids.length,
    tlsPerApiCall: (tlsCount(p) - tlsBefore) / Math.max(1, apiCalls),
  };
}

/** The API server's counters once two readings a second apart agree (or at the deadline). */
async function settledCounts(kc: KubeConfig, timeoutMs: number): Promise<Map<string, number>> {
  const deadline = performance.now() + timeoutMs;
  const busy = (m: Map<string, number>) => ['secrets', 'events'].map((r) => [...m].filter(([k]) => k.startsWith(`${r} `)).reduce((sum, [, v]) => sum + v, 0)).join('/');
  let last = await apiRequestCounts(kc);
  for (;;) {
    await sleep(1000);
    const now = await apiRequestCounts(kc);
    if (busy(now) === busy(last) || performance.now() > deadline) return now;
    last = now;
  }
}

/** Creation → issued at a paced rate: each request's wait, from its POST answer to `issued` seen; and the POSTs' own latency. */
export async function pacedToIssued(p: Portal, kc: KubeConfig, namespace: string, tag: string, n: number, perSecond: number): Promise<Summary & { post: Summary }> {
  const seen = new Map<string, number>();
  const stop = await watchIssued(kc, namespace, seen);
  const cookies = await Promise.all(Array.from({ length: n }, (_, i) => sessionCookie(p, `p${i}-${tag}@bench.example.com`)));
  const created: Array<Promise<{ id: string; at: number } | undefined>> = [];
  const postMs: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / perSecond - performance.now();
    if (wait > 1) await sleep(wait);
    created.push(
      call(p, 'POST', '/api/requests', cookies[i] as string, { model: MODELS[i % 2] }).then((r) => {
        postMs.push(r.ms);
        return r.status === 201 ? { id: (JSON.parse(r.body) as { request: { id: string } }).request.id, at: performance.now() } : undefined;
      }),
    );
  }
  const made = (await Promise.all(created)).filter((x): x is { id: string; at: number } => Boolean(x));
  await until(() => made.every((m) => seen.has(m.id)), 60_000);
  stop();
  return { ...summarize(made.filter((m) => seen.has(m.id)).map((m) => Math.max(0, (seen.get(m.id) as number) - m.at))), post: summarize(postMs) };
}

/**
 * Stored requests, written straight to the API server (as years of use would leave them): ended,
 * so the loop has nothing to do; or with PROBE_SEED_STATE=issued, live keys that expire in a
 * year, so the loop only waits for their reminders (the keys exist nowhere but in the Secrets).
 */
export async function seed(kc: KubeConfig, namespace: string, count: number): Promise<void> {
  const api = withKeepAlive(kc).makeApiClient(CoreV1Api);
  // Ended in 2025 (past any retention, so the sweep deletes them), or from PROBE_SEED_FROM on.
  const t = Date.parse(process.env.PROBE_SEED_FROM ?? '2025-01-01T00:00:00Z');
  const issued = process.env.PROBE_SEED_STATE === 'issued';
  await pool(
    Array.from({ length: count }, (_, i) => i),
    32,
    async (i) => {
      const at = rfc3339(new Date(t + i * 1000));
      const secret = encodeNewRequest({ id: newRequestId(), email: `old${i % 20_000}@bench.example.com`, model: MODELS[i % 2] as string, createdAt: at });
      const key = `sk-seed-${randomBytes(12).toString('hex')}`;
      const done = issued
        ? changedBeforeCreate(
            secret,
            { state: 'approved', decision: 'approved', decidedBy: 'plugin:whitelist', decidedAt: at },
            { key, keySha256: createHash('sha256').update(key).digest('hex'), gatewayFinalizer: true },
            { state: 'issued', issuedAt: at, expiresAt: rfc3339(new Date(Date.now() + 365 * 86_400_000)), notified: 'issued' },
          )
        : changedBeforeCreate(secret, { state: 'denied', decidedBy: 'plugin:blacklist', decidedAt: at, reason: 'Closed model', notified: 'denied' });
      await api.createNamespacedSecret({ namespace, body: done as never });
    },
  );
}

export interface QueueFigures {
  stored: number;
  apiMs: number;
  apiBytes: number;
  pageMs: number;
  pageBytes: number;
  rss: number;
}

/** The approver's first page, API and HTML, median of 10 after 2 untimed, and the portal's RSS after. */
export async function queueFirstPage(p: Portal, stored: number): Promise<QueueFigures> {
  const cookie = await sessionCookie(p, 'approver@bench.example.com');
  const api: number[] = [];
  const page: number[] = [];
  let apiBytes = 0;
  let pageBytes = 0;
  for (let i = 0; i < 12; i++) {
    const a = await call(p, 'GET', '/api/approvals?state=all', cookie);
    const h = await call(p, 'GET', '/approvals', cookie);
    if (a.status !== 200 || h.status !== 200) throw new Error(`the queue answered ${a.status} / ${h.status} at ${p.url}`);
    if (i < 2) continue;
    api.push(a.ms);
    page.push(h.ms);
    apiBytes = a.bytes;
    pageBytes = h.bytes;
  }
  return { stored, apiMs: median(api), apiBytes, pageMs: median(page), pageBytes, rss: rssBytes(p) };
}

/** Waits until the portal's queue reports at least `n` requests (the cache has caught up), or 10 minutes. */
export async function queueHolds(p: Portal, n: number): Promise<void> {
  const cookie = await sessionCookie(p, 'approver@bench.example.com');
  const deadline = performance.now() + 600_000;
  while (performance.now() < deadline) {
    const r = await call(p, 'GET', '/api/approvals?state=all&limit=1', cookie);
    const body = JSON.parse(r.body) as { total?: number; requests?: unknown[] };
    // Today's code has no total: it lists everything (up to its silent 5,000 cut).
    if ((body.total ?? body.requests?.length ?? 0) >= Math.min(n, body.total === undefined ? 5000 : n)) return;
    await sleep(1000);
  }
}

/** Request Secrets that do not parse (a wrong name): what the portal logs about them from its start, and the Events it records, `seconds` after they were written. */
export async function malformedNoise(p: Portal, kc: KubeConfig, namespace: string, count: number, seconds: number, logLines: () => number): Promise<{ warnings: number; events: number }> {
  const api = withKeepAlive(kc).makeApiClient(CoreV1Api);
  await pool(
    Array.from({ length: count }, (_, i) => i),
    32,
    (i) =>
      api.createNamespacedSecret({
        namespace,
        body: { metadata: { name: `not-a-request-${i}`, labels: { 'app.kubernetes.io/component': 'key-request', 'keyportal.dev/state': 'pending' } } },
      }),
  );
  await sleep(seconds * 1000);
  const events = await api.listNamespacedEvent({ namespace, fieldSelector: 'reason=Malformed' });
  return { warnings: logLines(), events: events.items.length };
}

/** Waits until no request of the namespace is still on its way (pending or approved) and every one has been emailed. */
export async function drained(kc: KubeConfig, namespace: string, timeoutMs: number, alsoSelect = ''): Promise<void> {
  const api = withKeepAlive(kc).makeApiClient(CoreV1Api);
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const { items } = await api.listNamespacedSecret({ namespace, labelSelector: `app.kubernetes.io/component=key-request${alsoSelect ? `,${alsoSelect}` : ''}` });
    const busy = items.filter((s) => {
      const state = s.metadata?.labels?.['keyportal.dev/state'];
      return state === 'pending' || state === 'approved' || s.metadata?.annotations?.['keyportal.dev/notified'] !== state;
    });
    if (busy.length === 0) break;
    await sleep(500);
  }
  // Events are written from a queue behind the steps: the next figure's counts start once they are in.
  await settledCounts(kc, Math.max(1000, deadline - performance.now()));
}
