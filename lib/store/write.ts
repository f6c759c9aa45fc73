import { AUDIT_FINALIZER, GATEWAY_KEY_FINALIZER, type KeyRequest, TOP_UP_FINALIZER, acceptedState, reasonFingerprint } from '../domain/key-request';
import { factsOf } from '../audit/derive';
import { newRecord, recordsOf } from '../audit/record';
import { assertTransition } from '../domain/states';
import { ConflictError } from './errors';
import { ANNOTATION, LABEL, type SecretObject, decodeRequest } from './secret-codec';
import type { RequestChange } from './types';

/** What a write needs to know of the request it was read as. */
export type ReadRequest = Pick<
  KeyRequest,
  'id' | 'email' | 'model' | 'state' | 'resourceVersion' | 'observed' | 'reason' | 'finalizers' | 'auditPending' | 'reviews' | 'notified' | 'reminded' | 'hasKey' | 'keySha256' | 'budgetMove' | 'topsUp' | 'revealedAt' | 'deletingSince'
>;

/** A change as the fields it writes; null deletes an annotation (merge-patch semantics). */
export interface SecretPatch {
  labels: Record<string, string>;
  annotations: Record<string, string | null>;
  /** null erases the key (merge-patch semantics). */
  data?: Record<string, string | null>;
  /** The whole list (a merge patch replaces lists); null when none is left. */
  finalizers?: string[] | null;
}

/**
 * The rules every write of every store obeys, in one place:
 * - a state change is checked against the transition table from the state our code last
 *   accepted (`observed`), not from the label, which an administrator may have edited;
 * - while such an edit waits to be judged, no state is written over it (a conflict: the caller
 *   reads again, and the loop judges the edit first), except putting the accepted state back;
 * - `observed` follows every state and reason our code writes, so the next label or reason
 *   that differs is known to be an administrator's;
 * - the gateway-key finalizer is added or removed within the Secret's own list, keeping any
 *   other finalizer an administrator added;
 * - every fact the change states becomes an audit record in the same write (lib/audit/derive.ts),
 *   appended to the records not yet acknowledged, so a record exists exactly when its change does.
 */
export function toPatch(read: ReadRequest, change: RequestChange, now: Date = new Date()): SecretPatch {
  const accepted = acceptedState(read);
  if (change.acceptState !== undefined && change.acceptState !== read.state) throw new ConflictError(read.id);
  if (change.state !== undefined && change.state !== accepted) {
    if (accepted !== read.state) throw new ConflictError(read.id);
    assertTransition(accepted, change.state);
  }
  const patch: SecretPatch = { labels: {}, annotations: {} };
  if (change.state !== undefined && change.state !== read.state) patch.labels[LABEL.state] = change.state;
  const set = (key: string, value: string | null | undefined) => {
    if (value !== undefined) patch.annotations[key] = value;
  };
  set(ANNOTATION.decidedAt, change.decidedAt);
  set(ANNOTATION.decidedBy, change.decidedBy);
  set(ANNOTATION.reason, change.reason);
  set(ANNOTATION.notified, change.notified);
  set(ANNOTATION.expiresAt, change.expiresAt);
  set(ANNOTATION.trace, change.trace && JSON.stringify(change.trace));
  set(ANNOTATION.retry, change.retry === null ? null : change.retry && JSON.stringify(change.retry));
  set(ANNOTATION.notifying, change.notifying === null ? null : change.notifying && JSON.stringify(change.notifying));
  set(ANNOTATION.decision, change.decision);
  set(ANNOTATION.revealedAt, change.revealedAt);
  set(ANNOTATION.keySha256, change.keySha256);
  set(ANNOTATION.issuedAt, change.issuedAt);
  set(ANNOTATION.reminded, change.reminded?.toString());
  set(ANNOTATION.reviews, change.reviews && JSON.stringify(change.reviews));
  set(ANNOTATION.manager, change.manager);
  set(ANNOTATION.chat, change.chat === null ? null : change.chat && JSON.stringify(change.chat));
  set(ANNOTATION.budgetMove, change.budgetMove === null ? null : change.budgetMove && JSON.stringify(change.budgetMove));
  set(ANNOTATION.budgetAlert, change.budgetAlert);
  set(ANNOTATION.idleWarnedAt, change.idleWarnedAt);
  set(ANNOTATION.reviewSince, change.reviewSince);
  set(ANNOTATION.reviewDigest, change.reviewDigest && JSON.stringify(change.reviewDigest));
  const observed = { state: change.state ?? change.acceptState ?? accepted, reason: reasonFingerprint(change.reason ?? read.reason) };
  if (!read.observed || observed.state !== read.observed.state || observed.reason !== read.observed.reason) {
    set(ANNOTATION.observed, JSON.stringify(observed.reason === undefined ? { state: observed.state } : observed));
  }
  const facts = factsOf(read, change);
  let auditFinalizer: boolean | undefined = change.auditFinalizer;
  if (facts.length || change.auditAck?.length) {
    const acked = new Set(change.auditAck ?? []);
    const pending = recordsOf(read).filter((r) => !acked.has(r.id));
    for (const fact of facts) pending.push(newRecord(read.id, fact, now));
    set(ANNOTATION.audit, pending.length ? JSON.stringify(pending) : null);
    // A request from before the audit trail gets its finalizer with its first record (not once
    // it is being deleted: the API server refuses new finalizers then).
    if (facts.length && auditFinalizer === undefined && !read.deletingSince) auditFinalizer = true;
  }
  if (change.key !== undefined) patch.data = { key: change.key === null ? null : Buffer.from(change.key, 'utf8').toString('base64') };
  let finalizers = [...(read.finalizers ?? [])];
  for (const [name, wanted] of [[GATEWAY_KEY_FINALIZER, change.gatewayFinalizer], [TOP_UP_FINALIZER, change.topUpFinalizer], [AUDIT_FINALIZER, auditFinalizer]] as const) {
    if (wanted === false) finalizers = finalizers.filter((f) => f !== name);
    if (wanted && !finalizers.includes(name)) finalizers.push(name);
  }
  const before = read.finalizers ?? [];
  if (finalizers.length !== before.length || finalizers.some((f, i) => f !== before[i])) patch.finalizers = finalizers.length ? finalizers : null;
  return patch;
}

/** Applies a patch to a Secret, as the API server's merge patch does. */
export function applyPatch(secret: SecretObject, patch: SecretPatch): SecretObject {
  const annotations = { ...secret.metadata.annotations };
  for (const [k, v] of Object.entries(patch.annotations)) {
    if (v === null) delete annotations[k];
    else annotations[k] = v;
  }
  const data: Record<string, string> = { ...(secret.data ?? {}) };
  for (const [k, v] of Object.entries(patch.data ?? {})) {
    if (v === null) delete data[k];
    else data[k] = v;
  }
  const { data: _old, ...rest } = secret;
  const metadata: SecretObject['metadata'] = { ...secret.metadata, labels: { ...secret.metadata.labels, ...patch.labels }, annotations };
  if (patch.finalizers === null) delete metadata.finalizers;
  else if (patch.finalizers) metadata.finalizers = patch.finalizers;
  return { ...rest, metadata, ...(Object.keys(data).length ? { data } : {}) };
}

/**
 * Applies a change to a Secret read from storage (the local store, tests), under the same rules
 * as a write to the API server. Labels, annotations and data keys that the change does not name
 * are kept, including ones an admin added.
 */
export function applyChange(secret: SecretObject, change: RequestChange): SecretObject {
  return applyPatch(secret, toPatch(decodeRequest(secret), change));
}
