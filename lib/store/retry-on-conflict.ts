import type { KeyRequest } from '../domain/key-request';
import { ConflictError } from './errors';
import type { RequestChange, RequestStore } from './types';

/**
 * Re-reads and tries again while someone else keeps moving first (client-go's
 * RetryOnConflict): `attempt` must read what it changes, so each try decides on the current
 * version. Gives up with the last ConflictError after `times` tries; other errors pass through.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, times = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ConflictError) || i >= times) throw err;
    }
  }
}

/**
 * Records `change` on the newest version of a request, re-reading it after each conflict (a
 * review or an admin's edit landing meanwhile). `change` sees the version it writes over and
 * answers undefined when nothing is owed any more. True when written; false when not owed, or
 * when the request kept moving for all `times` tries (the caller's claim then ages out and the
 * next pass looks again). Other errors pass through.
 */
export async function updateLatest(store: Pick<RequestStore, 'get' | 'update'>, r: KeyRequest, change: (current: KeyRequest) => RequestChange | undefined, times = 5): Promise<boolean> {
  let current = r;
  return retryOnConflict(async () => {
    const next = change(current);
    if (!next) return false;
    try {
      await store.update(current, next);
      return true;
    } catch (err) {
      if (err instanceof ConflictError) current = await store.get(r.id);
      throw err;
    }
  }, times).catch((err: unknown) => {
    if (!(err instanceof ConflictError)) throw err;
    return false;
  });
}
