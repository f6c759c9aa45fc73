import type { PluginRequest } from '../approval/types';
import { type KeyRequest, normalizeEmail } from '../domain/key-request';
import { isRenewable } from '../domain/renewal';
import { MalformedSecretError, RequestNotFoundError } from '../store/errors';
import type { RequestStore } from '../store/types';

/**
 * What the plugin chain sees of a request. `renews` is passed on only while it still holds when
 * the chain runs: the renewed request exists, is the same person's key for the same model, and
 * was issued (issued or expired now). The portal checked this when the renewal was made, but the
 * old key may have been revoked since, or the annotation written by hand; a renewals-only
 * whitelist must not approve on the strength of a stale or made-up link.
 */
export async function pluginView(store: RequestStore, r: KeyRequest): Promise<PluginRequest> {
  const view: PluginRequest = { id: r.id, email: r.email, model: r.model, ...(r.justification ? { justification: r.justification } : {}), ...(r.manager ? { manager: r.manager } : {}) };
  if (!r.renews) return view;
  let old: KeyRequest;
  try {
    old = await store.get(r.renews);
  } catch (err) {
    if (err instanceof RequestNotFoundError || err instanceof MalformedSecretError) return view;
    throw err;
  }
  const same = normalizeEmail(old.email) === normalizeEmail(r.email) && old.model === r.model && old.id !== r.id;
  return same && isRenewable(old) ? { ...view, renews: old.id } : view;
}
