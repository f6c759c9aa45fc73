import type { User } from '../auth/roles';
import { ceilingFor, round2 } from '../budget/ceiling';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import { type TopUp, holdsBudget, isTopUp, usd } from '../domain/top-up';
import type { UsageCache } from '../gateway/usage-cache';
import type { TopUpBody } from '../validations/top-up';
import { PortalError, beyondPolicy, conflict, requestNotFound } from './errors';
import { type PortalDeps, createRequest, readVisible } from './requests';
import { type RequestView, toView } from './view';

export interface TopUpDeps extends PortalDeps {
  usage: UsageCache;
}

/** One top-up of a key, as its status page lists them. */
export interface TopUpView {
  id: string;
  state: KeyRequest['state'];
  amount: number;
  until?: string;
  reason?: string;
  createdAt: string;
  /** The key's budget before and after it was applied, and once put back. */
  from?: number;
  to?: number;
  back?: number;
  /** Applied and not yet put back. */
  active: boolean;
}

const unavailable = () => new PortalError(503, 'gateway_unavailable', 'the key\'s budget cannot be read from the gateway right now; try again in a minute');

/** `2026-12-31` is the end of that day, UTC; a time is taken as given. */
function untilOf(until: string | undefined): string | undefined {
  if (!until) return undefined;
  return until.length === 10 ? `${until}T23:59:59Z` : rfc3339(new Date(until));
}

/**
 * The requester asks for more budget on an issued key: a top-up request of its own, linked to
 * the key (`keyportal.dev/tops-up`), decided by the same chain and policy as a key, and applied
 * by the loop with the gateway's `/key/update`. Refused (naming the field): an amount that would
 * take the budget past the tier's ceiling, an end in the past or after the key's expiry; (409) a
 * key not issued, a key without a budget, another top-up of the key not yet decided.
 */
export async function requestTopUp(deps: TopUpDeps, user: User, keyId: string, body: TopUpBody): Promise<RequestView> {
  const key = await readVisible(deps, user, keyId);
  if (key.email !== user.email) throw requestNotFound(keyId);
  if (isTopUp(key)) throw conflict(`request ${keyId} is a top-up; ask for more on the key itself (request ${key.topsUp})`);
  if (key.state !== 'issued' || !key.keySha256) {
    throw conflict(`request ${keyId} is ${key.state}; only an issued key can be topped up. ${key.state === 'expired' ? 'Renew it instead' : 'Request the model again from the catalog'}`, toView(key, deps.config));
  }
  if (body.amount <= 0) throw beyondPolicy('amount', 'expected an amount above 0: a top-up adds to the budget');
  if (body.amount > 1_000_000) throw beyondPolicy('amount', 'expected an amount of at most $1,000,000');
  const now = (deps.clock ?? (() => new Date()))();
  const until = untilOf(body.until);
  if (until !== undefined) {
    if (Number.isNaN(Date.parse(until)) || Date.parse(until) <= now.getTime()) throw beyondPolicy('until', 'the end of a temporary top-up must be in the future');
    if (key.expiresAt && until > key.expiresAt) throw beyondPolicy('until', `the key expires at ${key.expiresAt}; a top-up cannot outlast it`);
  }
  const lookup = await deps.usage.get(key.keySha256);
  if (lookup.kind === 'unavailable') throw unavailable();
  if (lookup.kind === 'unknown') throw conflict('the gateway does not know this key any more; ask an approver');
  const budget = lookup.usage.maxBudget;
  if (budget === null) throw conflict('this key has no budget limit at the gateway, so there is nothing to top up');
  const ceiling = ceilingFor(deps.config, key);
  // Pending top-ups are not counted: only one per key is ever open, and it is this one.
  if (ceiling !== undefined && round2(budget + body.amount) > ceiling) {
    const room = Math.max(0, round2(ceiling - budget));
    throw beyondPolicy('amount', room > 0 ? `at most ${usd(room)} more: the budget is ${usd(budget)} and ${key.model} keys may have up to ${usd(ceiling)}` : `the budget (${usd(budget)}) is already at the most ${key.model} keys may have (${usd(ceiling)})`);
  }
  const topUp: TopUp = { amount: round2(body.amount), ...(until ? { until } : {}) };
  const { request } = await createRequest(deps, user, key.model, { topUp: { of: key, topUp }, justification: body.reason });
  return request;
}

/** The top-ups of a key, newest first, for its requester or an approver. */
export async function topUpsOf(deps: PortalDeps, user: User, keyId: string): Promise<TopUpView[]> {
  const key = await readVisible(deps, user, keyId);
  // Top-ups share the key's (requester, model) pair: one index lookup, never a listing.
  const { items } = await deps.store.query({ email: key.email, model: key.model, order: 'newest', limit: 500 });
  return items.filter((r) => r.topsUp === key.id && r.topUp).map((r) => ({
    id: r.id,
    state: r.state,
    amount: (r.topUp as TopUp).amount,
    ...(r.topUp?.until ? { until: r.topUp.until } : {}),
    ...(r.justification ? { reason: r.justification } : {}),
    createdAt: r.createdAt,
    ...(r.budgetMove ? { from: r.budgetMove.from, to: r.budgetMove.to, ...(r.budgetMove.back !== undefined ? { back: r.budgetMove.back } : {}) } : {}),
    active: holdsBudget(r),
  }));
}
