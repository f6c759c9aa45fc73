import { describe, expect, it } from 'vitest';
import { parseConfig } from '@/lib/config/load';
import { GATEWAY_KEY_FINALIZER, type KeyRequest } from '@/lib/domain/key-request';
import { chainOf, duplicateOf } from '@/lib/domain/renewal';
import type { State } from '@/lib/domain/states';
import { type PlanSettings, type Step, mayHoldGatewayKey, plan, reminderSchedule } from '@/lib/loop/plan';
import { expiryInWords, reminderMessage, timeLeftInWords } from '@/lib/mail/reminder';
import { buildPlugins, checkPluginEntry } from '@/plugins';
import { runChain } from '@/lib/approval/chain';
import { TEST_MODELS } from '../helpers/portal';

// Expiry reminders as the planner sees them (a pure table, a clock the test names), and the
// pure rules of renewal: the duplicate rule, the chain, the renewals-only whitelist.

const DAY = 86_400_000;
const NOW = Date.parse('2026-03-01T12:00:00Z');
const at = (ms: number) => new Date(NOW + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const PLAN: PlanSettings = {
  catalog: new Set(TEST_MODELS.map((m) => m.id)),
  reviewNotify: [],
  notifyClaimSeconds: 30,
  kubectlGraceSeconds: 15,
  giveUpAfterSeconds: 3600,
  keyDelivery: 'email',
  revealWindowSeconds: 7 * 86_400,
  reminderDays: [7, 3, 1],
};

/** An issued key, emailed and erased from the Secret (delivered), issued 30 days before it expires. */
function issued(expiresInMs: number, over: Partial<KeyRequest> = {}): KeyRequest {
  const r: KeyRequest = {
    id: 'aaaaaaaaaaaa',
    email: 'ada@example.com',
    model: 'gpt-4o',
    state: 'issued',
    createdAt: at(expiresInMs - 30 * DAY - 1000),
    issuedAt: at(expiresInMs - 30 * DAY),
    expiresAt: at(expiresInMs),
    notified: 'issued',
    observed: { state: over.state ?? 'issued' },
    hasKey: false,
    resourceVersion: '9',
    ...over,
  };
  // As our code leaves it: the finalizer on while a key may be live at the gateway.
  return mayHoldGatewayKey(r) ? { ...r, finalizers: [GATEWAY_KEY_FINALIZER] } : r;
}

describe('plan: expiry reminders', () => {
  const rows: Array<[string, KeyRequest, Step]> = [
    ['ten days out, it sleeps until the 7-day reminder', issued(10 * DAY), { kind: 'wait', ms: 3 * DAY, why: 'reminder' }],
    ['the 7-day moment has come', issued(7 * DAY - 1000), { kind: 'remind', days: 7 }],
    ['exactly at the moment', issued(7 * DAY), { kind: 'remind', days: 7 }],
    ['7 sent, it sleeps until the 3-day reminder', issued(5 * DAY, { reminded: 7 }), { kind: 'wait', ms: 2 * DAY, why: 'reminder' }],
    ['7 sent, 3 due', issued(3 * DAY - 5000, { reminded: 7 }), { kind: 'remind', days: 3 }],
    ['the loop was down through 7 and 3: only the 1-day reminder goes out', issued(12 * 3_600_000), { kind: 'remind', days: 1 }],
    ['all sent: it sleeps until the expiry', issued(12 * 3_600_000, { reminded: 1 }), { kind: 'wait', ms: 12 * 3_600_000, why: 'expiry' }],
    ['past its expiry, it expires (no reminder of an end that has come)', issued(-1000), { kind: 'expire' }],
    ['another replica holds the claim on the reminder', issued(7 * DAY - 1000, { notifying: { state: 'issued', at: at(-10_000), reminder: 7 } }), { kind: 'wait', ms: 20_000, why: 'claim' }],
    ['a claim left by a dead replica is taken over', issued(7 * DAY - 1000, { notifying: { state: 'issued', at: at(-31_000), reminder: 7 } }), { kind: 'remind', days: 7 }],
    ['a failed send waits for its retry', issued(7 * DAY - 1000, { retry: { step: 'notify', attempt: 1, at: at(2000), error: 'SMTP down' } }), { kind: 'wait', ms: 2000, why: 'retry' }],
    [
      'a 7-day key is not reminded at birth: the "is ready" email told the expiry; the 3-day one comes',
      issued(7 * DAY, { issuedAt: at(0) }),
      { kind: 'wait', ms: 4 * DAY, why: 'reminder' },
    ],
    ['the issued email comes before any reminder', issued(DAY / 2, { notified: undefined }), { kind: 'notify', notice: { state: 'issued', to: 'requester' } }],
    ['a key that never expires is never reminded', issued(0, { expiresAt: undefined }), { kind: 'done' }],
    ['revoked: no reminder, the revocation is handled', issued(DAY / 2, { state: 'revoked', decision: 'revoked' }), { kind: 'delete-at-gateway', notice: { state: 'revoked', to: 'requester' } }],
    ['expired and told: nothing', issued(-DAY, { state: 'expired', notified: 'expired' }), { kind: 'done' }],
  ];
  it.each(rows)('%s', (_name, r, expected) => {
    expect(plan(r, NOW, PLAN)).toEqual(expected);
    expect(plan(r, NOW, PLAN)).toEqual(plan(r, NOW, PLAN));
  });

  it('with no reminders configured it only waits for the expiry', () => {
    expect(plan(issued(2 * DAY), NOW, { ...PLAN, reminderDays: [] })).toEqual({ kind: 'wait', ms: 2 * DAY, why: 'expiry' });
  });

  it('portal delivery: the reveal window and the reminders, whichever comes first', () => {
    const settings: PlanSettings = { ...PLAN, keyDelivery: 'portal' };
    const unrevealed = issued(7.5 * DAY, { issuedAt: at(-6 * DAY) });
    expect(plan(unrevealed, NOW, settings)).toEqual({ kind: 'wait', ms: DAY / 2, why: 'reminder' });
    expect(plan({ ...unrevealed, issuedAt: at(-6.75 * DAY) }, NOW, settings)).toEqual({ kind: 'wait', ms: DAY / 4, why: 'reveal-window' });
  });

  it('walks 7, 3, 1 as the clock moves: each once, then the expiry', () => {
    let r = issued(20 * DAY);
    const sent: number[] = [];
    for (let t = NOW; t < NOW + 21 * DAY; t += 3_600_000) {
      const step = plan(r, t, PLAN);
      if (step.kind === 'remind') {
        sent.push(step.days);
        r = { ...r, reminded: step.days };
      }
      if (step.kind === 'expire') break;
    }
    expect(sent).toEqual([7, 3, 1]);
    expect(reminderSchedule(r, NOW + 21 * DAY, PLAN.reminderDays)).toEqual({});
  });
});

describe('the reminder email', () => {
  it('says the date in UTC, the time left, and links to the renew button', () => {
    const r = issued(3 * DAY - 60_000, { expiresAt: '2026-03-04T11:59:00Z' });
    const m = reminderMessage({ ...r, expiresAt: '2026-03-04T11:59:00Z' }, { portalUrl: 'https://keys.example.com', portalTitle: 'Keyportal', gatewayUrl: 'https://llm.example.com', modelTitle: 'GPT-4o' }, new Date(NOW));
    expect(m.subject).toBe('Your GPT-4o key expires in 3 days');
    expect(m.text).toContain('expires on Wednesday 4 March 2026, 11:59 UTC (2026-03-04T11:59:00Z), in 3 days.');
    expect(m.text).toContain('Renew it with one click: https://keys.example.com/requests/aaaaaaaaaaaa?renew=1');
    expect(m.html).toContain('href="https://keys.example.com/requests/aaaaaaaaaaaa?renew=1"');
  });

  it('counts days, and hours under a day', () => {
    expect(timeLeftInWords(at(DAY - 1000), new Date(NOW))).toBe('in 1 day');
    expect(timeLeftInWords(at(7 * DAY - 1000), new Date(NOW))).toBe('in 7 days');
    expect(timeLeftInWords(at(5 * 3_600_000), new Date(NOW))).toBe('in about 5 hours');
    expect(expiryInWords('2026-12-31T23:05:00Z')).toBe('Thursday 31 December 2026, 23:05 UTC');
  });
});

describe('config: loop.reminders', () => {
  const load = (reminders: unknown) =>
    parseConfig({ models: [{ id: 'gpt-4o', title: 'GPT-4o' }], loop: { reminders } }, { source: 'test', env: {}, checkPlugin: checkPluginEntry });

  it('defaults to 7, 3 and 1 days', () => {
    expect(parseConfig({ models: [{ id: 'gpt-4o', title: 'GPT-4o' }] }, { source: 'test', env: {}, checkPlugin: checkPluginEntry }).loop.reminders).toEqual([7, 3, 1]);
    expect(load([14, 2]).loop.reminders).toEqual([14, 2]);
    expect(load([]).loop.reminders).toEqual([]);
  });

  it.each([
    [[3, 7], /loop\.reminders.*from most to fewest/],
    [[7, 7, 1], /loop\.reminders.*appears once/],
    [[0], /loop\.reminders\[0\].*at least 1 day/],
    [[1.5], /loop\.reminders\[0\].*whole number/],
  ])('refuses %j, naming the field', (reminders, message) => {
    expect(() => load(reminders)).toThrow(message);
  });
});

describe('renewal rules', () => {
  const r = (id: string, state: State, over: Partial<KeyRequest> = {}): KeyRequest => ({ ...issued(10 * DAY), id, state, ...over });

  it('a renewal is not blocked by the key it renews, nor by the key that one renewed; anything else live blocks it', () => {
    const old = r('oldoldoldold', 'issued');
    expect(duplicateOf([old])).toBe(old);
    expect(duplicateOf([old], { renews: old.id })).toBeUndefined();
    const first = r('firstrenewal', 'pending', { renews: old.id });
    expect(duplicateOf([old, first], { renews: old.id })).toBe(first);
    // The renewal issued, it can be renewed in turn while the old key still runs out its time.
    const issuedRenewal = { ...first, state: 'issued' as const };
    expect(duplicateOf([old, issuedRenewal], { renews: issuedRenewal.id })).toBeUndefined();
    // Only an issued key is exempt: a pending "old" request is a duplicate like any other.
    expect(duplicateOf([r('pendingoldxx', 'pending')], { renews: 'pendingoldxx' })?.id).toBe('pendingoldxx');
  });

  it('a top-up never blocks a key request, and blocks another top-up of the same key only while it is undecided or unapplied', () => {
    const key = r('keykeykeykey', 'issued');
    const applied = r('appliedtopup', 'issued', { topsUp: key.id, topUp: { amount: 5 } });
    const open = r('opentopupxxx', 'in-review', { topsUp: key.id, topUp: { amount: 5 } });
    // A renewal of the key is not blocked by its applied top-up; a fresh request is blocked by the key alone.
    expect(duplicateOf([key, applied], { renews: key.id })).toBeUndefined();
    expect(duplicateOf([applied, key])).toBe(key);
    expect(duplicateOf([key, applied], { topsUp: key.id })).toBeUndefined();
    expect(duplicateOf([key, applied, open], { topsUp: key.id })).toBe(open);
    // Another key's top-up is no duplicate.
    expect(duplicateOf([key, open], { topsUp: 'otherkeyxxxx' })).toBeUndefined();
  });

  it('the chain reads both ways', () => {
    const a = r('aaaaaaaaaaaa', 'expired');
    const b = r('bbbbbbbbbbbb', 'issued', { renews: a.id, createdAt: at(1000) });
    const c = r('cccccccccccc', 'denied', { renews: b.id, createdAt: at(2000) });
    const d = r('dddddddddddd', 'pending', { renews: b.id, createdAt: at(3000) });
    const chain = chainOf(b, [a, b, c, d]);
    expect(chain.renews.map((l) => l.id)).toEqual([a.id]);
    expect(chain.renewedBy.map((l) => l.id)).toEqual([d.id, c.id]);
    expect(chainOf(d, [a, b, c, d]).renews.map((l) => l.id)).toEqual([a.id, b.id]);
    // A hand-made loop does not hang it.
    const looped = { ...a, renews: b.id };
    expect(chainOf(looped, [looped, b]).renews.map((l) => l.id)).toEqual([b.id]);
  });

  it('a renewals-only whitelist entry approves renewals and lets first requests go on', async () => {
    const plugins = buildPlugins([{ name: 'whitelist', config: { models: ['gpt-4o'], renewalsOnly: true } }], {});
    const signal = new AbortController().signal;
    const first = await runChain(plugins, { id: 'aaaaaaaaaaaa', email: 'ada@example.com', model: 'gpt-4o' }, { fallback: 'review', signal });
    expect(first).toMatchObject({ outcome: 'review', trace: [{ plugin: 'whitelist', outcome: 'continue', reason: 'not a renewal; this whitelist entry approves renewals only' }] });
    const renewal = await runChain(plugins, { id: 'bbbbbbbbbbbb', email: 'ada@example.com', model: 'gpt-4o', renews: 'aaaaaaaaaaaa' }, { fallback: 'review', signal });
    expect(renewal).toMatchObject({ outcome: 'approve', decidedBy: 'plugin:whitelist', reason: 'renewal of aaaaaaaaaaaa: model gpt-4o matches "gpt-4o"' });
    expect(checkPluginEntry('whitelist', { models: ['gpt-4o'], renewalsOnly: 'yes' })).toEqual([{ path: ['config', 'renewalsOnly'], message: expect.stringMatching(/renewalsOnly: expected true or false/) }]);
  });
});
