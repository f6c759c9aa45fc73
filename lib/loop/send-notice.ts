import type { AuditFact } from '../audit/record';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import type { RetryInfo } from '../domain/retry';
import { type Mailer, MailUnavailableError } from '../mail/types';
import { updateLatest } from '../store/retry-on-conflict';
import type { RequestChange, RequestStore } from '../store/types';
import type { LoopEvent } from './events';
import type { FailpointName } from './failpoints';
import { type Known, aliasOf } from './issue';
import { type NoticeDeps, noticeMessage, recipients } from './notices';
import type { Notice } from './plan';

/** What emailing a notice needs from the reconciler. */
export interface SendNoticeDeps {
  store: RequestStore;
  mailer: Mailer;
  notices: NoticeDeps;
  keyDelivery: 'email' | 'portal';
  clock: () => Date;
  failpoint: (name: FailpointName) => void;
  tell(r: KeyRequest, event: LoopEvent): void;
  retryLater(r: KeyRequest, step: RetryInfo['step'], error: string, reason: string, extra?: RequestChange): Promise<void>;
}

/** The audit record of a key deleted at the gateway. */
export const keyDeleted = (r: KeyRequest, why: string): AuditFact => ({ type: 'key.deleted', data: { alias: aliasOf(r), why } });

/**
 * A revocation or expiry is emailed only after the key was deleted at the gateway (plan.ts), so
 * the write that records the email also lets go of what guarded the key: the finalizer and any
 * key still stored.
 */
function gatewayGone(r: KeyRequest, notice: Notice): RequestChange {
  if (notice.state !== 'revoked' && notice.state !== 'expired') return {};
  return { gatewayFinalizer: false, ...(r.hasKey ? { key: null } : {}), audit: [keyDeleted(r, notice.state)] };
}

/**
 * Emails once per state: claim the send with the read resourceVersion (only one replica can
 * win that write), send, then record `notified`. A claim older than notifyClaimSeconds belongs
 * to a replica that died mid-send, and is taken over: a crash can cost a duplicate, never a loss.
 */
export async function notify(d: SendNoticeDeps, r: KeyRequest, notice: Notice, known: Known): Promise<void> {
  if (recipients(d.notices, r, notice).length === 0) {
    await d.store.update(r, { notified: notice.state, notifying: null, ...gatewayGone(r, notice) });
    return;
  }
  const claimed = await d.store.update(r, { notifying: { state: notice.state, at: rfc3339(d.clock()) } });
  await send(d, claimed, notice, known);
}

/** Sends with the claim held, then records `notified`, even if the request moved meanwhile. */
async function send(d: SendNoticeDeps, r: KeyRequest, notice: Notice, known: Known): Promise<void> {
  const to = recipients(d.notices, r, notice);
  try {
    await d.mailer.send({ to: [...to], ...(await noticeMessage(d.notices, r, notice, known)) });
  } catch (err) {
    if (err instanceof MailUnavailableError) return d.retryLater(r, 'notify', err.message, 'EmailFailed', { notifying: null });
    throw err;
  }
  d.failpoint('after-email-sent');
  d.tell(r, { type: 'Normal', reason: 'EmailSent', message: `emailed ${notice.to === 'requester' ? 'the requester' : `${to.length} approver(s)`} about "${notice.state}"` });
  // Still moving after five tries: the next pass sees an old claim and may send once more.
  await updateLatest(d.store, r, (current) => {
    if (current.notified === notice.state) return undefined;
    // An emailed key is delivered the moment the email leaves: erased in the same write.
    const erase = notice.state === 'issued' && d.keyDelivery === 'email' && current.hasKey;
    return { notified: notice.state, notifying: null, retry: null, ...(erase ? { key: null } : {}), ...gatewayGone(current, notice) };
  });
}
