import { type KeyRequest, holdsTopUpFinalizer, rfc3339 } from '../domain/key-request';
import type { RetryInfo } from '../domain/retry';
import { type BudgetMove, OPEN_TOP_UP_STATES, usd } from '../domain/top-up';
import { KeyedLock } from '../fs/keyed-lock';
import { type Gateway, GatewayRefusedError, GatewayUnavailableError } from '../gateway/types';
import type { LoopEvent } from '../loop/events';
import type { Notice } from '../loop/plan';
import { RequestNotFoundError } from '../store/errors';
import { updateLatest } from '../store/retry-on-conflict';
import type { RequestChange, RequestStore } from '../store/types';
import { round2 } from './ceiling';

/** What applying and putting back a top-up needs from the reconciler. */
export interface TopUpDeps {
  store: RequestStore;
  gateway: Gateway;
  clock: () => Date;
  write(r: KeyRequest, change: RequestChange, event: LoopEvent): Promise<void>;
  retryLater(r: KeyRequest, step: RetryInfo['step'], error: string, reason: string, extra?: RequestChange): Promise<void>;
  notify(r: KeyRequest, notice: Notice): Promise<void>;
}

/**
 * One key's budget changes one at a time in this process (the loop runs on the Lease holder): a
 * temporary top-up put back while the next one is applied must not read the same budget and
 * undo it. The absolute budgets written first make each change repeatable after a crash.
 */
const perKey = new KeyedLock();

/** The key a top-up adds to, if it is still issued and known at the gateway by hash. */
async function liveKey(store: RequestStore, id: string): Promise<(KeyRequest & { keySha256: string }) | undefined> {
  try {
    const key = await store.get(id);
    return key.state === 'issued' && key.keySha256 && !key.deletingSince ? (key as KeyRequest & { keySha256: string }) : undefined;
  } catch (err) {
    if (err instanceof RequestNotFoundError) return undefined;
    throw err;
  }
}

// Refused or never applied: the key's budget is as it was, so nothing is left to put back.
const failed = (d: TopUpDeps, r: KeyRequest, reason: string): Promise<void> =>
  d.write(r, { state: 'failed', reason, retry: null, topUpFinalizer: false }, { type: 'Warning', reason: 'TopUpFailed', message: reason.slice(0, 500) });

/**
 * approved → issued (applied): read the key's budget, record it with the budget to set (before
 * the gateway hears of it), set that budget with `/key/update`, then record the top-up applied.
 * A retry after a crash sets the same absolute budget again: never added twice.
 */
export function applyTopUp(d: TopUpDeps, r: KeyRequest, signal: AbortSignal): Promise<void> {
  const keyId = r.topsUp as string;
  const amount = r.topUp?.amount ?? 0;
  return perKey.run(keyId, async () => {
    const key = await liveKey(d.store, keyId);
    if (!key) return failed(d, r, `The key (request ${keyId}) is no longer issued, so there is nothing to top up. Request the model again if you still need it.`);
    let current = r;
    let move: BudgetMove | undefined = r.budgetMove;
    try {
      if (!move) {
        const info = await d.gateway.keyInfo(key.keySha256, signal);
        if (!info) return await failed(d, r, `The gateway no longer has the key of request ${keyId}; nothing was changed.`);
        const budget = info.usage?.maxBudget;
        if (budget === null || budget === undefined) return await failed(d, r, 'The key has no budget limit at the gateway, so a top-up would change nothing.');
        move = { from: budget, to: round2(budget + amount) };
        // With the finalizer: from now on deleting this Secret puts the budget back first.
        current = await d.store.update(r, { budgetMove: move, topUpFinalizer: true });
      }
      await d.gateway.updateBudget(key.keySha256, { maxBudget: move.to }, { signal, ...(r.decidedBy ? { changedBy: r.decidedBy } : {}) });
    } catch (err) {
      if (err instanceof GatewayUnavailableError) return d.retryLater(current, 'budget', err.message, 'GatewayUnavailable');
      // Refused for good (the key gone, a value it will not take): the key keeps its budget.
      if (err instanceof GatewayRefusedError) return failed(d, current, `The gateway refused the top-up (${err.message}); the key's budget is unchanged.`);
      throw err;
    }
    await d.write(current, { state: 'issued', issuedAt: rfc3339(d.clock()), retry: null }, { type: 'Normal', reason: 'TopUpApplied', message: `budget of keyreq-${keyId} raised from ${usd(move.from)} to ${usd(move.to)}` });
  });
}

