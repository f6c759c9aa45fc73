import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { encode } from 'next-auth/jwt';
import type { Portal } from './server';

/** A signed-in person, without a browser: next-auth's own session cookie, minted with its secret. */
export async function sessionCookie(p: Portal, email: string): Promise<string> {
  const token = await encode({ secret: p.secret, token: { email, name: email, sub: email, groups: [], groupsAt: Date.now() } });
  return `next-auth.session-token=${token}`;
}

export interface Timed {
  status: number;
  ms: number;
  bytes: number;
  body: string;
  /** Sent on a connection opened for it (the server had to accept one first), not a kept-alive one. */
  newConnection: boolean;
}

/**
 * The clients' connections: kept alive, as a load generator keeps them. node:http rather than
 * fetch: on this 2-core machine the bench shares the cores with the portal and the API server,
 * and undici's fetch (Web streams, a Response per call) was ~14 % of the bench's own busy time
 * over a life run. An idle connection is closed after 2 s, as in every earlier sitting: a
 * baseline checkout closes idle connections after Node's 5 s, and a POST sent on one the server
 * is closing that moment fails ("socket hang up"); the current one keeps them 65 s.
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 2000 });

/**
 * One call, timed to the last byte; gzip asked for and undone, as a browser does. `close`: on a
 * connection of its own, closed after the answer, as a load generator without keep-alive sends.
 */
export function call(p: Portal, method: 'GET' | 'POST', path: string, cookie: string, body?: unknown, close = false): Promise<Timed> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: http.OutgoingHttpHeaders = { cookie, origin: p.url, 'accept-encoding': 'gzip', ...(close ? { connection: 'close' } : {}) };
  if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  const t = performance.now();
  let newConnection = false;
  return new Promise((resolve, reject) => {
    const req = http.request(`${p.url}${path}`, { method, agent: close ? false : agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = (res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
        resolve({ status: res.statusCode ?? 0, ms: performance.now() - t, bytes: Buffer.byteLength(text), body: text, newConnection });
      });
    });
    req.on('socket', (socket) => (newConnection = socket.connecting));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs `fn` over `items`, `width` at a time, and returns the results in order. */
export async function pool<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}
