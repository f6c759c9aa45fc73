import { describe, expect, it } from 'vitest';
import { AUDIT_FINALIZER } from '@/lib/domain/key-request';
import type { User } from '@/lib/auth/roles';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { UsageCache } from '@/lib/gateway/usage-cache';
import { buildLoop } from '@/lib/loop/wiring';
import { PortalError } from '@/lib/portal/errors';
import { renewRequest } from '@/lib/portal/renewal';
import { renewalProposal } from '@/lib/portal/renewal-proposal';
import { SpendFigureService } from '@/lib/budget/spend-figures';
import { decide, revoke } from '@/lib/portal/requests';
import { requestTopUp, topUpsOf } from '@/lib/portal/top-up';
import { bulkApprove } from '@/lib/portal/awaiting';
import type { State } from '@/lib/domain/states';
import { MASTER_KEY, type TestSetup, testConfig } from '../helpers/portal';
import { kubectl } from '../helpers/cluster';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// Budgets on the real test cluster with the LiteLLM-like gateway and a real SMTP server: the
// spend alert, top-ups through approval applied with /key/update and put back, and renewals
// sized from use. The loop runs in this process on a clock the test moves.

const DAY = 86_400_000;
const ada: User = { email: 'ada@example.com', groups: [], approver: false };
const approver: User = { email: 'approver@example.com', groups: [], approver: true };

async function world(overrides: Partial<TestSetup> = {}) {
  const w = await clusterWorld('budget', overrides);
  const config = testConfig(w.setup);
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);
  const parts = buildLoop(config, w.store, {}, { people: w.people, clock });
  parts.loop.start();
  afterThisTest(() => parts.loop.stop());
  const client = new LiteLLMGateway({ baseUrl: w.gateway.url, masterKey: MASTER_KEY, timeoutMs: 2000 });
  // The portal's usage reads, fresh on every call, so a test sees the budget it just changed.
  const deps = { store: w.store, people: w.people, config, clock, usage: new UsageCache(client, { ttlMs: 0 }), gateway: client };
  const settled = (id: string, state: State, timeoutMs = 15_000) =>
    until(async () => {
      const r = await w.store.get(id);
      return r.state === state && r.notified === state ? r : undefined;
    }, `request ${id} to be ${state} and emailed`, timeoutMs);
  const budgetAt = (id: string) => w.gateway.keysFor(id)[0]?.max_budget;
  const issuedKey = async () => {
    const { request } = await w.store.create({ email: ada.email, model: 'gpt-4o' });
    await settled(request.id, 'issued');
    return request.id;
  };
  const moveBy = (ms: number, ...ids: string[]) => {
    offset += ms;
    for (const id of ids) parts.loop.enqueue(id);
  };
  return { ...w, config, parts, deps, settled, budgetAt, issuedKey, moveBy };
}

const refused = async (p: Promise<unknown>): Promise<PortalError> => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(PortalError);
  return err as PortalError;
};

