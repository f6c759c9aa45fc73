import { describe, expect, it } from 'vitest';
import { budgetCeiling } from '@/lib/budget/ceiling';
import { highestPeriodSpend, periodDays, proposeBudget } from '@/lib/budget/renewal-size';
import { median } from '@/lib/budget/spend-figures';
import { LIFECYCLE_DEFAULTS } from '@/lib/config/lifecycle-schema';
import type { KeyRequest } from '@/lib/domain/key-request';
import type { State } from '@/lib/domain/states';
import { type PlanSettings, type Step, mayHoldGatewayKey, plan } from '@/lib/loop/plan';
import { MalformedSecretError } from '@/lib/store/errors';
import { decodeRequest, encodeNewRequest } from '@/lib/store/secret-codec';
import { applyChange } from '@/lib/store/write';

// Budgets as pure functions: a top-up's steps, the ceiling, a renewal's proposed budget, and
// what a top-up looks like stored.

const PLAN: PlanSettings = {
  catalog: new Set(['gpt-4o']),
  reviewNotify: ['a@example.com'],
  notifyClaimSeconds: 30,
  kubectlGraceSeconds: 15,
  giveUpAfterSeconds: 3600,
  keyDelivery: 'portal',
  revealWindowSeconds: 7 * 86_400,
  reminderDays: [7, 3, 1],
};
const NOW = Date.parse('2026-02-01T12:00:00Z');
const at = (ms: number) => new Date(NOW + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function topUp(state: State, over: Partial<KeyRequest> = {}): KeyRequest {
  return { id: 'tttttttttttt', email: 'ada@example.com', model: 'gpt-4o', state, createdAt: at(-60_000), hasKey: false, resourceVersion: '7', observed: { state }, topsUp: 'kkkkkkkkkkkk', topUp: { amount: 5 }, ...over };
}
const temporary = { topUp: { amount: 5, until: at(3_600_000) } };

describe('plan: a top-up\'s steps', () => {
  const rows: Array<[string, KeyRequest, Step]> = [
    ['pending is decided by the chain, as a key', topUp('pending'), { kind: 'decide' }],
    ['in-review emails the approvers, as a key', topUp('in-review'), { kind: 'notify', notice: { state: 'in-review', to: 'approvers' } }],
    ['approved is applied at the gateway, never minted', topUp('approved'), { kind: 'apply-top-up' }],
    ['approved, the gateway down: waits for its retry', topUp('approved', { retry: { step: 'budget', attempt: 1, at: at(2000), since: at(-1000), error: 'x' } }), { kind: 'wait', ms: 2000, why: 'retry' }],
    ['approved, the gateway down past the retry budget: gives up (failed)', topUp('approved', { retry: { step: 'budget', attempt: 9, at: at(-1), since: at(-3_600_000), error: 'down' } }), { kind: 'give-up-mint', since: at(-3_600_000), error: 'down' }],
    ['applied: the requester is told', topUp('issued'), { kind: 'notify', notice: { state: 'issued', to: 'requester' } }],
    ['applied for good and told: nothing more, no reminder, no reveal, no expiry', topUp('issued', { notified: 'issued', expiresAt: at(3_600_000) }), { kind: 'done' }],
    ['applied until a time: waits for it', topUp('issued', { notified: 'issued', ...temporary }), { kind: 'wait', ms: 3_600_000, why: 'expiry' }],
    ['applied, its time passed: put back', topUp('issued', { notified: 'issued', topUp: { amount: 5, until: at(-1) } }), { kind: 'put-back-top-up' }],
    ['put back and marked expired: the requester is told, nothing deleted at the gateway', topUp('expired', { budgetMove: { from: 10, to: 15, back: 10 } }), { kind: 'notify', notice: { state: 'expired', to: 'requester' } }],
    ['taken back by an approver: put back, then told', topUp('revoked', { decidedBy: 'user:b@example.com', decidedAt: at(-1000), budgetMove: { from: 10, to: 15 } }), { kind: 'put-back-top-up', notice: { state: 'revoked', to: 'requester' } }],
    ['taken back with kubectl: waits for the reason annotated after', topUp('revoked', { decidedBy: 'kubectl', decidedAt: at(-1000), budgetMove: { from: 10, to: 15 } }), { kind: 'wait', ms: 14_000, why: 'kubectl-grace' }],
    ['denied: told, and nothing to clean up', topUp('denied', { notified: 'denied' }), { kind: 'done' }],
    ['deleted while it may hold budget: put back, then let go', topUp('issued', { notified: 'issued', deletingSince: at(-1000), finalizers: ['keyportal.dev/top-up-budget'], budgetMove: { from: 10, to: 15 } }), { kind: 'put-back-top-up', deleting: true }],
    ['deleted with nothing held: nothing to do', topUp('expired', { notified: 'expired', deletingSince: at(-1000) }), { kind: 'done' }],
  ];
  it.each(rows)('%s', (_name, r, step) => {
    expect(plan(r, NOW, PLAN)).toEqual(step);
  });

  it('a top-up never holds a key of its own, so it never carries the gateway-key finalizer', () => {
    expect(mayHoldGatewayKey(topUp('issued'))).toBe(false);
    expect(mayHoldGatewayKey({ state: 'issued', hasKey: false, notified: 'issued' })).toBe(true);
  });
});

describe('the ceiling of a key\'s budget', () => {
  const model = { limits: { max_budget: 10 } };
  it('is the tier\'s maxBudget, else ceilingFactor times the model\'s budget, else none', () => {
    expect(budgetCeiling(model, { maxBudget: 50 }, LIFECYCLE_DEFAULTS)).toBe(50);
    expect(budgetCeiling(model, {}, LIFECYCLE_DEFAULTS)).toBe(20);
    expect(budgetCeiling(model, {}, { ...LIFECYCLE_DEFAULTS, topUp: { ...LIFECYCLE_DEFAULTS.topUp, ceilingFactor: 1.5 } })).toBe(15);
    expect(budgetCeiling({ limits: {} }, {}, LIFECYCLE_DEFAULTS)).toBeUndefined();
  });
});

describe('a renewal sized from use', () => {
  const day = (d: string, usd: number, key = 'h') => ({ date: d, spend: usd, byKey: { [key]: usd, other: 99 } });

  it('reads budget periods in days', () => {
    expect([periodDays('30d'), periodDays('1mo'), periodDays('24h'), periodDays('1w'), periodDays('90s'), periodDays('bad'), periodDays(null)]).toEqual([30, 30, 1, 7, 1, undefined, undefined]);
  });

  it('takes the highest period of the key\'s own spend, from the day it was issued, or the current period if higher', () => {
    const days = [day('2026-01-01', 1), day('2026-01-20', 2), day('2026-02-05', 0.5), day('2026-02-06', 0.25)];
    expect(highestPeriodSpend(days, 'h', '2026-01-01', 30, undefined)).toBe(3);
    expect(highestPeriodSpend(days, 'h', '2026-01-01', 30, 4.5)).toBe(4.5);
    // Another key's spend is not this key's.
    expect(highestPeriodSpend(days, 'nope', '2026-01-01', 30, undefined)).toBe(0);
  });

  it('proposes the highest period plus headroom, rounded up, within the ceiling, and says why', () => {
    const base = { headroomPercent: 25, minimum: 1, ceiling: 20, modelDefault: 10, periodLabel: 'month' };
    expect(proposeBudget({ ...base, highestPeriod: 1.2 })).toMatchObject({ maxBudget: 2, basis: 'the old key spent at most $1.2 in a month; with 25% headroom that is $2' });
    expect(proposeBudget({ ...base, highestPeriod: 0 })).toMatchObject({ maxBudget: 1 });
    expect(proposeBudget({ ...base, highestPeriod: 19 })).toMatchObject({ maxBudget: 20, basis: expect.stringContaining("capped at the tier's 20") });
    expect(proposeBudget({ ...base })).toMatchObject({ maxBudget: 10, basis: expect.stringContaining('unknown') });
    expect(proposeBudget({ headroomPercent: 25, minimum: 1, periodLabel: 'month' })).toEqual({ basis: 'keys for this model have no budget' });
  });

  it('the typical monthly cost is a median', () => {
    expect([median([]), median([3]), median([5, 1, 3]), median([4, 1, 3, 2])]).toEqual([null, 3, 3, 2.5]);
  });
});

describe('a top-up as stored', () => {
  const secret = (rv = '1') => {
    const s = encodeNewRequest({ id: 'tttttttttttt', email: 'ada@example.com', model: 'gpt-4o', createdAt: '2026-02-01T12:00:00Z', topsUp: 'kkkkkkkkkkkk', topUp: { amount: 5, until: '2026-03-01T00:00:00Z' }, budget: 12.5 });
    s.metadata.resourceVersion = rv;
    return s;
  };

  it('is labelled for kubectl and reads back with what it asks, and the budget moves written later', () => {
    const s = secret();
    expect(s.metadata.labels['keyportal.dev/kind']).toBe('top-up');
    const r = decodeRequest(s);
    expect(r).toMatchObject({ topsUp: 'kkkkkkkkkkkk', topUp: { amount: 5, until: '2026-03-01T00:00:00Z' }, budget: 12.5 });
    const moved = decodeRequest(applyChange(s, { budgetMove: { from: 10, to: 15 } }));
    expect(moved.budgetMove).toEqual({ from: 10, to: 15 });
  });

  it('a top-up annotation mangled by hand is reported, never applied as a guess', () => {
    const s = secret();
    s.metadata.annotations['keyportal.dev/top-up'] = '{"amount":"lots"}';
    expect(() => decodeRequest(s)).toThrow(MalformedSecretError);
    expect(() => decodeRequest(s)).toThrow(/keyportal.dev\/top-up/);
  });
});
