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
}

/** One call over Node's fetch (kept-alive connections, as a load generator uses them), timed to the last byte. */
export async function call(p: Portal, method: 'GET' | 'POST', path: string, cookie: string, body?: unknown): Promise<Timed> {
  const t = performance.now();
  const res = await fetch(`${p.url}${path}`, {
    method,
    headers: { cookie, origin: p.url, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
  });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - t, bytes: Buffer.byteLength(text), body: text };
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
