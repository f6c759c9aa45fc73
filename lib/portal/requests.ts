import type { User } from '../auth/roles';
import type { Config } from '../config';
import { type KeyRequest, idSchema, requesterHash, rfc3339 } from '../domain/key-request';
import { duplicateOf } from '../domain/renewal';
import { type State, isLive } from '../domain/states';
import { countDecision } from '../metrics/record';
import type { LimitChanges } from '../domain/review';
import type { TopUp } from '../domain/top-up';
import type { Policy } from '../approval/policy';
import { DecidedError, NotInReviewError, type ReviewDeps, policyOf, submitReview } from './reviews';
import { ConflictError, InvalidCursorError, RequestNotFoundError } from '../store/errors';
import type { Archive } from '../retention/archive';
import type { ChangeFeed } from '../store/change-feed';
import { oldestFirst } from '../store/ordering';
import { retryOnConflict } from '../store/retry-on-conflict';
import { collect } from '../store/collect';
import type { RequestQuery, RequestStore } from '../store/types';
import { PortalError, approversOnly, archivedError, badCursor, badInput, conflict, offboardedError, requestNotFound } from './errors';
import type { ActionLimiter } from './rate-limit';
import { KeyedLock } from '../fs/keyed-lock';
import type { PeopleStore } from '../people/types';
import { type Audience, type ListPage, type RequestView, toView } from './view';

/** Approvers read every detail; a requester reads what they can act on (lib/portal/view.ts). */
const audienceOf = (user: User): Audience => (user.approver ? 'approver' : 'requester');

export type { ListPage } from './view';

export interface PortalDeps {
  store: RequestStore;
  /** Who left: refused at creation, renewal and reveal (and offboarding writes here). */
  people?: PeopleStore;
  /** Per-caller limits on reveal and decisions; none in tests that do not ask. */
  limits?: ActionLimiter;
  config: Pick<Config, 'models' | 'mail' | 'portal' | 'approvals'> & Partial<Pick<Config, 'lifecycle'>>;
  clock?: () => Date;
  /** Tombstones of requests the retention sweep deleted: their status link says "archived". */
  archive?: Pick<Archive, 'find'>;
  /** Where a status read waits for its request to change (lib/portal/status-wait.ts); without it, reads answer at once. */
  changes?: ChangeFeed;
}

/** Per requester: a person's check-then-create runs one at a time in this process. */
const requesterLocks = new KeyedLock();

const clockOf = (deps: PortalDeps): (() => Date) => deps.clock ?? (() => new Date());

/** Which page of a listing: the `nextCursor` of the page before (none for the first), and its size. */
export interface PageParams {
  cursor?: string;
  /** 1 to 500 (lib/validations checks it); the store's default of 50 when absent. */
  limit?: number;
}

/** The approver queue's filters; absent means "any". `requester` is part of an email. */
export interface QueueFilter extends PageParams {
  state?: State | 'all';
  model?: string;
  requester?: string;
}

/** One `store.query`, shaped for callers; a cursor the store cannot use is the caller's 400. */
async function queryPage(deps: PortalDeps, q: RequestQuery, audience: Audience): Promise<ListPage> {
  try {
    const page = await deps.store.query(q);
    return {
      requests: page.items.map((r) => toView(r, deps.config, audience)),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      total: page.total,
      counts: page.counts,
    };
  } catch (err) {
    if (err instanceof InvalidCursorError) throw badCursor();
    throw err;
  }
}

const paging = (p: PageParams): Pick<RequestQuery, 'cursor' | 'limit'> => ({
  ...(p.cursor ? { cursor: p.cursor } : {}),
  ...(p.limit !== undefined ? { limit: p.limit } : {}),
});

/** Reads a request the user may see. Another user's request is "not found", exactly like a missing one. */
export async function readVisible(deps: PortalDeps, user: User, id: string): Promise<KeyRequest> {
  if (!idSchema.safeParse(id).success) throw requestNotFound(id);
  try {
    const r = await deps.store.get(id);
    if (r.email !== user.email && !user.approver) throw requestNotFound(id);
    return r;
  } catch (err) {
    if (!(err instanceof RequestNotFoundError)) throw err;
    const archived = await deps.archive?.find(id);
    if (archived && (user.approver || archived.requester === requesterHash(user.email).slice(0, 16))) throw archivedError(archived);
    throw requestNotFound(id);
  }
}

/**
 * A new request for a model. With `renews` (lib/portal/renewal.ts checked it is the user's own
 * renewable request for this model) it is a renewal: the key it renews does not count as a
 * duplicate, anything else live for the model still does.
 */
