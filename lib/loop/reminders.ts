import { type KeyRequest, rfc3339 } from '../domain/key-request';
import { isLive } from '../domain/states';
import { reminderMessage } from '../mail/reminder';
import type { TemplateContext } from '../mail/templates';
import { type Mailer, MailUnavailableError } from '../mail/types';
import { updateLatest } from '../store/retry-on-conflict';
import type { RequestChange, RequestStore } from '../store/types';
import type { EventRecorder } from './events';
import type { FailpointName } from './failpoints';

export interface ReminderDeps {
  store: RequestStore;
  mailer: Mailer;
  events: EventRecorder;
  clock: () => Date;
  failpoint: (name: FailpointName) => void;
  context: (r: KeyRequest) => TemplateContext;
  /** The reconciler's backoff for a failed send (step `notify`), with `extra` in the same write. */
  retryLater: (r: KeyRequest, error: string, extra: RequestChange) => Promise<void>;
}

/**
 * Sends the expiry reminder `days` before expiry, once, with the discipline of every other email:
 * claim it with the version read (`notifying` with `reminder`; of two replicas only one write
 * wins), send, then record `reminded`. A claim left by a replica that died mid-send stands for
 * notifyClaimSeconds and is then taken over (plan.ts): a crash can cost a duplicate, never a loss.
 */
export async function remind(deps: ReminderDeps, r: KeyRequest, days: number): Promise<void> {
  if (!r.expiresAt) return;
  // Already renewed (the renewal is on its way or issued): a "renew now" email would only confuse.
  // Recorded as done all the same; should the renewal be denied, the next reminder still comes.
  if (await renewalUnderway(deps.store, r)) {
    const updated = await deps.store.update(r, { reminded: days, notifying: null });
    await deps.events.record(updated, { type: 'Normal', reason: 'ReminderSkipped', message: `no ${days}-day expiry reminder: a renewal is already under way` });
    return;
  }
  const claimed = await deps.store.update(r, { notifying: { state: 'issued', at: rfc3339(deps.clock()), reminder: days } });
  deps.failpoint('after-reminder-claimed');
  const expiresAt = r.expiresAt;
  try {
    await deps.mailer.send({ to: [r.email], ...reminderMessage({ ...claimed, expiresAt }, deps.context(claimed), deps.clock()) });
  } catch (err) {
    if (err instanceof MailUnavailableError) return deps.retryLater(claimed, err.message, { notifying: null });
    throw err;
  }
  deps.failpoint('after-reminder-sent');
  await deps.events.record(claimed, { type: 'Normal', reason: 'ReminderSent', message: `emailed the requester: the key expires at ${expiresAt} (${days}-day reminder)` });
  // Still moving after five tries: the next pass sees an old claim and may send once more.
  await updateLatest(deps.store, claimed, (current) => ((current.reminded ?? Number.POSITIVE_INFINITY) <= days || current.state !== 'issued' ? undefined : { reminded: days, notifying: null, retry: null }));
}

/** Whether a live request renews this one (the pair's requests come from the store's index). */
async function renewalUnderway(store: RequestStore, r: KeyRequest): Promise<boolean> {
  const { items } = await store.query({ email: r.email, model: r.model, limit: 500 });
  return items.some((x) => x.renews === r.id && isLive(x.state));
}
