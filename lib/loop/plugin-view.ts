import type { PluginRequest } from '../approval/types';
import type { SpendFigures } from '../budget/spend-figures';
import { type KeyRequest, normalizeEmail } from '../domain/key-request';
import { isRenewable } from '../domain/renewal';
import { MalformedSecretError, RequestNotFoundError } from '../store/errors';
import type { RequestStore } from '../store/types';

/** The request another one names (renews, tops up), or undefined when it is gone or broken. */
async function named(store: RequestStore, id: string): Promise<KeyRequest | undefined> {
  try {
    return await store.get(id);
  } catch (err) {
    if (err instanceof RequestNotFoundError || err instanceof MalformedSecretError) return undefined;
    throw err;
  }
}

const samePair = (a: KeyRequest, b: KeyRequest): boolean => normalizeEmail(a.email) === normalizeEmail(b.email) && a.model === b.model && a.id !== b.id;

/**
 * What the plugin chain sees of a request. `renews` is passed on only while it still holds when
 * the chain runs: the renewed request exists, is the same person's key for the same model, and
 * was issued (issued or expired now). The portal checked this when the renewal was made, but the
 * old key may have been revoked since, or the annotation written by hand; a renewals-only
 * whitelist must not approve on the strength of a stale or made-up link. `topUp` likewise only
 * for a key of the same person and model that is issued now. `spend`: the figures an approver
 * sees, when the loop has them.
 */
export async function pluginView(store: RequestStore, r: KeyRequest, figures?: (r: KeyRequest) => Promise<SpendFigures>): Promise<PluginRequest> {
  const view: PluginRequest = { id: r.id, email: r.email, model: r.model, ...(r.justification ? { justification: r.justification } : {}), ...(r.manager ? { manager: r.manager } : {}) };
  if (figures) view.spend = await figures(r);
  if (r.topsUp && r.topUp) {
    const key = await named(store, r.topsUp);
    if (key && samePair(key, r) && key.state === 'issued' && !key.topsUp) view.topUp = { of: key.id, amount: r.topUp.amount, ...(r.topUp.until ? { until: r.topUp.until } : {}) };
    return view;
  }
  if (!r.renews) return view;
  const old = await named(store, r.renews);
  return old && samePair(old, r) && isRenewable(old) ? { ...view, renews: old.id } : view;
}
