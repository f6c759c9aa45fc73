import type { KeyRequest } from '../domain/key-request';
import { type RateLimit, inWindow, pastRateLimit } from '../domain/rate-limit';
import { duplicateOf } from '../domain/renewal';
import { isLive } from '../domain/states';
import type { PeopleStore } from '../people/types';
import { collect } from '../store/collect';
import { oldestFirst } from '../store/ordering';
import type { RequestStore } from '../store/types';
import type { LoopEvent } from './events';

export interface GateDeps {
  store: RequestStore;
  catalog: ReadonlySet<string>;
  people?: PeopleStore;
  rateLimit?: RateLimit;
  clock?: () => Date;
}

/**
 * A request near its person's limit is judged once it is this old: another replica may have
 * created one in the same instant that this cache has not seen yet (its watch event is on the
 * way), and the ranking must see every request created before this one. Watch events arrive in
 * milliseconds; created-at has whole seconds, so the margin is two.
 */
export const RATE_SETTLE_MS = 2000;

/** Not judged yet: look again after `ms`. */
export interface Settling {
  settleMs: number;
}

/** A pending request closed before any plugin sees it, and why. */
export interface Closed {
  decidedBy: 'duplicate' | 'keyportal' | 'catalog';
  reason: string;
  event: LoopEvent;
}

/**
 * What closes a pending request before the plugin chain runs. Each is a rule the portal already
 * applies when the request is made; these catch what got past it on another replica or in the
 * same instant, ranked the same way on every replica (oldest first), so exactly one outcome wins.
 */
export async function closedBeforeChain(d: GateDeps, r: KeyRequest): Promise<Closed | Settling | undefined> {
  const { items } = await d.store.query({ email: r.email, model: r.model, limit: 500 });
  const older = duplicateOf(items.filter((x) => x.id !== r.id && isLive(x.state) && oldestFirst(x, r) < 0).sort(oldestFirst), r);
  if (older) {
    // Two replicas each let one of two simultaneous requests for the same model through: the
    // older one counts, everywhere, and this one is closed.
    return { decidedBy: 'duplicate', reason: `You already have request ${older.id} for ${r.model}; this duplicate was closed.`, event: { type: 'Normal', reason: 'Denied', message: `denied: a duplicate of keyreq-${older.id}` } };
  }
  if (d.rateLimit) {
    const own = await collect((p) => d.store.listByRequester(r.email, p));
    const { requests, windowSeconds } = d.rateLimit;
    if (pastRateLimit(r, own, d.rateLimit)) {
      return { decidedBy: 'keyportal', reason: `More than ${requests} requests within ${windowSeconds} s; this one was closed. Try again later.`, event: { type: 'Normal', reason: 'Denied', message: 'denied: past the per-person rate limit' } };
    }
    // Near the limit, wait until a request made at the same instant elsewhere is seen (a person
    // far from it is never held up).
    const age = (d.clock ?? (() => new Date()))().getTime() - Date.parse(r.createdAt);
    if (age < RATE_SETTLE_MS && inWindow(r, own, windowSeconds) + 1 >= requests) return { settleMs: RATE_SETTLE_MS - age };
  }
  const offboarded = await d.people?.offboarded(r.email);
  if (offboarded) {
    // Made in the instant the person was offboarded (offboarding writes its record first, then
    // ends what it finds).
    return { decidedBy: 'keyportal', reason: `Your access to keys was withdrawn on ${offboarded.at.slice(0, 10)}.`, event: { type: 'Normal', reason: 'Denied', message: 'denied: the requester was offboarded' } };
  }
  if (r.topsUp) {
    // A top-up of a key that ended (or was never this person's) has nothing to add to.
    const key = await d.store.get(r.topsUp).catch(() => undefined);
    if (!key || key.state !== 'issued' || key.email !== r.email || key.model !== r.model) {
      const reason = `The key (request ${r.topsUp}) is no longer issued, so there is nothing to top up.`;
      return { decidedBy: 'keyportal', reason, event: { type: 'Normal', reason: 'Denied', message: 'denied: a top-up of a key that is no longer issued' } };
    }
  }
  if (!d.catalog.has(r.model)) {
    const reason = `model ${r.model} is not in the catalog`;
    return { decidedBy: 'catalog', reason, event: { type: 'Warning', reason: 'Denied', message: `denied: ${reason}` } };
  }
  return undefined;
}
