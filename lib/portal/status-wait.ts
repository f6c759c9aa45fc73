import { createHash } from 'node:crypto';
import type { User } from '../auth/roles';
import { QUEUE_KEY, requesterKey } from '../store/change-feed';
import { offboardedError } from './errors';
import { type PageParams, type PortalDeps, type QueueFilter, getRequest, listOwn, listQueue } from './requests';
import type { ListPage, RequestView } from './view';

/** The entity tag of what a person sees (a request, a page of them): equal tags, nothing new to show. */
export function etagOf(view: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(view)).digest('base64url').slice(0, 27)}"`;
}

/** `If-None-Match` holds this tag (a list, or `*`, as RFC 9110 allows; weak tags compare equal). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export interface StatusAnswer<T = RequestView> {
  view: T;
  etag: string;
  /** False: the client's copy (If-None-Match) is current; answer 304. */
  fresh: boolean;
  /** The hold was refused (this process holds its most, or is stopping): the client should pause before asking again. */
  refused?: true;
}

export interface StatusWait {
  /** The client's tag (`If-None-Match`). */
  ifNoneMatch?: string;
  /** How long to hold the answer while the request is unchanged; 0 answers at once. */
  waitMs: number;
  /** Aborts when the client goes away. */
  signal?: AbortSignal;
}

/**
 * A request's status for a page that follows it: at once when it differs from the client's copy,
 * otherwise held until it changes or `waitMs` passes (a long poll: the page shows a decision or a
 * minted key the moment this process's cache sees it, and an open page asks about twice a minute,
 * not every two seconds). Visibility is checked on every read; after a hold, the person is
 * checked again, so someone offboarded meanwhile learns nothing more.
 */
export function awaitRequest(deps: PortalDeps, user: User, id: string, w: StatusWait): Promise<StatusAnswer> {
  return held(deps, user, id, () => getRequest(deps, user, id), w);
}

/**
 * A page of a person's own requests ("My requests"), the same way: held until any of their
 * requests changes, or a new one is made (on any replica: each replica's cache sees every change).
 */
export function awaitOwnList(deps: PortalDeps, user: User, page: PageParams, w: StatusWait): Promise<StatusAnswer<ListPage>> {
  return held(deps, user, requesterKey(user.email), () => listOwn(deps, user, page), w);
}

/** A page of the approvers' queue, the same way: held until a request changes (woken at most every few seconds). */
export function awaitQueue(deps: PortalDeps, user: User, q: QueueFilter, w: StatusWait): Promise<StatusAnswer<ListPage>> {
  return held(deps, user, QUEUE_KEY, () => listQueue(deps, user, q), w);
}

/** Reads `read()` and, while it still matches the client's tag, waits on the feed's `key` for a change. */
async function held<T>(deps: PortalDeps, user: User, key: string, read: () => Promise<T>, w: StatusWait): Promise<StatusAnswer<T>> {
  const feed = deps.changes;
  // A span of time, not a moment on record: the monotonic clock (the portal's clock dates records).
  const deadline = performance.now() + w.waitMs;
  let waited = false;
  for (;;) {
    const left = deadline - performance.now();
    // `*` matches whatever the request becomes, so a hold on it would never end at a change.
    const wantsHold = Boolean(w.ifNoneMatch) && w.ifNoneMatch?.trim() !== '*' && left > 0 && feed !== undefined;
    const hold = wantsHold && feed?.canWait() ? new AbortController() : undefined;
    // Subscribed before the read, so a change that lands between them still wakes this wait.
    const waiting = hold && feed?.wait(key, left, w.signal ? AbortSignal.any([w.signal, hold.signal]) : hold.signal);
    let view: T;
    try {
      view = await read();
      if (waited) await stillIn(deps, user);
    } catch (err) {
      hold?.abort();
      throw err;
    }
    const etag = etagOf(view);
    const fresh = !matches(w.ifNoneMatch, etag);
    if (fresh || !waiting) {
      hold?.abort();
      return { view, etag, fresh, ...(!fresh && wantsHold && !hold ? { refused: true as const } : {}) };
    }
    waited = true;
    const outcome = await waiting;
    if (outcome === 'changed') continue;
    return { view, etag, fresh: false, ...(outcome === 'closed' ? { refused: true as const } : {}) };
  }
}

/** Someone offboarded while their page waited learns nothing more (lib/auth checked them when the wait began). */
async function stillIn(deps: PortalDeps, user: User): Promise<void> {
  const left = await deps.people?.offboarded(user.email);
  if (left) throw offboardedError(left.at);
}
