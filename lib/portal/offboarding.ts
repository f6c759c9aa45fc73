import { spoolFact } from '../audit/spool';
import { viaOf } from '../audit/derive';
import { type KeyRequest, normalizeEmail, requesterHash, rfc3339 } from '../domain/key-request';
import { isLive } from '../domain/states';
import { countDecision } from '../metrics/record';
import { ConflictError, RequestNotFoundError } from '../store/errors';
import { retryOnConflict } from '../store/retry-on-conflict';
import type { RequestChange, RequestStore } from '../store/types';
import type { User } from '../auth/roles';
import type { OffboardingRecord, PeopleStore } from '../people/types';
import { approversOnly, conflict } from './errors';
import type { PortalDeps } from './requests';

/** What offboarding writes to: the requests, and the record that keeps the person out afterwards. */
export interface OffboardDeps {
  store: RequestStore;
  people: PeopleStore;
}

/**
 * Offboarding: someone left, so nothing they hold may keep working. The one code path behind
 * the signed webhook, the approvers' "revoke all keys of this person" and (by the same labels)
 * kubectl. It only writes states; the loop does the rest as for any revoke: deletes each key at
 * the gateway by alias, then emails the requester once, exactly as DESIGN.md's loop promises.
 *
 * Per state, along the transition table (lib/domain/states.ts):
 * - `issued` → `revoked`: a key exists; `revoked` is the state that says "taken away".
 * - `pending`, `in-review`, `approved` → `denied`: no key was delivered, and the table allows
 *   `revoked` only from `issued`. `denied` is the final state that mints nothing: a pending
 *   request never reaches the plugins, an approved one is not minted, and an approved one that a
 *   mint attempt already registered is cleaned up at the gateway by the loop's denied path.
 * - `denied`, `revoked`, `expired`: already over. `failed` holds no key either and is left
 *   alone: its only way on is an administrator relabelling it, which is theirs to judge.
 */
export interface OffboardInput {
  email: string;
  /** What the requester and the audit trail read. */
  reason: string;
  /** `user:<email>` (an approver) or `webhook:<client>`. */
  decidedBy: string;
  now: () => Date;
  /**
   * When the caller decided it (the webhook's signed timestamp). An offboarding lifted since then
   * is not put back: a replay of a captured call, or one that arrived late, cannot undo letting
   * someone back in.
   */
  decidedAt?: string;
}

export interface OffboardResult {
  email: string;
  /** The person is recorded as offboarded from now on (false: a record already stood, or a lift since the signed time wins). */
  recorded: boolean;
  /** Issued keys now revoked: each is deleted at the gateway and emailed about by the loop. */
  revoked: string[];
  /** Open requests now denied, none of which will be minted. */
  closed: string[];
  /** False when nothing needed doing: a repeat of the same offboarding, or a person with nothing live. */
  changed: boolean;
}

export interface OffboardPreview {
  email: string;
  issued: number;
  open: number;
  /** The standing offboarding, if any. */
  offboarded?: OffboardingRecord;
}

/** Pages of one person's requests; one person holds a few, so collecting them first is cheap and keeps paging stable while they change. */
async function requestsOf(store: RequestStore, email: string): Promise<KeyRequest[]> {
  const out: KeyRequest[] = [];
  let token: string | undefined;
  do {
    const page = await store.listByRequester(email, { limit: 250, ...(token ? { continue: token } : {}) });
    out.push(...page.items);
    token = page.continue;
  } while (token);
  return out;
}

/**
 * What offboarding ends: every live request, except a top-up already applied, whose budget goes
 * with its key when the key is revoked (putting it back first would only send a second email).
 */
const endsAtOffboarding = (r: KeyRequest): boolean => isLive(r.state) && !(r.topsUp && r.state === 'issued');

/** What offboarding this person would change now: the approvers' confirmation shows it before they commit. */
export async function previewOffboarding(deps: OffboardDeps, email: string): Promise<OffboardPreview> {
  const live = (await requestsOf(deps.store, email)).filter(endsAtOffboarding);
  const issued = live.filter((r) => r.state === 'issued').length;
  const offboarded = await deps.people.offboarded(email);
  return { email: normalizeEmail(email), issued, open: live.length - issued, ...(offboarded ? { offboarded } : {}) };
}

/**
 * Records the person as offboarded, then ends what they hold. The record comes first: from that
 * moment sign-in, sessions, new requests, renewals and reveals refuse them on every replica, and
 * a request created in the instant between is denied by the loop before any plugin sees it.
 */
