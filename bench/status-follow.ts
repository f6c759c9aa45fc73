/**
 * `npx tsx bench/status-follow.ts`: what a status page shows, and what it costs the web server,
 * while its request waits for a person.
 * 1. In Chromium, PROBE_N people (20) one after another request a model held for review, open its
 *    status page, and after a pause (spread over 0.5–2.5 s, so that a page reading every 2 s meets
 *    the decision at every phase of its polls) an approver approves it through the API: the time
 *    from the decision's answer to `issued` on the screen, and the reads each page made.
 * 2. Without a browser, FOLLOW_PAGES (200) open status pages of requests in review, for 30 s in
 *    which nothing changes: the web server's CPU and the reads made. Each page reads as the status
 *    page of its checkout does: a checkout whose answer carries an ETag is followed with held reads
 *    (`If-None-Match`, `?wait=25`), an older one is read every 2 s.
 * With FOLLOW_BASE (a built clone of an earlier commit) that checkout first, then this one, each
 * twice, alternating. FOLLOW_TARGET=list measures "My requests" instead of the status page: the
 * page at /requests, its read `GET /api/requests?limit=50`, each person with the one request.
 */
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import type { Browser } from '@playwright/test';
import { PAGE_SIZE } from '@/lib/validations/requests';
import { signIn } from '@/tests/e2e/helpers';
import { call, pool, sessionCookie } from './portal/clients';
import type { Portal } from './portal/server';
import { browserRounds } from './browser-rounds';
import { cpuMs } from './proc-cpu';
import { summarize } from './stats';

const n = Number(process.env.PROBE_N ?? 20);
const pages = Number(process.env.FOLLOW_PAGES ?? 200);
const QUIET_MS = 50_000;
const OPEN_SPREAD_MS = 25_000;
const OPENED_MS = OPEN_SPREAD_MS + 2_000;
const REST_MS = 15_000;
const APPROVER = 'approver@bench.example.com';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const list = process.env.FOLLOW_TARGET === 'list';
/** What the page reads, what it is, and where on it the request's state shows. */
const readPath = (id: string) => (list ? `/api/requests?limit=${PAGE_SIZE}` : `/api/requests/${id}`);
const pagePath = (id: string) => (list ? '/requests' : `/requests/${id}`);
const stateOf = (id: string, state: string) => (list ? `[data-request="${id}"] [data-state="${state}"]` : `[data-state="${state}"]`);

