import type { User } from '../auth/roles';
import type { Config } from '../config';
import { type KeyRequest, idSchema, rfc3339 } from '../domain/key-request';
import { type State, isLive } from '../domain/states';
import { ConflictError, RequestNotFoundError } from '../store/errors';
import type { Page, PageOptions, RequestStore } from '../store/types';
import type { QueueQuery } from '../validations/requests';
import { PortalError, approversOnly, badInput, conflict, requestNotFound } from './errors';
import { type RequestView, toView } from './view';

export interface PortalDeps {
  store: RequestStore;
  config: Pick<Config, 'models' | 'mail' | 'portal'>;
  clock?: () => Date;
}

/** Listings stop here: a person's requests or a queue this long is a problem to page, not to render. */
const MAX_PAGES = 20;
const PAGE = 250;

async function all(list: (page: PageOptions) => Promise<Page>): Promise<KeyRequest[]> {
  const out: KeyRequest[] = [];
  let token: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await list({ limit: PAGE, ...(token ? { continue: token } : {}) });
    out.push(...page.items);
    token = page.continue;
    if (!token) break;
  }
  return out;
}

const clockOf = (deps: PortalDeps): (() => Date) => deps.clock ?? (() => new Date());

const newestFirst = (a: KeyRequest, b: KeyRequest) => b.createdAt.localeCompare(a.createdAt);

/** Reads a request the user may see. Another user's request is "not found", exactly like a missing one. */
async function readVisible(deps: PortalDeps, user: User, id: string): Promise<KeyRequest> {
  if (!idSchema.safeParse(id).success) throw requestNotFound(id);
  try {
    const r = await deps.store.get(id);
    if (r.email !== user.email && !user.approver) throw requestNotFound(id);
    return r;
  } catch (err) {
    if (err instanceof RequestNotFoundError) throw requestNotFound(id);
    throw err;
  }
}

export async function createRequest(deps: PortalDeps, user: User, modelId: string): Promise<{ request: RequestView; created: boolean }> {
  if (!deps.config.models.some((m) => m.id === modelId)) {
    throw badInput('model', `"${modelId}" is not in the catalog; GET /api/models lists the models you can request`);
  }
  const { requests, windowSeconds } = deps.config.portal.rateLimit;
  const nowMs = clockOf(deps)().getTime();
  const since = rfc3339(new Date(nowMs - windowSeconds * 1000));
  const own = await all((p) => deps.store.listByRequester(user.email, p));
  const recent = own.filter((r) => r.createdAt >= since);
  const live = own.find((r) => r.model === modelId && isLive(r.state));
  if (live) throw conflict(`you already have a ${live.state} request for ${modelId}`, toView(live, deps.config));
  if (recent.length >= requests) {
    const oldest = recent.map((r) => Date.parse(r.createdAt)).sort((a, b) => a - b)[0] ?? nowMs;
    const retry = Math.max(1, Math.ceil((oldest + windowSeconds * 1000 - nowMs) / 1000));
    throw new PortalError(429, 'rate_limited', `at most ${requests} requests per ${windowSeconds} s; try again in ${retry} s`, { retryAfterSeconds: retry });
  }
  const { request, created } = await deps.store.create({ email: user.email, model: modelId });
  // A request made a moment ago by another tab or replica: the store returned it instead.
  if (!created) throw conflict(`you already have a ${request.state} request for ${modelId}`, toView(request, deps.config));
  return { request: toView(request, deps.config), created };
}

export async function listOwn(deps: PortalDeps, user: User): Promise<RequestView[]> {
  const own = await all((p) => deps.store.listByRequester(user.email, p));
  return own.sort(newestFirst).map((r) => toView(r, deps.config));
}

export async function getRequest(deps: PortalDeps, user: User, id: string): Promise<RequestView> {
  return toView(await readVisible(deps, user, id), deps.config);
}

const QUEUE_ORDER: readonly State[] = ['in-review', 'pending', 'approved', 'failed', 'issued', 'denied', 'revoked', 'expired'];

/** The approver queue: in-review first, then the rest by state, newest first within a state. */
export async function listQueue(deps: PortalDeps, user: User, q: QueueQuery): Promise<RequestView[]> {
  if (!user.approver) throw approversOnly();
  const state = q.state;
  // One listing, not one per state: the queue is polled every few seconds by every approver.
  const items = await all((p) => (state === 'all' ? deps.store.listAll(p) : deps.store.listByState(state, p)));
  const model = q.model.trim();
  const requester = q.requester.trim().toLowerCase();
  return items
    .filter((r) => (!model || r.model === model) && (!requester || r.email.includes(requester)))
    .sort((a, b) => QUEUE_ORDER.indexOf(a.state) - QUEUE_ORDER.indexOf(b.state) || newestFirst(a, b))
    .map((r) => toView(r, deps.config));
}

