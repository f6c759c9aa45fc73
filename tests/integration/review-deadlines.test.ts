import { describe, expect, it } from 'vitest';
import { buildLoop } from '@/lib/loop/wiring';
import type { State } from '@/lib/domain/states';
import type { TestSetup } from '../helpers/portal';
import { testConfig } from '../helpers/portal';
import { kubectl } from '../helpers/cluster';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// Reviews that cannot wait for ever, on the real cluster with a real SMTP server and a clock the
// test moves: the review deadline, the approvers' daily digest and its escalation.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function world(overrides: Partial<TestSetup> = {}) {
  const w = await clusterWorld('review', overrides);
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);
  const parts = buildLoop(testConfig(w.setup), w.store, {}, { people: w.people, clock });
  parts.loop.start();
  afterThisTest(() => parts.loop.stop());
  const settled = (id: string, state: State, timeoutMs = 15_000) =>
    until(async () => {
      const r = await w.store.get(id);
      return r.state === state && r.notified === state ? r : undefined;
    }, `request ${id} to be ${state} and emailed`, timeoutMs);
  const moveBy = (ms: number, ...ids: string[]) => {
    offset += ms;
    for (const id of ids) parts.loop.enqueue(id);
  };
  const held = async (email: string) => {
    // `experimental` matches no plugin of the test chain: held for review.
    const { request } = await w.store.create({ email, model: 'experimental' });
    return settled(request.id, 'in-review');
  };
  return { ...w, parts, settled, moveBy, held };
}

describe('the review deadline', () => {
  it('a request in review for reviewTimeoutDays is denied by keyportal and the requester told; a hand-edited created-at moves nothing', async () => {
    const w = await world({ approvals: { reviewTimeoutDays: 14 } });
    const r = await w.held('slow@example.com');
    expect(r.reviewSince).toBeDefined();
    const other = await w.held('edited@example.com');
    // An administrator back-dates created-at by hand: the deadline counts from the loop's own record.
    await kubectl('-n', w.namespace, 'annotate', 'secret', `keyreq-${other.id}`, 'keyportal.dev/created-at=2020-01-01T00:00:00Z', '--overwrite');
    await until(async () => ((await w.store.get(other.id)).createdAt === '2020-01-01T00:00:00Z' ? true : undefined), 'the edit seen');
    w.parts.loop.enqueue(other.id);

    w.moveBy(14 * DAY - HOUR, r.id, other.id);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await w.store.get(r.id)).state).toBe('in-review');
    // Six years past its created-at, an hour inside its fortnight: the loop waits.
    const edited = await w.store.get(other.id);
    expect(edited.state).toBe('in-review');
    expect(w.parts.reconciler.plan(edited).kind).toBe('wait');

    w.moveBy(HOUR + 1000, r.id);
    const denied = await w.settled(r.id, 'denied');
    expect(denied).toMatchObject({ decidedBy: 'keyportal', decision: 'denied', reason: 'Not reviewed within 14 days. Request it again if you still need it.' });
    const mail = w.smtp.to('slow@example.com').find((m) => /was denied/.test(m.subject));
    expect(mail?.text).toContain('Not reviewed within 14 days');
    // Its own fortnight ends within the second the clock was moved by (it was held just after r);
    // any write to it (the audit acknowledgement, say) has the loop see that, so it is denied too.
    w.moveBy(0, other.id);
    expect(await w.settled(other.id, 'denied')).toMatchObject({ decidedBy: 'keyportal', reason: 'Not reviewed within 14 days. Request it again if you still need it.' });
  });
});

describe('the approvers\' digest', () => {
  it('one email a day per approver listing what waited past remindAfterHours, escalated past escalateAfterHours, never twice a day', async () => {
    const w = await world({ notify: ['approvers@example.com', 'second@example.com'], approvals: { remindAfterHours: 24, escalateAfterHours: 48, escalateTo: ['head@example.com'] } });
    const waiting = [await w.held('a@example.com'), await w.held('b@example.com'), await w.held('c@example.com')];
    const digest = () => w.parts.reviewDigest(new AbortController().signal);
    const digests = (to: string) => w.smtp.to(to).filter((m) => /wait(s)? for your review$/.test(m.subject));
    const escalations = (to: string) => w.smtp.to(to).filter((m) => /^Escalation:/.test(m.subject));

    // Too fresh to remind anyone.
    expect((await digest()).sent).toEqual([]);
    w.moveBy(25 * HOUR);
    const first = await digest();
    expect(first.sent.sort((x, y) => x.to.localeCompare(y.to))).toEqual([
      { to: 'approvers@example.com', requests: 3, escalation: false },
      { to: 'second@example.com', requests: 3, escalation: false },
    ]);
    await until(async () => (digests('approvers@example.com').length === 1 ? true : undefined), 'the first digest');
    const mail = digests('approvers@example.com')[0];
    expect(mail?.subject).toBe('3 key requests wait for your review');
    for (const r of waiting) expect(mail?.text).toContain(`(request ${r.id}), waiting 1 day, denied unless reviewed by`);
    expect(mail?.text).toContain('Review them: http://portal.test:3000/approvals');
    // The same day again: nothing; one per approver, not one per request.
    expect((await digest()).sent).toEqual([]);
    expect(w.smtp.to('approvers@example.com').filter((m) => /review/.test(m.subject) && !/waits for review/.test(m.subject))).toHaveLength(1);

    // A day on, one was decided meanwhile; the rest are past 48 hours: reminded again, and escalated.
    await kubectl('-n', w.namespace, 'label', 'secret', `keyreq-${waiting[0]?.id}`, 'keyportal.dev/state=denied', '--overwrite');
    await w.settled(waiting[0]?.id as string, 'denied');
    w.moveBy(24 * HOUR);
    const second = await digest();
    expect(second.sent.map((s) => [s.to, s.requests, s.escalation]).sort()).toEqual([
      ['approvers@example.com', 2, false],
      ['head@example.com', 2, true],
      ['second@example.com', 2, false],
    ]);
    await until(async () => (escalations('head@example.com').length === 1 ? true : undefined), 'the escalation');
    expect(escalations('head@example.com')[0]?.subject).toBe('Escalation: 2 key requests still wait for review');
    expect(escalations('head@example.com')[0]?.text).not.toContain(waiting[0]?.id as string);
    const recorded = await w.store.get(waiting[1]?.id as string);
    const today = new Date(Date.now() + 49 * HOUR).toISOString().slice(0, 10);
    expect(recorded.reviewDigest).toEqual({ reminded: today, escalated: today });
  });
});