/** A status read as the page makes it; its own agent: a held read outlasts the bench client's 2 s idle timeout. */
const agent = new http.Agent({ keepAlive: true, maxSockets: pages + 16 });
function read(p: Portal, id: string, cookie: string, etag: string | undefined, signal: AbortSignal): Promise<{ status: number; etag?: string }> {
  const headers: http.OutgoingHttpHeaders = { cookie, ...(etag ? { 'if-none-match': etag } : {}) };
  return new Promise((resolve, reject) => {
    const path = readPath(id);
    const req = http.get(`${p.url}${path}${etag ? `${path.includes('?') ? '&' : '?'}wait=25` : ''}`, { agent, headers, signal }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(typeof res.headers.etag === 'string' ? { etag: res.headers.etag } : {}) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Requests of `count` people for the model held for review, once the loop has held each. */
async function inReview(p: Portal, tag: string, count: number): Promise<Array<{ id: string; cookie: string }>> {
  const made = await pool(Array.from({ length: count }, (_, i) => i), 10, async (i) => {
    const cookie = await sessionCookie(p, `f${i}-${tag}@bench.example.com`);
    const res = await call(p, 'POST', '/api/requests', cookie, { model: 'experimental' });
    if (res.status !== 201) throw new Error(`POST answered ${res.status}: ${res.body}`);
    return { id: (JSON.parse(res.body) as { request: { id: string } }).request.id, cookie };
  });
  for (const m of made) {
    for (let tries = 0; ; tries++) {
      const { request } = JSON.parse((await call(p, 'GET', `/api/requests/${m.id}`, m.cookie)).body) as { request: { state: string; emailed?: boolean } };
      if (request.state === 'in-review' && request.emailed) break;
      if (tries > 200) throw new Error(`request ${m.id} is ${request.state}, not held for review`);
      await sleep(50);
    }
  }
  return made;
}

async function browserRound(p: Portal, browser: Browser, tag: string): Promise<{ waits: number[]; reads: number[] }> {
  const approver = await sessionCookie(p, APPROVER);
  const waits: number[] = [];
  const reads: number[] = [];
  for (let i = -2; i < n; i++) {
    const context = await browser.newContext({ baseURL: p.url });
    const page = await context.newPage();
    await signIn(page, `b${i}-${tag}@bench.example.com`);
    const res = await page.request.post('/api/requests', { data: { model: 'experimental' }, headers: { origin: p.url } });
    const id = ((await res.json()) as { request: { id: string } }).request.id;
    let count = 0;
    const read = readPath(id).split('?')[0];
    page.on('request', (r) => void (r.method() === 'GET' && new URL(r.url()).pathname === read && count++));
    await page.goto(pagePath(id));
    await page.locator(stateOf(id, 'in-review')).first().waitFor({ timeout: 15_000 });
    await sleep(500 + ((i + 2) * 613) % 2000);
    const decided = await call(p, 'POST', `/api/requests/${id}/decision`, approver, { decision: 'approve' });
    if (decided.status !== 200) throw new Error(`decision answered ${decided.status}: ${decided.body}`);
    const t0 = performance.now();
    await page.locator(stateOf(id, 'issued')).first().waitFor({ timeout: 15_000 });
    if (i >= 0) {
      waits.push(performance.now() - t0);
      reads.push(count);
    }
    await context.close();
  }
  return { waits, reads };
}

/**
 * `pages` open status pages, nothing changing: the web server's CPU and the reads made over
 * QUIET_MS, counted from OPENED_MS on (every page open and its first read answered), so the window
 * holds what open pages cost, not their opening.
 */
async function quietPages(p: Portal, tag: string): Promise<{ cpuMsPerSecond: number; restMsPerSecond: number; reads: number; follows: boolean }> {
  const open = await inReview(p, tag, pages);
  // The web server's own rest (its loop, cache, audit shipper) over the same requests, no page open.
  const rest0 = cpuMs(p.child.pid);
  await sleep(REST_MS);
  const restMsPerSecond = (cpuMs(p.child.pid) - rest0) / (REST_MS / 1000);
  const stop = new AbortController();
  // Every page's read listens for the end of the run.
  setMaxListeners(open.length + 16, stop.signal);
  let reads = 0;
  let counting = false;
  const follows = (await read(p, open[0]?.id as string, open[0]?.cookie as string, undefined, stop.signal)).etag !== undefined;
  const window = { cpu: 0, at: 0 };
  const measured = sleep(OPENED_MS).then(async () => {
    Object.assign(window, { cpu: cpuMs(p.child.pid), at: performance.now() });
    counting = true;
    await sleep(QUIET_MS);
    counting = false;
    const figures = { cpuMsPerSecond: (cpuMs(p.child.pid) - window.cpu) / ((performance.now() - window.at) / 1000) };
    stop.abort();
    return figures;
  });
  await Promise.all(
    open.map(async ({ id, cookie }, i) => {
      // Pages opened one after another across a hold's length, as people open them at any moment
      // (so their held reads end at any moment too, not all at once).
      await sleep((i * OPEN_SPREAD_MS) / open.length);
      let etag: string | undefined;
      while (!stop.signal.aborted) {
        try {
          const answer = await read(p, id, cookie, follows ? etag : undefined, stop.signal);
          if (counting) reads++;
          if (follows) etag = answer.etag;
          else await sleep(2000);
        } catch {
          if (!stop.signal.aborted) await sleep(2000);
        }
      }
    }),
  );
  return { ...(await measured), restMsPerSecond, reads, follows };
}

await browserRounds('FOLLOW_BASE', 3397, async ({ name, round, portal, browser }) => {
  const tag = `${round}-${Date.now().toString(36)}`;
  const { waits, reads } = await browserRound(portal, browser, tag);
  const wait = summarize(waits);
  const perPage = summarize(reads);
  process.stdout.write(
    `${name}, round ${round}: decision answered to issued on screen, p50 ${wait.p50.toFixed(0)} ms, p90 ${wait.p90.toFixed(0)} ms, max ${Math.max(...waits).toFixed(0)} ms; reads a page made, median ${perPage.p50}\n`,
  );
  const quiet = await quietPages(portal, tag);
  process.stdout.write(
    `${name}, round ${round}: ${pages} open ${list ? '"My requests"' : 'status'} pages, ${QUIET_MS / 1000} s quiet (${quiet.follows ? 'held reads' : 'a read every 2 s'}): ${quiet.reads} reads, web server CPU ${quiet.cpuMsPerSecond.toFixed(1)} ms a second (at rest, no page open: ${quiet.restMsPerSecond.toFixed(1)})\n`,
  );
});
