import { limitedBy, mergedChanges } from '../approval/policy';
import type { ModelConfig } from '../config/schema';
import { type KeyRequest, keyHash, rfc3339 } from '../domain/key-request';
import type { RetryInfo } from '../domain/retry';
import { type Gateway, GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError } from '../gateway/types';
import type { Rendered } from '../mail/templates';
import { type Mailer, MailUnavailableError } from '../mail/types';
import { observeIssued } from '../metrics/record';
import { updateLatest } from '../store/retry-on-conflict';
import type { RequestChange, RequestStore } from '../store/types';
import type { LoopEvent } from './events';
import type { FailpointName } from './failpoints';
import type { Notice } from './plan';

/** Within one reconcile pass: the key it stored itself, so it is not read back from the API. */
export interface Known {
  key?: { id: string; value: string };
}

/** What issuing needs from the reconciler: its side effects and how it writes, retries and words mail. */
export interface IssueDeps {
  store: RequestStore;
  gateway: Gateway;
  mailer: Mailer;
  models: ReadonlyMap<string, ModelConfig>;
  keyDelivery: 'email' | 'portal';
  clock: () => Date;
  failpoint: (name: FailpointName) => void;
  write(r: KeyRequest, change: RequestChange, event: LoopEvent): Promise<void>;
  tell(r: KeyRequest, event: LoopEvent): void;
  retryLater(r: KeyRequest, step: RetryInfo['step'], error: string, reason: string, extra?: RequestChange): Promise<void>;
  message(r: KeyRequest, notice: Notice, known: Known): Promise<Rendered>;
}

/** The key's alias at the gateway: per request, so the key can be deleted without the key. */
export const aliasOf = (r: Pick<KeyRequest, 'id'>): string => `keyportal-${r.id}`;

const ISSUED_NOTICE: Notice = { state: 'issued', to: 'requester' };

/**
 * The key to store on an approved request, with the claim on its "your key is ready" email and the
 * finalizer that guards the key: one write, before the gateway hears of the key, so a crash or a
 * rival can only ever register this value, a rival replica waits out the claim instead of
 * emailing too, and deleting the Secret from now on deletes the key first.
 */
export function keyWithClaim(key: string, now: Date): RequestChange {
  return { key, keySha256: keyHash(key), notifying: { state: 'issued', at: rfc3339(now) }, gatewayFinalizer: true };
}

/**
 * approved with a stored key → issued, exactly once (DESIGN.md "Minting exactly once", step 3
 * amended in README "The approval loop"): register the key at the gateway unless an earlier
 * attempt did, email the requester, then record `issued` and `notified` in one write.
 *
 * `claimed`: this pass took the claim on the email (with the key). Otherwise the claim is taken
 * first: a retry, a restart, or a request stored before claims came with the key.
 *
 * A crash before the last write leaves the claim to age out (notifyClaimSeconds); the next pass
 * finds the key at the gateway and emails: at most a second copy, never a second key.
 */
