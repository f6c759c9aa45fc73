import type { User } from '../auth/roles';
import type { KeyRequest } from '../domain/key-request';
import { type RenewalChain, RENEWABLE_STATES, chainOf, isRenewable } from '../domain/renewal';
import { conflict, requestNotFound } from './errors';
import { type PortalDeps, createRequest, readVisible } from './requests';
import { type RequestView, toView } from './view';
import { checkChosenBudget } from './renewal-proposal';

/** Reads a request only its requester may act on: anyone else's is "not found", as elsewhere. */
async function readOwn(deps: PortalDeps, user: User, id: string): Promise<KeyRequest> {
  const r = await readVisible(deps, user, id);
  if (r.email !== user.email) throw requestNotFound(id);
  return r;
}

/**
 * One click: a new request for the same model, linked to the old one (`keyportal.dev/renews`).
 * It goes through the plugin chain like any request; the old key keeps working until its own
 * expiry. Only the requester renews, and only a key that was issued (issued or expired): a
 * revoked key stays revoked. The rate limit and the duplicate rule apply as to any request, so a
 * second renewal while one is on its way is refused (409, naming the one under way).
 */
export async function renewRequest(deps: PortalDeps, user: User, id: string, chosen: { maxBudget?: number } = {}): Promise<RequestView> {
  const old = await readOwn(deps, user, id);
  if (!isRenewable(old)) {
    throw conflict(`request ${id} is ${old.state}; only ${RENEWABLE_STATES.join(' or ')} keys can be renewed. Request the model again from the catalog instead`, toView(old, deps.config));
  }
  // Someone decided against this person and model since: a renewal of the older key would get
  // round that decision (a renewals-only whitelist approves it unseen).
  const { items } = await deps.store.query({ email: old.email, model: old.model, limit: 500 });
  const overruled = items.find((r) => r.createdAt > old.createdAt && (r.state === 'revoked' || (r.state === 'denied' && r.decidedBy !== 'duplicate')));
  if (overruled) {
    throw conflict(`request ${overruled.id} for ${old.model}, newer than this one, was ${overruled.state}${overruled.decidedAt ? ` on ${overruled.decidedAt.slice(0, 10)}` : ''}; renewing this older key would get round that. Request the model again from the catalog, or ask an approver`, toView(old, deps.config));
  }
  // The requester may size the new key from the old one's use (GET …/renewal-proposal), within the tier.
  const budget = checkChosenBudget(deps, old, chosen.maxBudget);
  // A renewal keeps the reason given for the key it renews (the policy may ask for one).
  const { request } = await createRequest(deps, user, old.model, { renews: old, ...(old.justification ? { justification: old.justification } : {}), ...(budget !== undefined ? { budget } : {}) });
  return request;
}

/** The renewal chain around a request its viewer may see (the requester, or an approver). */
export async function renewalChain(deps: PortalDeps, user: User, id: string): Promise<RenewalChain> {
  const r = await readVisible(deps, user, id);
  // The pair's requests come from the store's index (one lookup), never a namespace listing.
  const { items } = await deps.store.query({ email: r.email, model: r.model, limit: 500 });
  return chainOf(r, items);
}
