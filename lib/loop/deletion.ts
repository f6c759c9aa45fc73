import { type KeyRequest, rfc3339 } from '../domain/key-request';
import type { RetryInfo } from '../domain/retry';
import { type Gateway, GatewayRefusedError, GatewayUnavailableError } from '../gateway/types';
import { log } from '../log';
import type { Rendered } from '../mail/templates';
import { type Mailer, MailUnavailableError } from '../mail/types';
import type { RequestChange, RequestStore } from '../store/types';
import type { LoopEvent } from './events';
import { aliasOf } from './issue';
import type { Notice } from './plan';

/** What finalizing a deleted request needs from the reconciler. */
export interface DeletionDeps {
  store: RequestStore;
  gateway: Gateway;
  mailer: Mailer;
  clock: () => Date;
  /** An email that keeps failing this long is given up on: the key is already gone. */
  giveUpAfterSeconds: number;
  write(r: KeyRequest, change: RequestChange, event: LoopEvent): Promise<void>;
  tell(r: KeyRequest, event: LoopEvent): void;
  retryLater(r: KeyRequest, step: RetryInfo['step'], error: string, reason: string, extra?: RequestChange): Promise<void>;
  message(r: KeyRequest, notice: Notice): Promise<Rendered>;
}

export const DELETED_REASON = 'The request was deleted by an administrator, so its key was deleted at the gateway.';

/**
 * `kubectl delete secret keyreq-<id>` on a request that guards a key: the API server keeps the
 * Secret (deletionTimestamp set) while our finalizer is on it. The key is deleted at the gateway
 * by alias (already gone counts), the requester of a key that worked is told once, and only then
 * the finalizer goes, and the Secret with it. With the gateway down nothing is let go: it is
 * retried with backoff, and a Warning Event says that the key is still live.
 */
export async function finalizeDeleted(d: DeletionDeps, r: KeyRequest, notice: Notice | undefined, signal: AbortSignal): Promise<void> {
  try {
    await d.gateway.deleteKey(aliasOf(r), { signal, changedBy: 'keyportal' });
  } catch (err) {
    const why = err instanceof GatewayRefusedError ? `the gateway refused to delete the key (HTTP ${err.status}): ${err.message}` : err instanceof GatewayUnavailableError ? err.message : undefined;
    if (why === undefined) throw err;
    return d.retryLater(r, 'revoke', `the request Secret is being deleted but its key is still live at the gateway: ${why}`, 'DeletionBlocked');
  }
  let current = r;
  if (notice) {
    const told = await tellRequester(d, r, notice);
    if (!told) return;
    current = told;
  }
  await d.write(current, { gatewayFinalizer: false, audit: [{ type: 'key.deleted', data: { alias: aliasOf(r), why: 'the request Secret was deleted', state: r.state, ...(notice ? { requesterTold: true } : {}) } }] }, { type: 'Normal', reason: 'KeyDeleted', message: `the request Secret was deleted: its key ${aliasOf(r)} was deleted at the gateway${notice ? ' and the requester told' : ''}` });
  log('info', 'loop: a deleted request let go after its key was deleted at the gateway', { request: r.id, state: r.state });
}

/** Claims and sends; the request as written when the finalizer may go (sent, or given up on after the retry budget), else undefined. */
async function tellRequester(d: DeletionDeps, r: KeyRequest, notice: Notice): Promise<KeyRequest | undefined> {
  const claimed = await d.store.update(r, { notifying: { state: notice.state, at: rfc3339(d.clock()) } });
  // An issued key's requester reads why it stopped working; a revocation not yet told keeps its own reason.
  const view: KeyRequest = r.state === 'issued' ? { ...claimed, state: 'revoked', reason: DELETED_REASON } : claimed;
  try {
    await d.mailer.send({ to: [r.email], ...(await d.message(view, notice)) });
    d.tell(claimed, { type: 'Normal', reason: 'EmailSent', message: `emailed the requester about "${notice.state}" (the request was deleted)` });
    return claimed;
  } catch (err) {
    if (!(err instanceof MailUnavailableError)) throw err;
    const since = claimed.retry?.since;
    if (since && d.clock().getTime() - Date.parse(since) >= d.giveUpAfterSeconds * 1000) {
      d.tell(claimed, { type: 'Warning', reason: 'EmailFailed', message: `gave up telling the requester that the deleted request's key is gone: ${err.message}`.slice(0, 500) });
      return claimed;
    }
    await d.retryLater(claimed, 'revoke', `the key was deleted at the gateway, but the email could not be sent: ${err.message}`, 'EmailFailed', { notifying: null });
    return undefined;
  }
}