export async function createRequest(
  deps: PortalDeps,
  user: User,
  modelId: string,
  options: { renews?: KeyRequest; justification?: string; topUp?: { of: KeyRequest; topUp: TopUp }; budget?: number } = {},
): Promise<{ request: RequestView; created: boolean }> {
  if (!deps.config.models.some((m) => m.id === modelId)) {
    throw badInput('model', `"${modelId}" is not in the catalog; GET /api/models lists the models you can request`);
  }
  // A top-up always says why (lib/validations/top-up.ts); the model's policy may ask for more.
  const justification = checkJustification(policyOf(deps.config, { model: modelId }), options.justification);
  await refuseOffboarded(deps, user);
  // One person's requests one at a time in this process: two at once for different models must
  // not both pass a count that each made before the other was stored (the loop evens out replicas).
  return requesterLocks.run(user.email, async () => {
    const { requests, windowSeconds } = deps.config.portal.rateLimit;
    const nowMs = clockOf(deps)().getTime();
    const since = rfc3339(new Date(nowMs - windowSeconds * 1000));
    const own = await collect((p) => deps.store.listByRequester(user.email, p));
    const recent = own.filter((r) => r.createdAt >= since);
    const renews = options.renews?.id;
    const topsUp = options.topUp?.of.id;
    const live = duplicateOf(own.filter((r) => r.model === modelId && isLive(r.state)).sort(oldestFirst), renews ? { renews } : topsUp ? { topsUp } : {});
    if (live) throw conflict(duplicateMessage(live, modelId), toView(live, deps.config));
    if (recent.length >= requests) {
      const oldest = recent.map((r) => Date.parse(r.createdAt)).sort((a, b) => a - b)[0] ?? nowMs;
      const retry = Math.max(1, Math.ceil((oldest + windowSeconds * 1000 - nowMs) / 1000));
      throw new PortalError(429, 'rate_limited', `at most ${requests} requests per ${windowSeconds} s; try again in ${retry} s`, { retryAfterSeconds: retry });
    }
    const { request, created } = await deps.store.create({
      email: user.email,
      model: modelId,
      ...(renews ? { renews } : {}),
      ...(justification ? { justification } : {}),
      ...(user.manager ? { manager: user.manager } : {}),
      ...(options.topUp ? { topsUp: options.topUp.of.id, topUp: options.topUp.topUp } : {}),
      ...(options.budget !== undefined ? { budget: options.budget } : {}),
    });
    // A request made a moment ago by another tab or replica: the store returned it instead.
    if (!created) throw conflict(duplicateMessage(request, modelId), toView(request, deps.config));
    return { request: toView(request, deps.config), created };
  });
}

const duplicateMessage = (live: KeyRequest, modelId: string): string =>
  live.topsUp ? `a top-up of this key (request ${live.id}) is already ${live.state}; one at a time` : `you already have a ${live.state} request for ${modelId}`;

/** The model's policy asks why: a justification of at least its minimum length (400 naming the field). */
function checkJustification(policy: Policy, given: string | undefined): string | undefined {
  const text = given?.trim();
  const { required, minLength } = policy.justification;
  if (required && !text) throw badInput('justification', `${policy.name} models need a justification: say why you need the key (at least ${minLength} characters)`);
  if (required && text && text.length < minLength) throw badInput('justification', `a justification for ${policy.name} models has at least ${minLength} characters; this one has ${text.length}`);
  return text || undefined;
}

/** Refuses someone offboarded: their session may still be open, their access is not. */
export async function refuseOffboarded(deps: PortalDeps, user: User): Promise<void> {
  const record = await deps.people?.offboarded(user.email);
  if (record) throw offboardedError(record.at);
}

/** A person's own requests, newest first, one page at a time. */
export async function listOwn(deps: PortalDeps, user: User, page: PageParams = {}): Promise<ListPage> {
  return queryPage(deps, { email: user.email, order: 'newest', ...paging(page) }, audienceOf(user));
}

export async function getRequest(deps: PortalDeps, user: User, id: string): Promise<RequestView> {
  return toView(await readVisible(deps, user, id), deps.config, audienceOf(user));
}

/** The approver queue, a page at a time: in-review first, then the rest by state, newest first within a state. */
export async function listQueue(deps: PortalDeps, user: User, q: QueueFilter = {}): Promise<ListPage> {
  if (!user.approver) throw approversOnly();
  const model = q.model?.trim();
  const search = q.requester?.trim();
  return queryPage(deps, {
    order: 'queue',
    ...(q.state && q.state !== 'all' ? { state: q.state } : {}),
    ...(model ? { model } : {}),
    ...(search ? { search } : {}),
    ...paging(q),
  }, 'approver');
}

export type Decision = 'approve' | 'deny';

