import type { KeyRequest } from '../domain/key-request';

const DAY_MS = 86_400_000;

/**
 * When a request in review is denied for want of a review: `reviewTimeoutDays` after the loop held
 * it (`reviewSince`; a request held before that was recorded counts from its creation).
 */
export function reviewDeadline(r: Pick<KeyRequest, 'reviewSince' | 'createdAt'>, days: number | undefined): number | undefined {
  if (!days) return undefined;
  const since = Date.parse(r.reviewSince ?? r.createdAt);
  return Number.isNaN(since) ? undefined : since + days * DAY_MS;
}
