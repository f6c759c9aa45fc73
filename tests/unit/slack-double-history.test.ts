import { afterEach, describe, expect, it } from 'vitest';
import { TestSlack, type TestSlackOptions } from '@/trial/slack';

// The double's conversations.history and conversations.list, over real HTTP on 127.0.0.1, as
// their pages describe them; its `scopes` and its lost answer.

let slack: TestSlack | undefined;
afterEach(async () => {
  await slack?.stop();
  slack = undefined;
});

async function setup(options: TestSlackOptions = {}): Promise<TestSlack> {
  slack = new TestSlack({
    rateLimits: 'off',
    channels: [
      { id: 'CREVIEW001', name: 'key-reviews' },
      { id: 'GPRIVATE01', name: 'secret-reviews', private: true },
      { id: 'GHIDDEN001', name: 'not-ours', private: true, botIsMember: false },
      { id: 'COUTSIDE01', name: 'outside', botIsMember: false },
      { id: 'COLD000001', name: 'old', archived: true },
    ],
    ...options,
  });
  await slack.start();
  return slack;
}

type Answer = { ok: boolean; error?: string } & Record<string, unknown>;

/** A read as an app sends it: GET with a query. */
async function read(method: string, args: Record<string, string | number | boolean> = {}): Promise<Answer> {
  const s = slack as TestSlack;
  const query = new URLSearchParams(Object.entries(args).map(([k, v]) => [k, String(v)]));
  const res = await fetch(`${s.apiUrl}${method}?${query}`, { headers: { authorization: `Bearer ${s.token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
}

async function post(channel: string, text: string, metadata?: unknown): Promise<string> {
  const s = slack as TestSlack;
  const res = await fetch(`${s.apiUrl}chat.postMessage`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ channel, text, ...(metadata ? { metadata } : {}) }),
  });
  const body = (await res.json()) as Answer;
  expect(body.ok).toBe(true);
  return body.ts as string;
}

const texts = (a: Answer) => (a.messages as Array<{ text: string }>).map((m) => m.text);

describe('the Slack double: conversations.history', () => {
  it('answers newest first, after `oldest` (exclusive unless inclusive), a page at a time with a cursor', async () => {
    await setup();
    const ts: string[] = [];
    for (let i = 0; i < 5; i++) ts.push(await post('#key-reviews', `m${i}`));
    expect(texts(await read('conversations.history', { channel: 'CREVIEW001' }))).toEqual(['m4', 'm3', 'm2', 'm1', 'm0']);
    expect(texts(await read('conversations.history', { channel: 'CREVIEW001', oldest: ts[2] as string }))).toEqual(['m4', 'm3']);
    expect(texts(await read('conversations.history', { channel: 'CREVIEW001', oldest: ts[2] as string, inclusive: true }))).toEqual(['m4', 'm3', 'm2']);
    expect(texts(await read('conversations.history', { channel: 'CREVIEW001', latest: ts[2] as string }))).toEqual(['m1', 'm0']);

    const first = await read('conversations.history', { channel: 'CREVIEW001', limit: 2 });
    expect(texts(first)).toEqual(['m4', 'm3']);
    expect(first.has_more).toBe(true);
    const cursor = (first.response_metadata as { next_cursor: string }).next_cursor;
    expect(cursor).not.toBe('');
    const second = await read('conversations.history', { channel: 'CREVIEW001', limit: 2, cursor });
    expect(texts(second)).toEqual(['m2', 'm1']);
    const last = await read('conversations.history', { channel: 'CREVIEW001', limit: 2, cursor: (second.response_metadata as { next_cursor: string }).next_cursor });
    expect(texts(last)).toEqual(['m0']);
    expect(last).toMatchObject({ has_more: false, response_metadata: { next_cursor: '' } });
    expect(await read('conversations.history', { channel: 'CREVIEW001', cursor: 'not-a-cursor' })).toMatchObject({ ok: false, error: 'invalid_cursor' });
  });

  it('shows metadata only with include_all_metadata; takes a channel id only; refuses a channel the bot is not in', async () => {
    await setup();
    const metadata = { event_type: 'keyportal_review', event_payload: { request_id: 'abcdefghjkmn' } };
    await post('CREVIEW001', 'with metadata', metadata);
    const plain = (await read('conversations.history', { channel: 'CREVIEW001' })).messages as Array<Record<string, unknown>>;
    expect(plain[0]?.metadata).toBeUndefined();
    const full = (await read('conversations.history', { channel: 'CREVIEW001', include_all_metadata: true })).messages as Array<Record<string, unknown>>;
    expect(full[0]).toMatchObject({ type: 'message', text: 'with metadata', metadata });
    expect(await read('conversations.history', { channel: '#key-reviews' })).toMatchObject({ ok: false, error: 'channel_not_found' });
    expect(await read('conversations.history', { channel: 'COUTSIDE01' })).toMatchObject({ ok: false, error: 'not_in_channel' });
  });
});

describe('the Slack double: conversations.list', () => {
  it('lists public channels by default, private ones only where the bot is a member, and pages with a cursor', async () => {
    await setup();
    const names = (a: Answer) => (a.channels as Array<{ name: string }>).map((c) => c.name);
    expect(names(await read('conversations.list'))).toEqual(['key-reviews', 'outside', 'old']);
    expect(names(await read('conversations.list', { exclude_archived: true }))).toEqual(['key-reviews', 'outside']);
    expect(names(await read('conversations.list', { types: 'private_channel' }))).toEqual(['secret-reviews']);
    const first = await read('conversations.list', { types: 'public_channel,private_channel', limit: 2 });
    expect(names(first)).toEqual(['key-reviews', 'secret-reviews']);
    const rest = await read('conversations.list', { types: 'public_channel,private_channel', limit: 2, cursor: (first.response_metadata as { next_cursor: string }).next_cursor });
    expect(names(rest)).toEqual(['outside', 'old']);
    expect(rest.response_metadata).toEqual({ next_cursor: '' });
    expect((await read('conversations.list', { types: 'private_channel' })).channels).toEqual([{ id: 'GPRIVATE01', name: 'secret-reviews', is_channel: false, is_group: true, is_private: true, is_member: true, is_archived: false }]);
  });
});

describe('the Slack double: scopes and lost answers', () => {
  it('told the app lacks the history and read scopes, answers missing_scope naming them; other methods are not checked', async () => {
    await setup({ scopes: ['chat:write', 'users:read'] });
    expect(await read('conversations.history', { channel: 'CREVIEW001' })).toEqual({ ok: false, error: 'missing_scope', needed: 'channels:history,groups:history,im:history,mpim:history', provided: 'chat:write,users:read' });
    expect(await read('conversations.list')).toMatchObject({ ok: false, error: 'missing_scope', needed: 'channels:read,groups:read,im:read,mpim:read' });
    await post('CREVIEW001', 'still posts');
  });

  it("a lost answer: the message is posted, the connection is cut before Slack's reply", async () => {
    const s = await setup();
    s.failNext(1, 'lost', { method: 'chat.postMessage' });
    const err = await post('CREVIEW001', 'posted unseen').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(TypeError); // fetch failed: the other side closed
    expect(s.messagesIn('CREVIEW001').map((m) => m.text)).toEqual(['posted unseen']);
    expect(s.calls.at(-1)).toMatchObject({ method: 'chat.postMessage', status: 0, ok: true, lost: true });
    // Only the one call: the next is answered.
    await post('CREVIEW001', 'answered');
    expect(s.messagesIn('CREVIEW001')).toHaveLength(2);
  });
});