export async function issue(d: IssueDeps, request: KeyRequest, signal: AbortSignal, known: Known, claimed: boolean): Promise<void> {
  const r = claimed ? request : await d.store.update(request, { notifying: { state: 'issued', at: rfc3339(d.clock()) } });
  const storedThisPass = known.key?.id === r.id;
  const key = storedThisPass ? known.key?.value : await d.store.readKey(r.id);
  if (!key) return;
  if (!storedThisPass) known.key = { id: r.id, value: key };
  const hash = r.keySha256 ?? keyHash(key);
  let expiresAt: string | undefined;
  try {
    expiresAt = await register(d, r, key, hash, storedThisPass, signal);
  } catch (err) {
    // Either way the claim is let go: nothing was sent, and the next attempt takes its own.
    if (err instanceof GatewayRefusedError) {
      await d.write(r, { state: 'failed', reason: `The gateway refused to create the key: ${err.message}`, retry: null, notifying: null }, { type: 'Warning', reason: 'GatewayRefused', message: `gateway refused (HTTP ${err.status}): ${err.message}` });
      return;
    }
    if (err instanceof GatewayUnavailableError) return d.retryLater(r, 'mint', err.message, 'GatewayUnavailable', { notifying: null });
    throw err;
  }
  d.tell(r, { type: 'Normal', reason: 'KeyMinted', message: `key keyportal-${r.id} minted at the gateway` });

  const issued: RequestChange = { state: 'issued', issuedAt: rfc3339(d.clock()), auditData: { limits: limitsFor(d, r) } };
  if (!r.keySha256) issued.keySha256 = hash;
  if (expiresAt) issued.expiresAt = expiresAt;
  // What the email says is what the request will say once recorded.
  const view: KeyRequest = { ...r, state: 'issued', issuedAt: issued.issuedAt, keySha256: hash, ...(expiresAt ? { expiresAt } : {}) };
  try {
    await d.mailer.send({ to: [r.email], ...(await d.message(view, ISSUED_NOTICE, known)) });
  } catch (err) {
    if (!(err instanceof MailUnavailableError)) throw err;
    // The key works: `issued` is recorded now, and the email retried from the issued state.
    await d.retryLater(r, 'notify', err.message, 'EmailFailed', { ...issued, notifying: null });
    observeIssued(r.createdAt, d.clock());
    return;
  }
  d.failpoint('after-email-sent');
  d.tell(view, { type: 'Normal', reason: 'EmailSent', message: 'emailed the requester about "issued"' });
  // An emailed key is delivered the moment the email leaves: erased in the same write.
  const done: RequestChange = { ...issued, notified: 'issued', notifying: null, retry: null, ...(d.keyDelivery === 'email' ? { key: null } : {}) };
  // Moved on by someone else meanwhile (an admin's label, a rival's key): that state's step
  // follows. Still moving after five tries: the next pass waits out the claim and may send once more.
  const recorded = await updateLatest(d.store, r, (current) => (current.state !== 'approved' || (current.keySha256 !== undefined && current.keySha256 !== hash) ? undefined : done));
  if (recorded) observeIssued(r.createdAt, d.clock());
  d.failpoint('after-issued');
}

/** The key's limits as minted: the model's, the budget the requester chose, lowered by any approver's changes. */
function limitsFor(d: Pick<IssueDeps, 'models'>, r: KeyRequest): ModelConfig['limits'] {
  const model = d.models.get(r.model) as ModelConfig;
  return limitedBy(r.budget !== undefined ? { ...model.limits, max_budget: r.budget } : model.limits, mergedChanges(r.reviews ?? []));
}

/** Registers the key at the gateway unless an earlier attempt (or a rival) already did; its expiry. */
async function register(d: IssueDeps, r: KeyRequest, key: string, hash: string, storedThisPass: boolean, signal: AbortSignal): Promise<string | undefined> {
  // A key this pass stored itself has had no earlier attempt; a rival that raced us to it shows
  // up as the alias conflict below. Otherwise the gateway is asked first, and an existing key's
  // expiry is the gateway's, read back, not lost.
  const existing = storedThisPass ? undefined : await d.gateway.keyInfo(hash, signal);
  if (existing) return existing.expiresAt;
  let expiresAt: string | undefined;
  try {
    ({ expiresAt } = await d.gateway.generateKey({ key, alias: aliasOf(r), model: r.model, userId: r.email, requestId: r.id, limits: limitsFor(d, r), changedBy: r.decidedBy }, signal));
  } catch (err) {
    if (!(err instanceof KeyAlreadyExistsError)) throw err;
    // Our alias is taken: by our own key (an earlier attempt, a rival replica) or not.
    const ours = await d.gateway.keyInfo(hash, signal);
    if (!ours) throw new GatewayRefusedError(409, `the alias ${aliasOf(r)} belongs to another key at the gateway`);
    expiresAt = ours.expiresAt;
  }
  d.failpoint('after-gateway-generate');
  return expiresAt;
}
