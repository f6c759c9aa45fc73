import type { KeyRequest } from './key-request';

export interface RateLimit {
  requests: number;
  windowSeconds: number;
}

/** The same order everywhere: by creation time, then by id, so every replica ranks requests alike. */
const before = (a: Pick<KeyRequest, 'createdAt' | 'id'>, b: Pick<KeyRequest, 'createdAt' | 'id'>): boolean =>
  a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);

/**
 * Whether `r` came past the per-person rate limit: `limit.requests` of the same person's requests
 * (any state) were created before it within the window that ends at its creation. The portal
 * refuses such a request with 429; this catches the ones that still got through (two replicas,
 * each with a cache a moment behind the other), so the loop can close them as it closes
 * duplicates, and the limit holds exactly however many replicas serve.
 */
/** How many other requests of the person were created within the window before `r`'s creation, or after it. */
export function inWindow(r: KeyRequest, own: readonly KeyRequest[], windowSeconds: number): number {
  const from = new Date(Date.parse(r.createdAt) - windowSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return own.filter((x) => x.id !== r.id && x.createdAt >= from).length;
}

export function pastRateLimit(r: KeyRequest, own: readonly KeyRequest[], limit: RateLimit): boolean {
  const from = new Date(Date.parse(r.createdAt) - limit.windowSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const earlier = own.filter((x) => x.id !== r.id && x.createdAt >= from && before(x, r));
  return earlier.length >= limit.requests;
}