describe('the spend alert', () => {
  it('tells the requester once when a key reaches 80% of its budget, and again in the next budget period', async () => {
    const w = await world();
    const id = await w.issuedKey();
    const alerts = () => w.smtp.to(ada.email).filter((m) => /used \d+% of its budget/.test(m.subject));
    const round = () => w.parts.spendWatch.run(new AbortController().signal);
    // No plugin of this chain reads spend figures, so issuing the key asked the gateway for none.
    expect(w.gateway.activityCalls).toBe(0);

    w.gateway.setSpend(id, 7.99);
    expect((await round()).alerted).toEqual([]);
    w.gateway.setSpend(id, 8);
    expect((await round()).alerted).toEqual([id]);
    await until(async () => (alerts().length === 1 ? true : undefined), 'the alert email');
    expect(alerts()[0]?.subject).toBe('Your GPT-4o key has used 80% of its budget');
    expect(alerts()[0]?.text).toContain(`http://portal.test:3000/requests/${id}?topup=1`);
    const period = (await w.store.get(id)).budgetAlert;
    expect(period).toBe(w.gateway.keysFor(id)[0]?.budget_reset_at?.replace(/\.\d{3}Z$/, 'Z'));

    // Still past 80% and more: the same period is not told twice.
    w.gateway.setSpend(id, 9.5);
    await round();
    await round();
    expect(alerts()).toHaveLength(1);

    // The budget reset (LiteLLM moves budget_reset_at and zeroes spend); past 80% again: told again.
    const key = w.gateway.keysFor(id)[0];
    if (!key) throw new Error('no key at the gateway');
    key.budget_reset_at = new Date(Date.parse(key.budget_reset_at ?? '') + 30 * DAY).toISOString();
    w.gateway.setSpend(id, 8.5);
    expect((await round()).alerted).toEqual([id]);
    await until(async () => (alerts().length === 2 ? true : undefined), 'the second period\'s alert');
  });

  it('checks a key far from its limit only every fourth round, so the gateway is asked less', async () => {
    const w = await world();
    const id = await w.issuedKey();
    w.gateway.setSpend(id, 1);
    const infos = () => w.gateway.requestLog.filter((l) => l.startsWith('GET /key/info')).length;
    const before = infos();
    const reports = [];
    for (let i = 0; i < 4; i++) reports.push(await w.parts.spendWatch.run(new AbortController().signal));
    expect(reports.map((r) => r.checked)).toEqual([1, 0, 0, 0]);
    expect(reports.map((r) => r.skipped)).toEqual([0, 1, 1, 1]);
    expect(infos() - before).toBe(1);
    // Near its limit, it is read every round.
    w.gateway.setSpend(id, 6);
    await w.parts.spendWatch.run(new AbortController().signal);
    expect((await w.parts.spendWatch.run(new AbortController().signal)).checked).toBe(1);
  });
});

