import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ACTION, directMessageBlocks, reviewBlocks } from '@/lib/chat/slack-blocks';
import { ReplayGuard, verifySlackSignature } from '@/lib/chat/slack-signature';
import type { ReviewCard } from '@/lib/chat/types';
import type { KeyRequest } from '@/lib/domain/key-request';
import { chatOwed, chatStep, shows } from '@/lib/loop/chat-plan';

// The parts of the Slack adapter that are pure: signatures, Block Kit, and what a request is owed.

const SECRET = 'slack-signing-secret-0123456789abcdef';
const sign = (body: string, t: number) => `v0=${createHmac('sha256', SECRET).update(`v0:${t}:${body}`).digest('hex')}`;

describe("Slack's request signature", () => {
  const body = 'payload=%7B%22type%22%3A%22block_actions%22%7D';
  const now = 1_800_000_000_000;
  const t = now / 1000;
  it('takes v0 over v0:<timestamp>:<raw body> within five minutes, and nothing else', () => {
    expect(verifySlackSignature(body, String(t), sign(body, t), SECRET, now)).toEqual({ ok: true });
    expect(verifySlackSignature(body, String(t - 301), sign(body, t - 301), SECRET, now)).toEqual({ ok: false, why: 'stale' });
    expect(verifySlackSignature(body, String(t + 301), sign(body, t + 301), SECRET, now)).toEqual({ ok: false, why: 'stale' });
    expect(verifySlackSignature(`${body}x`, String(t), sign(body, t), SECRET, now)).toEqual({ ok: false, why: 'mismatch' });
    expect(verifySlackSignature(body, String(t), sign(body, t).replace('v0=', 'v1='), SECRET, now)).toEqual({ ok: false, why: 'missing' });
    expect(verifySlackSignature(body, null, sign(body, t), SECRET, now)).toEqual({ ok: false, why: 'missing' });
    expect(verifySlackSignature(body, String(t), null, SECRET, now)).toEqual({ ok: false, why: 'missing' });
  });

  it('the same signed bytes twice are a replay; after five minutes they would be stale anyway', () => {
    const guard = new ReplayGuard();
    expect(guard.firstSight('v0=aa', now)).toBe(true);
    expect(guard.firstSight('v0=aa', now + 1000)).toBe(false);
    expect(guard.firstSight('v0=bb', now + 1000)).toBe(true);
    expect(guard.firstSight('v0=aa', now + 301_000)).toBe(true);
  });
});

const card: ReviewCard = {
  requestId: 'abcdefghijkl',
  requester: 'eve@example.com',
  model: 'gpt-4o',
  modelTitle: 'GPT-4o <b>',
  justification: 'Ping <!channel> & <@U123> <https://evil.example|click>',
  policy: 'default: 1 approval (approvers)',
  progress: '0 of 1 approval, waiting for approvers',
  trace: ['whitelist: continue: no match'],
  reviews: [],
  currentKeys: ['gpt-4o-mini (expires 2026-12-31)'],
  statusUrl: 'https://keys.example.com/requests/abcdefghijkl',
};