/**
 * A top-up that ended (its `until` passed, or an approver took it back): the key's budget goes
 * down by the amount, from what the gateway says it is now (other top-ups may have come since),
 * recorded first and then set. A key already gone at the gateway has nothing to put back.
 * Then the request is marked expired, or (revoked) the requester is emailed.
 */
export function putBackTopUp(d: TopUpDeps, r: KeyRequest, notice: Notice | undefined, signal: AbortSignal, deleting = false): Promise<void> {
  const keyId = r.topsUp as string;
  const amount = r.topUp?.amount ?? 0;
  return perKey.run(keyId, async () => {
    let current = r;
    const move = r.budgetMove;
    if (move) {
      const key = await liveKey(d.store, keyId);
      try {
        let back = move.back;
        if (back === undefined) {
          const budget = key ? (await d.gateway.keyInfo(key.keySha256, signal))?.usage?.maxBudget : undefined;
          back = budget === null || budget === undefined ? move.from : backTo(r, move, budget, amount);
          current = await d.store.update(r, { budgetMove: { ...move, back } });
        }
        if (key) await d.gateway.updateBudget(key.keySha256, { maxBudget: back }, { signal, changedBy: 'keyportal' });
      } catch (err) {
        if (err instanceof GatewayUnavailableError) return d.retryLater(current, 'budget', err.message, 'GatewayUnavailable');
        // 404: the key went meanwhile; nothing left to put back. Anything else is retried: a
        // top-up left in place keeps spending money nobody approved any more.
        if (!(err instanceof GatewayRefusedError && err.status === 404)) {
          if (err instanceof GatewayRefusedError) return d.retryLater(current, 'budget', `the gateway refused to put the budget back: ${err.message}`, 'GatewayRefused');
          throw err;
        }
      }
    }
    if (deleting) {
      const back = current.budgetMove?.back;
      return d.write(current, { topUpFinalizer: false }, { type: 'Normal', reason: 'TopUpDeleted', message: `the top-up Secret was deleted${back !== undefined ? `: the key's budget was put back to ${usd(back)}` : ''}` });
    }
    if (notice) {
      // Put back: deleting the Secret from now on has nothing left to undo.
      if (holdsTopUpFinalizer(current)) current = await d.store.update(current, { topUpFinalizer: false });
      return d.notify(current, notice);
    }
    const back = current.budgetMove?.back;
    const reason = `The temporary top-up ended${r.topUp?.until ? ` on ${r.topUp.until}` : ''}${back !== undefined ? `; the key's budget is ${usd(back)} again` : ''}.`;
    await d.write(current, { state: 'expired', reason, retry: null, topUpFinalizer: false }, { type: 'Normal', reason: 'TopUpEnded', message: reason });
  });
}

/**
 * Where the budget goes back to: down by the amount from what the gateway has now. A top-up
 * deleted while approved may have reached the gateway or not (a crash between the two): it did
 * only if the budget is the one it set.
 */
function backTo(r: KeyRequest, move: BudgetMove, budget: number, amount: number): number {
  if (r.state === 'approved') return budget === move.to ? move.from : budget;
  return round2(Math.max(0, budget - amount));
}

/**
 * A key that ended (revoked, expired) closes the top-ups of it still open: denied, saying why,
 * so none waits in an approver's queue for a key that is gone. The chain may be moving one on at
 * the same moment: it is read again on a conflict, and closed if it is still open.
 */
export async function closeOpenTopUps(store: RequestStore, key: KeyRequest, now: Date): Promise<void> {
  const { items } = await store.query({ email: key.email, model: key.model, limit: 500 });
  const reason = `The key (request ${key.id}) was ${key.state}, so there is nothing to top up.`;
  for (const t of items.filter((x) => x.topsUp === key.id && OPEN_TOP_UP_STATES.includes(x.state))) {
    await updateLatest(store, t, (current) => (OPEN_TOP_UP_STATES.includes(current.state) ? { state: 'denied', decision: 'denied', decidedBy: 'keyportal', decidedAt: rfc3339(now), reason } : undefined));
  }
}