export type Decision = 'approve' | 'deny';

/**
 * Records a decision on an undecided request (pending or in-review), re-reading on a conflict
 * with the loop or another approver. `changed: false` means it was already decided the same way.
 */
export async function applyDecision(
  store: RequestStore,
  id: string,
  decision: Decision,
  decidedBy: string,
  reason: string | undefined,
  now: () => Date,
): Promise<{ request: KeyRequest; changed: boolean }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await store.get(id);
    if (r.state === 'pending' || r.state === 'in-review') {
      const state = decision === 'approve' ? 'approved' : 'denied';
      try {
        const request = await store.update(r, {
          state,
          decidedBy,
          decidedAt: rfc3339(now()),
          reason: reason ?? (decision === 'approve' ? 'Approved' : 'Denied'),
        });
        return { request, changed: true };
      } catch (err) {
        if (err instanceof ConflictError) continue;
        throw err;
      }
    }
    const same = decision === 'approve' ? ['approved', 'issued'].includes(r.state) : r.state === 'denied';
    if (same) return { request: r, changed: false };
    throw new DecidedError(r);
  }
  throw conflict(`request ${id} keeps changing; try again`);
}

/** The request was already decided the other way (or has ended). */
export class DecidedError extends Error {
  override readonly name = 'DecidedError';
  constructor(readonly request: KeyRequest) {
    super(`request ${request.id} is already ${request.state}${request.decidedBy ? ` (by ${request.decidedBy})` : ''}`);
  }
}

export async function decide(deps: PortalDeps, user: User, id: string, decision: Decision, reason: string | undefined): Promise<RequestView> {
  if (!user.approver) throw approversOnly();
  await readVisible(deps, user, id);
  try {
    const { request, changed } = await applyDecision(deps.store, id, decision, `user:${user.email}`, reason, clockOf(deps));
    // An approver who clicks twice is told, not silently ignored: the second click decided nothing.
    if (!changed) throw conflict(`request ${id} is already ${request.state}`, toView(request, deps.config));
    return toView(request, deps.config);
  } catch (err) {
    if (err instanceof DecidedError) throw conflict(err.message, toView(err.request, deps.config));
    throw err;
  }
}

/** Revoking an issued key: the loop deletes it at the gateway and tells the requester. */
export async function revoke(deps: PortalDeps, user: User, id: string, reason: string): Promise<RequestView> {
  if (!user.approver) throw approversOnly();
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await readVisible(deps, user, id);
    if (r.state !== 'issued') throw conflict(`only an issued key can be revoked; request ${id} is ${r.state}`, toView(r, deps.config));
    try {
      const updated = await deps.store.update(r, { state: 'revoked', decidedBy: `user:${user.email}`, decidedAt: rfc3339(clockOf(deps)()), reason });
      return toView(updated, deps.config);
    } catch (err) {
      if (err instanceof ConflictError) continue;
      throw err;
    }
  }
  throw conflict(`request ${id} keeps changing; try again`);
}

/**
 * Portal delivery: shows the key to its requester once. The reveal is recorded with the version
 * read, so of two tabs racing, one gets the key and the other is told it was already shown.
 */
export async function reveal(deps: PortalDeps, user: User, id: string): Promise<{ key: string; revealedAt: string }> {
  const r = await readVisible(deps, user, id);
  // Approvers see requests, never other people's keys.
  if (r.email !== user.email) throw requestNotFound(id);
  if (deps.config.mail.keyDelivery !== 'portal') throw new PortalError(409, 'conflict', 'keys are delivered by email here; look for the message that told you the key was issued');
  if (r.state !== 'issued' || !r.hasKey) throw conflict(`request ${id} is ${r.state}; there is no key to show`, toView(r, deps.config));
  if (r.revealedAt) throw new PortalError(410, 'already_revealed', `the key was already shown on ${r.revealedAt}; ask an approver to revoke it and request a new one if you lost it`);
  const revealedAt = rfc3339(clockOf(deps)());
  try {
    await deps.store.update(r, { revealedAt });
  } catch (err) {
    if (err instanceof ConflictError) {
      const again = await deps.store.get(id);
      if (again.revealedAt) throw new PortalError(410, 'already_revealed', `the key was already shown on ${again.revealedAt}`);
      throw conflict('the request changed while revealing; try again');
    }
    throw err;
  }
  const key = await deps.store.readKey(id);
  if (!key) throw conflict(`request ${id} holds no key`);
  return { key, revealedAt };
}
