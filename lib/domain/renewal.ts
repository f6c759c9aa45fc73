import type { KeyRequest } from './key-request';
import type { State } from './states';
import { OPEN_TOP_UP_STATES, isTopUp } from './top-up-kind';

/**
 * Which requests can be renewed. `issued`: the point of the reminders, before the key lapses.
 * `expired`: a key that lapsed is renewed the same way, and the chain stays visible to approvers.
 * Never `revoked` (someone took the key away: a renewal, which a renewals-only plugin may
 * approve unseen, would undo that decision), nor what never had a key (denied, failed, open ones).
 */
export const RENEWABLE_STATES: readonly State[] = ['issued', 'expired'];

/** A key that was issued; a top-up is renewed with its key, never alone. */
export const isRenewable = (r: Pick<KeyRequest, 'state' | 'topsUp'>): boolean => RENEWABLE_STATES.includes(r.state) && !isTopUp(r);

/**
 * The live request of the same requester and model that a new request would duplicate, or
 * undefined when there is none. `live` is every live request of the pair, oldest first.
 *
 * A plain request is a duplicate of any live one (one open request per pair). A renewal of X is
 * not blocked by X itself, nor by the key X renewed, while they are issued: those keys keep
 * working until their own expiry. Anything else live (another renewal on its way, a fresh
 * request) still blocks it, so two renewals at once cannot both go through.
 *
 * Top-ups live beside their key and never block a key request; a top-up is blocked only by
 * another top-up of the same key not yet decided and applied (one at a time per key).
 */
export function duplicateOf(live: readonly KeyRequest[], of: { renews?: string; topsUp?: string } = {}): KeyRequest | undefined {
  if (of.topsUp) return live.find((r) => r.topsUp === of.topsUp && OPEN_TOP_UP_STATES.includes(r.state));
  const keys = live.filter((r) => !isTopUp(r));
  if (!of.renews) return keys[0];
  const renewed = keys.find((r) => r.id === of.renews);
  const exempt = new Set([of.renews, renewed?.renews].filter((id): id is string => Boolean(id)));
  return keys.find((r) => !(r.state === 'issued' && exempt.has(r.id)));
}

/** One link of a renewal chain, as the status page shows it. */
export interface ChainLink {
  id: string;
  state: State;
  createdAt: string;
  expiresAt?: string;
}

export interface RenewalChain {
  /** What this request renews, oldest first (the one it renews directly is last). */
  renews: ChainLink[];
  /** Requests that renew this one, newest first (a denied renewal and the one after it, say). */
  renewedBy: ChainLink[];
}

const MAX_CHAIN = 20;
const link = (r: KeyRequest): ChainLink => ({ id: r.id, state: r.state, createdAt: r.createdAt, ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}) });

/** The chain around `r`, from the requests of the same pair. Bounded, so a hand-made loop cannot hang it. */
export function chainOf(r: KeyRequest, pair: readonly KeyRequest[]): RenewalChain {
  const byId = new Map(pair.map((x) => [x.id, x]));
  const renews: ChainLink[] = [];
  const seen = new Set([r.id]);
  for (let at = r.renews ? byId.get(r.renews) : undefined; at && !seen.has(at.id) && renews.length < MAX_CHAIN; at = at.renews ? byId.get(at.renews) : undefined) {
    seen.add(at.id);
    renews.unshift(link(at));
  }
  const renewedBy = pair
    .filter((x) => x.renews === r.id && x.id !== r.id)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .slice(0, MAX_CHAIN)
    .map(link);
  return { renews, renewedBy };
}
