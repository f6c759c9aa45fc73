import type { KeyRequest } from '../domain/key-request';

/**
 * The order every replica agrees on when two live requests for the same pair exist: the older
 * one wins, and the id breaks a tie within the same second.
 */
export function oldestFirst(a: KeyRequest, b: KeyRequest): number {
  return a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt);
}