export async function offboard(deps: OffboardDeps, input: OffboardInput): Promise<OffboardResult> {
  const { store } = deps;
  const email = normalizeEmail(input.email);
  const existing = await deps.people.offboardingOf(email);
  const result: OffboardResult = { email, recorded: false, revoked: [], closed: [], changed: false };
  if (input.decidedAt && existing?.lifted && existing.lifted.at >= input.decidedAt) return result;
  ({ changed: result.recorded } = await deps.people.recordOffboarding({ email, at: rfc3339(input.now()), by: input.decidedBy, reason: input.reason }));
  if (result.recorded) await spoolFact(store, `person:${requesterHash(email)}`, { type: 'person.offboarded', data: { person: email, by: input.decidedBy, via: viaOf(input.decidedBy), reason: input.reason } }, input.now());
  const candidates = (await requestsOf(store, email)).filter(endsAtOffboarding);
  for (const candidate of candidates) {
    // Each request is re-read on a conflict: the loop may have moved it on (approved → issued)
    // since it was listed, and what it is now decides between revoked and denied.
    const ended = await retryOnConflict(async () => {
      const r = await store.get(candidate.id).catch((err: unknown) => {
        // Deleted since it was listed (an admin's kubectl delete): nothing left to end.
        if (err instanceof RequestNotFoundError) return undefined;
        throw err;
      });
      if (!r || !endsAtOffboarding(r)) return undefined;
      const decidedAt = rfc3339(input.now());
      const change: RequestChange =
        r.state === 'issued'
          ? { state: 'revoked', decision: 'revoked', decidedBy: input.decidedBy, decidedAt, reason: input.reason }
          : { state: 'denied', decision: 'denied', decidedBy: input.decidedBy, decidedAt, reason: input.reason };
      await store.update(r, change);
      return change.state;
    }).catch((err: unknown) => {
      if (err instanceof ConflictError) throw conflict(`request ${candidate.id} of ${email} keeps changing; send the offboarding again (it is safe to repeat)`);
      throw err;
    });
    if (ended === 'revoked') result.revoked.push(candidate.id);
    if (ended === 'denied') result.closed.push(candidate.id);
    if (ended) countDecision(input.decidedBy, ended === 'revoked' ? 'revoke' : 'deny');
  }
  result.changed = result.recorded || result.revoked.length + result.closed.length > 0;
  return result;
}

export interface LiftResult {
  email: string;
  /** False when no offboarding stood. */
  changed: boolean;
  record?: OffboardingRecord;
}

/** Lets someone back in (rehired, a mistake): recorded beside the offboarding. Their ended requests stay ended. */
export async function liftOffboarding(deps: OffboardDeps, input: { email: string; reason: string; liftedBy: string; now: () => Date }): Promise<LiftResult> {
  const email = normalizeEmail(input.email);
  const { record, changed } = await deps.people.liftOffboarding({ email, at: rfc3339(input.now()), by: input.liftedBy, reason: input.reason });
  if (changed) await spoolFact(deps.store, `person:${requesterHash(email)}`, { type: 'person.readmitted', data: { person: email, by: input.liftedBy, via: viaOf(input.liftedBy), reason: input.reason } }, input.now());
  return { email, changed, ...(record ? { record } : {}) };
}

/** The approver queue's "let back in". */
export async function liftPerson(deps: PortalDeps, user: User, email: string, reason: string): Promise<LiftResult> {
  if (!user.approver) throw approversOnly();
  deps.limits?.check('decide', user.email);
  return liftOffboarding(peopleDeps(deps), { email, reason, liftedBy: `user:${user.email}`, now: deps.clock ?? (() => new Date()) });
}

/** Who is offboarded (and who was let back in), newest first: approvers only. */
export async function listOffboarded(deps: PortalDeps, user: User): Promise<OffboardingRecord[]> {
  if (!user.approver) throw approversOnly();
  return peopleDeps(deps).people.listOffboardings();
}

/** Offboarding needs the people store beside the requests. */
function peopleDeps(deps: PortalDeps): OffboardDeps {
  if (!deps.people) throw new Error('offboarding needs the people store (PortalDeps.people)');
  return { store: deps.store, people: deps.people };
}

/** The approver queue's "revoke all keys of this person" (after its confirmation step). */
export async function offboardPerson(deps: PortalDeps, user: User, email: string, reason: string): Promise<OffboardResult> {
  if (!user.approver) throw approversOnly();
  deps.limits?.check('decide', user.email);
  return offboard(peopleDeps(deps), { email, reason, decidedBy: `user:${user.email}`, now: deps.clock ?? (() => new Date()) });
}

/** What the confirmation step shows: approvers only, as the queue is. */
export async function previewOffboardPerson(deps: PortalDeps, user: User, email: string): Promise<OffboardPreview> {
  if (!user.approver) throw approversOnly();
  return previewOffboarding(peopleDeps(deps), email);
}