/**
 * A person's review of a request held for review (lib/portal/reviews.ts): an approver, the
 * requester's manager, or a delegate, as the model's policy says. Someone who may not review it
 * and is no approver learns nothing of it (404, as for any request not theirs).
 */
export async function decide(deps: PortalDeps, user: User, id: string, decision: Decision, reason: string | undefined, changes?: LimitChanges, via?: 'slack'): Promise<RequestView> {
  deps.limits?.check('decide', user.email);
  if (!idSchema.safeParse(id).success) throw requestNotFound(id);
  try {
    const reviewer = { kind: 'person' as const, email: user.email, groups: user.groups };
    const { request, changed } = await submitReview(reviewDeps(deps), id, { reviewer, decision, ...(reason ? { reason } : {}), ...(changes ? { changes } : {}), ...(via ? { via } : {}), now: clockOf(deps) });
    // An approver who clicks twice is told, not silently ignored: the second click decided nothing.
    if (!changed) throw conflict(`request ${id} is already ${request.state}`, toView(request, deps.config, 'approver'));
    return toView(request, deps.config, 'approver');
  } catch (err) {
    // Someone who is no approver, and may not review this one as a manager or delegate, learns nothing of it.
    if (!user.approver && !(err instanceof PortalError && err.code === 'own_request')) throw notYours();
    if (err instanceof RequestNotFoundError) throw requestNotFound(id);
    if (err instanceof NotInReviewError) throw conflict(err.message);
    if (err instanceof DecidedError) throw conflict(err.message, toView(err.request, deps.config, 'approver'));
    throw err;
  }
}

const notYours = (): PortalError => new PortalError(403, 'forbidden', 'only approvers, and the requester\'s manager or a delegate where the policy says so, may review a request');

/** What a review writes to, and who may stand in for whom. */
export const reviewDeps = (deps: PortalDeps): ReviewDeps => ({ store: deps.store, config: deps.config, ...(deps.people ? { people: deps.people } : {}) });

/** Still conflicting after retryOnConflict's tries: a 409 the caller can act on. */
function keepsChanging(err: unknown, id: string): void {
  if (err instanceof ConflictError) throw conflict(`request ${id} keeps changing; try again`);
}

/** Revoking an issued key: the loop deletes it at the gateway and tells the requester. */
export async function revoke(deps: PortalDeps, user: User, id: string, reason: string): Promise<RequestView> {
  if (!user.approver) throw approversOnly();
  return retryOnConflict(async () => {
    const r = await readVisible(deps, user, id);
    if (r.state !== 'issued') throw conflict(`only an issued key can be revoked; request ${id} is ${r.state}`, toView(r, deps.config, 'approver'));
    const revoked = await deps.store.update(r, { state: 'revoked', decision: 'revoked', decidedBy: `user:${user.email}`, decidedAt: rfc3339(clockOf(deps)()), reason });
    countDecision(revoked.decidedBy, 'revoke');
    return toView(revoked, deps.config, 'approver');
  }).catch((err: unknown) => {
    keepsChanging(err, id);
    throw err;
  });
}

/**
 * Portal delivery: shows the key to its requester once. The reveal is recorded with the version
 * read, so of two tabs racing, one gets the key and the other is told it was already shown. A
 * write of anything else in between (the loop, the audit trail) is read again and tried again.
 */
export async function reveal(deps: PortalDeps, user: User, id: string): Promise<{ key: string; revealedAt: string }> {
  deps.limits?.check('reveal', user.email);
  await refuseOffboarded(deps, user);
  return retryOnConflict(async () => {
    const r = await readVisible(deps, user, id);
    // Approvers see requests, never other people's keys.
    if (r.email !== user.email) throw requestNotFound(id);
    if (deps.config.mail.keyDelivery !== 'portal') throw new PortalError(409, 'conflict', 'keys are delivered by email here; look for the message that told you the key was issued');
    if (r.state !== 'issued' || !r.hasKey) throw conflict(`request ${id} is ${r.state}; there is no key to show`, toView(r, deps.config));
    if (r.revealedAt) throw new PortalError(410, 'already_revealed', `the key was already shown on ${r.revealedAt}; ask an approver to revoke it and request a new one if you lost it`);
    // The key is read first: once the reveal is recorded the loop erases it from the Secret. The
    // record is conditional on the version read, so the key returned is the one that was there.
    const key = await deps.store.readKey(id);
    if (!key) throw new PortalError(410, 'already_revealed', `request ${id} holds no key any more; ask an approver to revoke it and request a new one if you lost it`);
    const revealedAt = rfc3339(clockOf(deps)());
    await deps.store.update(r, { revealedAt });
    return { key, revealedAt };
  }).catch((err: unknown) => {
    if (err instanceof ConflictError) throw conflict('the request changed while revealing; try again');
    throw err;
  });
}