describe('top-ups', () => {
  it('an approved top-up raises max_budget at the gateway; a temporary one is put back when it ends', async () => {
    const w = await world();
    const key = await w.issuedKey();
    expect(w.budgetAt(key)).toBe(10);
    const until1 = new Date(Date.now() + 3 * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const asked = await requestTopUp(w.deps, ada, key, { amount: 5, until: until1, reason: 'the quarterly evaluation run' });
    expect(asked.topUp).toMatchObject({ of: key, amount: 5, until: until1 });
    // Top-ups are money: the whitelist that approves gpt-4o keys leaves them to a person.
    await w.settled(asked.id, 'in-review');
    const notice = await until(async () => w.smtp.to('approvers@example.com').find((m) => m.subject === 'Top-up for GPT-4o waits for review'), 'the approvers\' email');
    expect(notice.text).toContain(`asked for a top-up of $5 until ${until1.slice(0, 10)} on their gpt-4o key`);
    expect(notice.text).toMatch(/Spent by their keys in the last 30 days: \$0/);

    // Bulk approval's preview says what approving a top-up does.
    expect(await bulkApprove(w.deps, approver, { ids: [asked.id], preview: true })).toEqual([{ id: asked.id, ok: true, says: 'approves it: the top-up is applied', state: 'in-review' }]);
    await decide(w.deps, approver, asked.id, 'approve', 'fine for the quarter');
    const applied = await w.settled(asked.id, 'issued');
    expect(applied.budgetMove).toEqual({ from: 10, to: 15 });
    expect(w.budgetAt(key)).toBe(15);
    const told = w.smtp.to(ada.email).find((m) => m.subject === 'Your GPT-4o top-up was applied');
    expect(told?.text).toContain("The key's budget went from $10 to $15.");
    expect(w.gateway.changedBy).toContain('user:approver@example.com');

    // The history on the key's page.
    expect(await topUpsOf(w.deps, ada, key)).toEqual([expect.objectContaining({ id: asked.id, state: 'issued', amount: 5, from: 10, to: 15, active: true })]);

    // Three days on: the loop puts the $5 back and says so.
    w.moveBy(3 * DAY + 1000, asked.id);
    const ended = await w.settled(asked.id, 'expired');
    expect(ended.budgetMove).toEqual({ from: 10, to: 15, back: 10 });
    expect(w.budgetAt(key)).toBe(10);
    expect(w.smtp.to(ada.email).find((m) => m.subject === 'Your GPT-4o top-up has ended')?.text).toContain("the key's budget is $10 again");
    // The key itself is untouched: still issued, still one key at the gateway.
    expect((await w.store.get(key)).state).toBe('issued');
    expect(w.gateway.keysFor(key)).toHaveLength(1);
    // Put back, it holds no budget: only the audit finalizer, which every request carries, stays.
    expect(ended.finalizers).toEqual([AUDIT_FINALIZER]);
  });

  it('kubectl delete of an applied top-up puts the budget back before the Secret goes', async () => {
    const w = await world({ plugins: [{ name: 'spend', config: { topUpsUpTo: 5 } }, { name: 'whitelist', config: { models: ['gpt-4o'] } }] });
    const key = await w.issuedKey();
    const t = await requestTopUp(w.deps, ada, key, { amount: 4, reason: 'a few more runs' });
    const applied = await w.settled(t.id, 'issued');
    expect(applied.finalizers).toEqual([AUDIT_FINALIZER, 'keyportal.dev/top-up-budget']);
    expect(w.budgetAt(key)).toBe(14);
    // Meanwhile the key's budget moved on (another top-up, an admin at the gateway): $4 comes off what it is now.
    const row = w.gateway.keysFor(key)[0];
    if (row) row.max_budget = 16;
    await kubectl('-n', w.namespace, 'delete', 'secret', `keyreq-${t.id}`, '--wait=false');
    await until(async () => (await w.store.get(t.id).then(() => undefined, () => true)), 'the top-up Secret gone');
    expect(w.budgetAt(key)).toBe(12);
    expect((await w.store.get(key)).state).toBe('issued');
  });

  it('a small top-up is approved by the spend plugin; an approver can take one back', async () => {
    const w = await world({ plugins: [{ name: 'spend', config: { topUpsUpTo: 5 } }, { name: 'whitelist', config: { models: ['gpt-4o'] } }] });
    const key = await w.issuedKey();
    const small = await requestTopUp(w.deps, ada, key, { amount: 3, reason: 'a few more evaluations' });
    const applied = await w.settled(small.id, 'issued');
    expect(applied.decidedBy).toBe('plugin:spend');
    expect(w.budgetAt(key)).toBe(13);

    await revoke(w.deps, approver, small.id, 'Not needed after all');
    const back = await w.settled(small.id, 'revoked');
    expect(back.budgetMove?.back).toBe(10);
    expect(w.budgetAt(key)).toBe(10);
    expect(w.smtp.to(ada.email).find((m) => m.subject === 'Your GPT-4o top-up was taken back')?.text).toContain('Reason: Not needed after all');
  });

  it('refuses, naming the field: a second top-up while one is open, more than the ceiling, an end in the past, a key that is not issued', async () => {
    const w = await world();
    const key = await w.issuedKey();
    // gpt-4o keys have $10; without a tier maxBudget the ceiling is twice that.
    const over = await refused(requestTopUp(w.deps, ada, key, { amount: 10.01, reason: 'a lot' }));
    expect([over.status, over.details?.field]).toEqual([400, 'amount']);
    expect(over.message).toContain('at most $10 more');
    const past = await refused(requestTopUp(w.deps, ada, key, { amount: 1, until: '2020-01-01', reason: 'x' }));
    expect([past.status, past.details?.field]).toEqual([400, 'until']);
    const negative = await refused(requestTopUp(w.deps, ada, key, { amount: -5, reason: 'x' }));
    expect([negative.status, negative.details?.field]).toEqual([400, 'amount']);

    const first = await requestTopUp(w.deps, ada, key, { amount: 2, reason: 'first' });
    const second = await refused(requestTopUp(w.deps, ada, key, { amount: 2, reason: 'second' }));
    expect(second.status).toBe(409);
    expect(second.message).toContain(`a top-up of this key (request ${first.id}) is already`);
    // Someone else's key is not found, as any request of theirs.
    const other = await refused(requestTopUp(w.deps, { ...ada, email: 'bob@example.com' }, key, { amount: 1, reason: 'x' }));
    expect(other.status).toBe(404);

    await revoke(w.deps, approver, key, 'Left the project');
    await w.settled(key, 'revoked');
    const gone = await refused(requestTopUp(w.deps, ada, key, { amount: 1, reason: 'x' }));
    expect(gone.status).toBe(409);
    expect(gone.message).toContain('only an issued key can be topped up');
    // The open top-up of the revoked key is never applied: the loop closes it with the key.
    const closed = await w.settled(first.id, 'denied');
    expect(closed.reason).toBe(`The key (request ${key}) was revoked, so there is nothing to top up.`);
  });

  it('the gateway refusing the update ends the top-up failed with the reason, and the key keeps its budget', async () => {
    const w = await world();
    const key = await w.issuedKey();
    const asked = await requestTopUp(w.deps, ada, key, { amount: 4, reason: 'more runs' });
    await w.settled(asked.id, 'in-review');
    // The gateway will not take the update (a value it refuses, a policy of its own).
    const hash = (await w.store.get(key)).keySha256 as string;
    w.gateway.refuseUpdates = true;
    await decide(w.deps, approver, asked.id, 'approve', undefined);
    const failed = await w.settled(asked.id, 'failed');
    expect(failed.reason).toMatch(/The gateway refused the top-up \(HTTP 400/);
    expect(w.gateway.keys.get(hash)?.max_budget).toBe(10);
    expect(w.smtp.to(ada.email).find((m) => m.subject === 'Your GPT-4o top-up could not be applied')).toBeDefined();
  });
});

describe('renewals sized from use', () => {
  it('a lightly used key is proposed a smaller budget, which the renewal is minted with', async () => {
    const w = await world();
    const key = await w.issuedKey();
    // $0.70 and $0.50 on two days of its first month.
    w.gateway.addSpend(key, 0.7, new Date(Date.now() - 2 * DAY));
    w.gateway.addSpend(key, 0.5, new Date());
    const proposal = await renewalProposal(w.deps, ada, key);
    expect(proposal).toMatchObject({ highestPeriod: 1.2, maxBudget: 2, ceiling: 20, modelDefault: 10 });
    expect(proposal.basis).toContain('the old key spent at most $1.2 in a budget period (30d); with 25% headroom that is $2');

    // Above the tier's ceiling is refused, naming the field.
    const tooMuch = await refused(renewRequest(w.deps, ada, key, { maxBudget: 25 }));
    expect([tooMuch.status, tooMuch.details?.field]).toEqual([400, 'max_budget']);

    const renewal = await renewRequest(w.deps, ada, key, { maxBudget: proposal.maxBudget as number });
    expect(renewal.budget).toBe(2);
    await w.settled(renewal.id, 'issued');
    expect(w.budgetAt(renewal.id)).toBe(2);
  });

  it('with no spend figures from the gateway, proposes the model\'s own budget and says so', async () => {
    const w = await world();
    const key = await w.issuedKey();
    w.gateway.routePrefix = '/behind-a-proxy';
    const proposal = await renewalProposal(w.deps, ada, key);
    expect(proposal.maxBudget).toBe(10);
    expect(proposal.highestPeriod).toBeUndefined();
    expect(proposal.basis).toContain('unknown');
  });
});

describe('idle keys', () => {
  it('a key unused for idleDays gets one reminder, then is revoked after the grace period; a key used again keeps going', async () => {
    const w = await world({ lifecycle: { idleDays: 30, idleGraceDays: 7 } });
    const idleWatch = w.parts.idleWatch;
    if (!idleWatch) throw new Error('lifecycle.idleDays is set, so the loop has an idle check');
    const round = () => idleWatch.run(new AbortController().signal);
    // gpt-4o-mini keys never expire here, so only idleness can end them.
    const make = async (email: string) => {
      const { request } = await w.store.create({ email, model: 'gpt-4o-mini' });
      await w.settled(request.id, 'issued');
      return request.id;
    };
    const idle = await make('idle@example.com');
    const busy = await make('busy@example.com');
    const back = await make('back@example.com');
    const warnings = (to: string) => w.smtp.to(to).filter((m) => m.subject === 'Your GPT-4o mini key has not been used for 30 days');

    // Younger than 30 days: nothing to judge.
    expect(await round()).toMatchObject({ warned: [], revoked: [] });
    // 31 days on: the busy key was used on day 20 (the gateway's daily rows say so); the others were not.
    w.gateway.addSpend(busy, 0.4, new Date(Date.now() + 20 * DAY));
    w.moveBy(31 * DAY);
    const first = await round();
    expect(first.warned.sort()).toEqual([back, idle].sort());
    await until(async () => (warnings('idle@example.com').length === 1 && warnings('back@example.com').length === 1 ? true : undefined), 'the two reminders');
    expect(warnings('busy@example.com')).toHaveLength(0);
    expect(warnings('idle@example.com')[0]?.text).toContain('Unused for another 7 days, it will be revoked.');
    // Told once.
    expect((await round()).warned).toEqual([]);

    // One of them is used again: the warning is taken back.
    w.gateway.addSpend(back, 1, new Date(Date.now() + 33 * DAY));
    w.moveBy(3 * DAY);
    expect((await round()).cleared).toEqual([back]);
    expect((await w.store.get(back)).idleWarnedAt).toBeUndefined();

    // Seven days after the reminder, still unused: revoked, deleted at the gateway, told why.
    w.moveBy(5 * DAY);
    expect((await round()).revoked).toEqual([idle]);
    const revoked = await w.settled(idle, 'revoked');
    expect(revoked.reason).toMatch(/^The key was not used for \d+ days \(no spend at the gateway\), and was revoked 7 days after you were told\./);
    expect(w.gateway.keysFor(idle)).toHaveLength(0);
    expect((await w.store.get(busy)).state).toBe('issued');
    expect((await w.store.get(back)).state).toBe('issued');
  });
});

describe('spend in front of approvers', () => {
  it('what the requester spent in 30 days, their live keys, and the median month of the model\'s current keys, from the gateway', async () => {
    const w = await world();
    const keyOf = async (email: string) => {
      const { request } = await w.store.create({ email, model: 'gpt-4o' });
      await w.settled(request.id, 'issued');
      return request.id;
    };
    const [a, b, c] = [await keyOf('a@example.com'), await keyOf('b@example.com'), await keyOf('c@example.com')];
    // Seen 40 days on: every key has lived 30 days or more; spend billed within the last 30.
    const later = Date.now() + 40 * DAY;
    const on = (daysBeforeLater: number) => new Date(later - daysBeforeLater * DAY);
    w.gateway.addSpend(a, 6, on(3));
    w.gateway.addSpend(b, 12, on(10));
    w.gateway.addSpend(b, 3, on(35)); // before the window: not counted
    w.gateway.addSpend(c, 30, on(1));
    const service = new SpendFigureService(w.store, w.deps.gateway, { now: () => later });
    const figures = await service.figures({ id: 'zzzzzzzzzzzz', email: 'b@example.com', model: 'gpt-4o' });
    expect(figures).toEqual({ last30Days: 12, liveKeys: [{ id: b, model: 'gpt-4o', expiresAt: expect.any(String) }], typicalMonthly: 12, typicalOver: 3 });
    // Reused: a second look costs the gateway nothing.
    const calls = w.gateway.activityCalls;
    await service.figures({ id: 'zzzzzzzzzzzz', email: 'b@example.com', model: 'gpt-4o' });
    expect(w.gateway.activityCalls).toBe(calls);
    // A gateway without the report: unknown, never a guess.
    w.gateway.withoutDailyActivity = true;
    const blind = new SpendFigureService(w.store, w.deps.gateway, { now: () => later });
    expect(await blind.figures({ id: 'zzzzzzzzzzzz', email: 'a@example.com', model: 'gpt-4o' })).toMatchObject({ last30Days: null, typicalMonthly: null, typicalOver: 0 });
    // Keys a few hours old say nothing of a month yet.
    w.gateway.withoutDailyActivity = false;
    const young = new SpendFigureService(w.store, w.deps.gateway);
    expect(await young.figures({ id: 'zzzzzzzzzzzz', email: 'a@example.com', model: 'gpt-4o' })).toMatchObject({ typicalMonthly: null, typicalOver: 0 });
  });
});
