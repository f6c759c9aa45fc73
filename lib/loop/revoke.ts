import { closeOpenTopUps } from '../budget/top-up-steps';
import type { KeyRequest } from '../domain/key-request';
import { type Gateway, GatewayRefusedError, GatewayUnavailableError } from '../gateway/types';
import type { RequestChange } from '../store/types';
import type { LoopEvent } from './events';
import { type Known, aliasOf } from './issue';
import type { Notice } from './plan';
import { type SendNoticeDeps, keyDeleted, notify } from './send-notice';

/** What deleting a key at the gateway needs from the reconciler. */
export interface RevokeDeps extends SendNoticeDeps {
  gateway: Pick<Gateway, 'deleteKey'>;
  write(r: KeyRequest, change: RequestChange, event?: LoopEvent): Promise<void>;
}

/**
 * A revoked or expired request's key (or a key left behind by an ended one) is deleted at the
 * gateway by alias; only then is the requester told, or, with nobody to tell, the key let go of.
 */
export async function deleteAtGateway(d: RevokeDeps, r: KeyRequest, notice: Notice | undefined, signal: AbortSignal, known: Known): Promise<void> {
  try {
    await d.gateway.deleteKey(aliasOf(r), { signal, ...(r.decidedBy ? { changedBy: r.decidedBy } : {}) });
  } catch (err) {
    // A key that may still work is never reported as revoked: both kinds of failure retry.
    if (err instanceof GatewayUnavailableError) return d.retryLater(r, 'revoke', err.message, 'GatewayUnavailable');
    if (err instanceof GatewayRefusedError) return d.retryLater(r, 'revoke', `the gateway refused to delete the key (HTTP ${err.status}): ${err.message}`, 'GatewayRefused');
    throw err;
  }
  if (notice) {
    await closeOpenTopUps(d.store, r, d.clock());
    await notify(d, r, notice, known);
  } else await d.write(r, { key: null, retry: null, gatewayFinalizer: false, audit: [keyDeleted(r, r.state)] }, { type: 'Normal', reason: 'KeyErased', message: 'no key left at the gateway; removed from the Secret' });
}
