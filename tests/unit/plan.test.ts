import { describe, expect, it } from 'vitest';
import { GATEWAY_KEY_FINALIZER, type KeyRequest } from '@/lib/domain/key-request';
import type { State } from '@/lib/domain/states';
import type { Policy } from '@/lib/approval/policy';
import { type PlanSettings, type Step, mayHoldGatewayKey, plan } from '@/lib/loop/plan';
import { TEST_MODELS } from '../helpers/portal';

// The state → next step table alone: a pure function of the request, the time and the settings.

const PLAN: PlanSettings = {
  catalog: new Set(TEST_MODELS.map((m) => m.id)),
  reviewNotify: ['a@example.com'],
  notifyClaimSeconds: 30,
  kubectlGraceSeconds: 15,
  giveUpAfterSeconds: 3600,
  keyDelivery: 'email',
  revealWindowSeconds: 7 * 86_400,
  reminderDays: [],
};
const NOW = Date.parse('2026-02-01T12:00:00Z');
const at = (ms: number) => new Date(NOW + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A request as our code leaves it: its state accepted, and a key it may hold guarded by the finalizer. */
function req(state: State, over: Partial<KeyRequest> = {}): KeyRequest {
  const r: KeyRequest = { id: 'aaaaaaaaaaaa', email: 'ada@example.com', model: 'gpt-4o', state, createdAt: at(-60_000), hasKey: false, resourceVersion: '7', observed: { state }, ...over };
  if (!('finalizers' in over) && mayHoldGatewayKey(r)) r.finalizers = [GATEWAY_KEY_FINALIZER];
  return r;
}
const guard = { finalizers: [GATEWAY_KEY_FINALIZER] };

const decided = (state: 'approved' | 'denied') => ({ decision: state, decidedBy: 'plugin:whitelist', decidedAt: at(-1000) });

describe('plan: the state → next step table', () => {
  const rows: Array<[string, KeyRequest, Step]> = [
    ['pending is decided', req('pending'), { kind: 'decide' }],
    ['in-review emails the approvers once', req('in-review'), { kind: 'notify', notice: { state: 'in-review', to: 'approvers' } }],
    ['in-review already emailed waits for a person', req('in-review', { notified: 'in-review' }), { kind: 'done' }],
    ['in-review approved by a label edit is accepted first', req('approved', { observed: { state: 'in-review' } }), { kind: 'accept-label-edit', from: 'in-review', to: 'approved' }],
    ['issued relabelled approved is put back', req('approved', { observed: { state: 'issued' }, ...guard }), { kind: 'revert-label-edit', from: 'issued', to: 'approved' }],
    ['stored before observed existed: adopted', req('issued', { observed: undefined }), { kind: 'adopt' }],
    ['issued without its finalizer (removed by hand): guarded again', req('issued', { notified: 'issued', finalizers: undefined }), { kind: 'guard-key' }],
    ['deleted while issued: the key is deleted and the requester told it was revoked', req('issued', { notified: 'issued', deletingSince: at(-1000) }), { kind: 'finalize', notice: { state: 'revoked', to: 'requester' } }],
    ['deleted while denied with nothing at the gateway: nothing holds it', req('denied', { notified: 'denied', deletingSince: at(-1000) }), { kind: 'done' }],
    ['deleted while approved with a key stored: the key is deleted, nobody was told of it yet', req('approved', { ...decided('approved'), hasKey: true, deletingSince: at(-1000) }), { kind: 'finalize' }],
    ['deleted, the gateway down: waits for its retry', req('issued', { notified: 'issued', deletingSince: at(-1000), retry: { step: 'revoke', attempt: 1, at: at(2000), error: 'x' } }), { kind: 'wait', ms: 2000, why: 'retry' }],
    ['deleted with someone else\'s finalizer only: not ours to act on', req('issued', { notified: 'issued', deletingSince: at(-1000), finalizers: ['example.com/backup'] }), { kind: 'done' }],
    ['revoked and emailed, finalizer still on (an older version): the gateway is cleaned up', req('revoked', { notified: 'revoked', ...guard }), { kind: 'delete-at-gateway' }],
    ['approved, key not stored yet', req('approved', decided('approved')), { kind: 'store-key' }],
    ['approved with a stored key is minted', req('approved', { ...decided('approved'), hasKey: true }), { kind: 'mint' }],
    ['approved with a key, another replica is minting (its claim is live)', req('approved', { ...decided('approved'), hasKey: true, notifying: { state: 'issued', at: at(-10_000) } }), { kind: 'wait', ms: 20_000, why: 'claim' }],
    ['approved with a key, the claim of a replica that died is taken over', req('approved', { ...decided('approved'), hasKey: true, notifying: { state: 'issued', at: at(-31_000) } }), { kind: 'mint' }],
    ['approved, retry not due', req('approved', { ...decided('approved'), hasKey: true, retry: { step: 'mint', attempt: 2, at: at(4000), error: 'x' } }), { kind: 'wait', ms: 4000, why: 'retry' }],
    ['approved, failing past the retry budget, gives up', req('approved', { ...decided('approved'), hasKey: true, retry: { step: 'mint', attempt: 40, at: at(5000), since: at(-3_600_000), error: 'HTTP 500' } }), { kind: 'give-up-mint', since: at(-3_600_000), error: 'HTTP 500' }],
    ['approved, model left the catalog', req('approved', { ...decided('approved'), model: 'gone' }), { kind: 'fail-not-in-catalog' }],
    ['approved by a plugin, then denied with kubectl', req('denied', { ...decided('approved'), observed: { state: 'approved' } }), { kind: 'accept-label-edit', from: 'approved', to: 'denied' }],
    ['issued, email owed', req('issued', { ...decided('approved'), hasKey: true }), { kind: 'notify', notice: { state: 'issued', to: 'requester' } }],
    ['issued, another replica is sending', req('issued', { hasKey: true, notifying: { state: 'issued', at: at(-10_000) } }), { kind: 'wait', ms: 20_000, why: 'claim' }],
    ['issued, a stale claim is taken over', req('issued', { hasKey: true, notifying: { state: 'issued', at: at(-31_000) } }), { kind: 'notify', notice: { state: 'issued', to: 'requester' } }],
    ['issued and emailed waits for its expiry', req('issued', { notified: 'issued', expiresAt: at(3_600_000) }), { kind: 'wait', ms: 3_600_000, why: 'expiry' }],
    ['issued past its expiry', req('issued', { notified: 'issued', expiresAt: at(-1) }), { kind: 'expire' }],
    ['issued, no expiry', req('issued', { notified: 'issued' }), { kind: 'done' }],
    ['revoked: deleted at the gateway by alias, then emailed', req('revoked', { hasKey: false, decision: 'revoked', decidedBy: 'user:b@example.com' }), { kind: 'delete-at-gateway', notice: { state: 'revoked', to: 'requester' } }],
    ['revoked with kubectl is accepted first', req('revoked', { ...decided('approved'), observed: { state: 'issued' }, ...guard }), { kind: 'accept-label-edit', from: 'issued', to: 'revoked' }],
    ['revoked with kubectl waits for the reason', req('revoked', { decision: 'revoked', decidedBy: 'kubectl', decidedAt: at(-5000) }), { kind: 'wait', ms: 10_000, why: 'kubectl-grace' }],
    ['revoked and emailed, a key still stored: deleted again at the gateway, then erased', req('revoked', { hasKey: true, notified: 'revoked' }), { kind: 'delete-at-gateway' }],
    ['revoked and emailed', req('revoked', { notified: 'revoked' }), { kind: 'done' }],
    ['expired: deleted at the gateway too, then emailed', req('expired'), { kind: 'delete-at-gateway', notice: { state: 'expired', to: 'requester' } }],
    ['issued and emailed with its key: erased from the Secret', req('issued', { hasKey: true, notified: 'issued' }), { kind: 'erase-key' }],
    ['denied with kubectl waits for the reason', req('denied', { decision: 'denied', decidedBy: 'kubectl', decidedAt: at(-5000) }), { kind: 'wait', ms: 10_000, why: 'kubectl-grace' }],
    ['denied by a plugin is emailed', req('denied', decided('denied')), { kind: 'notify', notice: { state: 'denied', to: 'requester' } }],
    ['failed is emailed', req('failed'), { kind: 'notify', notice: { state: 'failed', to: 'requester' } }],
    ['expired and emailed', req('expired', { notified: 'expired' }), { kind: 'done' }],
    ['denied with a key stored (a crash raced the denial), once told: the gateway is cleaned up', req('denied', { ...decided('denied'), hasKey: true, notified: 'denied' }), { kind: 'delete-at-gateway' }],
    ['legacy: the JSON-less claim of older replicas still holds', req('denied', { ...decided('denied'), notifying: { state: 'denied', at: at(-1000) } }), { kind: 'wait', ms: 29_000, why: 'claim' }],
  ];
  it.each(rows)('%s', (_name, r, expected) => {
    expect(plan(r, NOW, PLAN)).toEqual(expected);
    // Pure: asked twice, the same answer.
    expect(plan(r, NOW, PLAN)).toEqual(plan(r, NOW, PLAN));
  });

  it('an in-review request whose reviews already decide it under the policy (the policy changed since) is settled; one still short waits', () => {
    const policy = { name: 'two', stages: [{ name: 'platform', approvers: { emails: ['*@example.com'], groups: [], manager: false, webhooks: [] }, required: 2 }], denyWins: true, justification: { required: false, minLength: 10 } };
    const withPolicy = (required: number): PlanSettings => ({ ...PLAN, policyOf: () => ({ ...policy, stages: [{ ...(policy.stages[0] as Policy['stages'][number]), required }] }) });
    const oneApproval = req('in-review', { notified: 'in-review', reviews: [{ by: 'bob@example.com', decision: 'approve', stage: 'platform', at: at(-5000) }] });
    expect(plan(oneApproval, NOW, withPolicy(2))).toEqual({ kind: 'done' });
    expect(plan(oneApproval, NOW, withPolicy(1))).toEqual({ kind: 'settle-review', outcome: 'approved' });
    const denied = req('in-review', { notified: 'in-review', reviews: [{ by: 'bob@example.com', decision: 'deny', stage: 'platform', at: at(-5000), reason: 'no' }] });
    expect(plan(denied, NOW, withPolicy(2))).toEqual({ kind: 'settle-review', outcome: 'denied' });
    // No policy given (a planner that does not judge reviews): the old table.
    expect(plan(oneApproval, NOW, PLAN)).toEqual({ kind: 'done' });
  });

  it('has a step for every state', () => {
    const covered = new Set(rows.map(([, r]) => r.state));
    expect([...covered].sort()).toEqual(['approved', 'denied', 'expired', 'failed', 'in-review', 'issued', 'pending', 'revoked']);
  });
});

describe('plan: the review deadline', () => {
  const withDeadline = { ...PLAN, reviewTimeoutDays: 14 };
  const DAY = 86_400_000;
  it('waits for a person until the deadline, counted from when the loop held it, then denies', () => {
    const held = req('in-review', { notified: 'in-review', reviewSince: at(-DAY), createdAt: '2020-01-01T00:00:00Z' });
    expect(plan(held, NOW, withDeadline)).toEqual({ kind: 'wait', ms: 13 * DAY, why: 'review-deadline' });
    expect(plan(held, NOW + 13 * DAY, withDeadline)).toEqual({ kind: 'review-timeout', days: 14 });
    // Held before review-since was recorded: counted from creation.
    expect(plan(req('in-review', { notified: 'in-review' }), NOW + 14 * DAY, withDeadline)).toEqual({ kind: 'review-timeout', days: 14 });
    // Without a deadline (0), a request waits for ever.
    expect(plan(held, NOW + 400 * DAY, { ...PLAN, reviewTimeoutDays: 0 })).toEqual({ kind: 'done' });
    // The approvers' email comes first, even on the last day.
    expect(plan(req('in-review', { reviewSince: at(-DAY) }), NOW, withDeadline)).toEqual({ kind: 'notify', notice: { state: 'in-review', to: 'approvers' } });
  });
});
