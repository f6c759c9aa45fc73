import { type KeyRequest, rfc3339 } from './key-request';

export interface RateLimit {
  requests: number;
  windowSeconds: number;
}

/** The same order everywhere: by creation time, then by id, so every replica ranks requests alike. */
const before = (a: Pick<KeyRequest, 'createdAt' | 'id'>, b: Pick<KeyRequest, 'createdAt' | 'id'>): boolean =>
  a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);

/** The person's other requests created within the window that ends at `r`'s creation, or after it. */
function othersInWindow(r: KeyRequest, own: readonly KeyRequest[], windowSeconds: number): KeyRequest[] {
  const from = rfc3339(new Date(Date.parse(r.createdAt) - windowSeconds * 1000));
  return own.filter((x) => x.id !== r.id && x.createdAt >= from);
}

/** How many other requests of the person were created within the window before `r`'s creation, or after it. */
export function inWindow(r: KeyRequest, own: readonly KeyRequest[], windowSeconds: number): number {
  return othersInWindow(r, own, windowSeconds).length;
}

/**
 * Whether `r` came past the per-person rate limit: `limit.requests` of the same person's requests
 * (any state) were created before it within the window that ends at its creation. The portal
 * refuses such a request with 429; this catches the ones that still got through (two replicas,
 * each with a cache a moment behind the other), so the loop can close them as it closes
 * duplicates, and the limit holds exactly however many replicas serve.
 */
export function pastRateLimit(r: KeyRequest, own: readonly KeyRequest[], limit: RateLimit): boolean {
  return othersInWindow(r, own, limit.windowSeconds).filter((x) => before(x, r)).length >= limit.requests;
}