describe('Block Kit', () => {
  it('escapes what people typed, so it can neither mention nor link, and shows Approve and Deny while undecided', () => {
    const text = JSON.stringify(reviewBlocks(card));
    expect(text).toContain('Ping &lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;');
    expect(text).not.toContain('<!channel>');
    expect(text).toContain(ACTION.approve);
    expect(text).toContain(ACTION.deny);
    expect(text).toContain('gpt-4o-mini (expires 2026-12-31)');
  });

  it('a top-up says so in its header and says what it asks for', () => {
    const blocks = reviewBlocks({ ...card, topUp: 'a top-up of $5 until 2026-12-31 on key kkkkkkkkkkkk' });
    expect(blocks[0]).toMatchObject({ type: 'header', text: { text: 'Top-up: GPT-4o <b>' } });
    expect(JSON.stringify(blocks)).toContain('*Asks for*\\na top-up of $5 until 2026-12-31 on key kkkkkkkkkkkk');
    expect(reviewBlocks(card)[0]).toMatchObject({ text: { text: 'Key request: GPT-4o <b>' } });
  });

  it('once decided: who and how, and the buttons are gone', () => {
    const blocks = reviewBlocks({ ...card, progress: undefined, outcome: { state: 'denied', by: 'bob@example.com', reason: 'Use <mini>' } });
    const text = JSON.stringify(blocks);
    expect(text).not.toContain(ACTION.approve);
    expect(text).toContain('*Denied* by bob@example.com: Use &lt;mini&gt;');
  });

  it('direct messages link to the status page; a reminder carries Renew', () => {
    const issued = directMessageBlocks({ kind: 'issued', requestId: 'abcdefghijkl', modelTitle: 'GPT-4o', statusUrl: card.statusUrl, expiresAt: '2027-01-03T00:00:00Z' });
    expect(JSON.stringify(issued)).toContain(`<${card.statusUrl}|Open the request>`);
    const reminder = directMessageBlocks({ kind: 'reminder', requestId: 'abcdefghijkl', modelTitle: 'GPT-4o', statusUrl: card.statusUrl, expiresAt: '2027-01-03T00:00:00Z', days: 3 });
    expect(JSON.stringify(reminder)).toContain(ACTION.renew);
    expect(reminder.text).toBe('Your key for GPT-4o expires in 3 days');
  });
});

describe('what a request is owed in chat', () => {
  const NOW = Date.parse('2026-02-01T12:00:00Z');
  const settings = { directMessages: true, claimSeconds: 120 };
  const req = (over: Partial<KeyRequest>): KeyRequest => ({ id: 'abcdefghijkl', email: 'eve@example.com', model: 'gpt-4o', state: 'in-review', createdAt: '2026-02-01T11:00:00Z', hasKey: false, resourceVersion: '1', ...over });
  const review = { channel: 'C1', ts: '1.1' };
  const rows: Array<[string, KeyRequest, string[]]> = [
    ['in review, nothing posted: the review message', req({}), ['review:post']],
    ['in review, posted and current: nothing', req({ chat: { review: { ...review, shows: 'in-review:0' } } }), []],
    ['a review arrived: an update', req({ reviews: [{ by: 'a@example.com', decision: 'approve', stage: 's', at: '2026-02-01T11:30:00Z' }], chat: { review: { ...review, shows: 'in-review:0' } } }), ['review:update']],
    ['issued and emailed: the update and the direct message', req({ state: 'issued', notified: 'issued', chat: { review: { ...review, shows: 'in-review:0' } } }), ['review:update', 'dm:issued']],
    ['issued, not yet emailed: only the update', req({ state: 'issued', chat: { review: { ...review, shows: 'in-review:0' } } }), ['review:update']],
    ['approved by a plugin, never reviewed: only the direct message', req({ state: 'issued', notified: 'issued' }), ['dm:issued']],
    ['a direct message already sent is not owed again', req({ state: 'denied', notified: 'denied', chat: { sent: ['denied'] } }), []],
    ['a requester with no Slack account is skipped', req({ state: 'denied', notified: 'denied', chat: { skipped: ['dm:denied'] } }), []],
    ['the 3-day reminder went out by email: its direct message', req({ state: 'issued', notified: 'issued', reminded: 3, chat: { sent: ['issued'] } }), ['dm:reminder:3']],
  ];
  it.each(rows)('%s', (_name, r, owed) => {
    expect(chatOwed(r, settings)).toEqual(owed);
  });

  it('waits out a retry and a live claim; a claim older than claimSeconds is taken over', () => {
    const r = req({ chat: { retry: { what: 'review:post', attempt: 1, at: '2026-02-01T12:00:30Z', since: '2026-02-01T12:00:00Z', error: 'down' } } });
    expect(chatStep(r, NOW, settings)).toEqual({ kind: 'wait', ms: 30_000, why: 'chat' });
    const claimed = req({ chat: { claim: { what: 'review:post', at: '2026-02-01T11:59:00Z' } } });
    expect(chatStep(claimed, NOW, settings)).toEqual({ kind: 'wait', ms: 60_000, why: 'chat' });
    expect(chatStep(claimed, NOW + 61_000, settings)).toEqual({ kind: 'chat', what: 'review:post' });
    expect(shows(req({ state: 'approved' }))).toBe('approved:0');
  });
});
