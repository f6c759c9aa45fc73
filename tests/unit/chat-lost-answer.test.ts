import { afterEach, describe, expect, it, vi } from 'vitest';
import { SlackChat } from '@/lib/chat/slack';
import { slackSchema } from '@/lib/config/chat-schema';
import { type KeyRequest, rfc3339 } from '@/lib/domain/key-request';
import { type ChatDeps, doChat } from '@/lib/loop/chat';
import type { LoopEvent } from '@/lib/loop/events';
import { TestSlack, type TestSlackOptions } from '@/trial/slack';
import { MemoryStore } from '../helpers/memory-store';

// A review post whose verdict never came back (the connection dropped after Slack posted it, or a
// replica stopped between its post and its record) is looked for in the channel before it is
// made again, so the channel gets one card per request; and a post that keeps failing backs off
// and gives up as the loop's retry settings say. Against the Slack double over real HTTP.

const CHANNEL = { id: 'CREVIEW001', name: 'key-reviews' };
const RETRY = { initialSeconds: 1, maxSeconds: 300, giveUpAfterSeconds: 3600 };
const ADA = { id: 'U0ADA00001', email: 'ada@example.com' };

let slack: TestSlack | undefined;
afterEach(async () => {
  await slack?.stop();
  slack = undefined;
  vi.restoreAllMocks();
});

async function world(options: { slack?: TestSlackOptions; reviewChannel?: string; retry?: typeof RETRY } = {}) {
  const s = new TestSlack({ rateLimits: 'off', channels: [CHANNEL], users: [ADA], ...options.slack });
  await s.start();
  slack = s;
  // The loop's clock stays near Slack's: history is searched by time.
  const now = { t: Date.now() };
  const store = new MemoryStore(() => new Date(now.t));
  const { request } = await store.create({ email: 'ada@example.com', model: 'gpt-4o' });
  await store.update(request, { state: 'in-review' });
  const config = slackSchema.parse({ reviewChannel: options.reviewChannel ?? '#key-reviews', apiUrl: s.apiUrl, timeoutMs: 1000 });
  const events: LoopEvent[] = [];
  /** A fresh SlackChat is a restarted process: it knows no channel id yet. */
  const deps = (poster = new SlackChat(config, s.token, { postIntervalMs: 1, burst: 100 })): ChatDeps => ({
    poster,
    store,
    clock: () => new Date(now.t),
    retry: options.retry ?? RETRY,
    card: async (r: KeyRequest) => ({ requestId: r.id, requester: r.email, model: r.model, modelTitle: r.model, policy: 'one approval', trace: [], reviews: [], currentKeys: [], statusUrl: `http://127.0.0.1/requests/${r.id}` }),
    channelOf: () => undefined,
    directMessage: (r: KeyRequest, kind: string) => (kind === 'issued' ? { kind: 'issued' as const, requestId: r.id, modelTitle: 'GPT-4o', statusUrl: `http://127.0.0.1/requests/${r.id}` } : undefined),
    tell: (_r, e) => void events.push(e),
  });
  const step = async (d: ChatDeps, what = 'review:post') => doChat(d, await store.get(request.id), what, new AbortController().signal);
  const cards = () => s.messagesIn(CHANNEL.id).filter((m) => (m.metadata?.event_payload as { request_id?: string } | undefined)?.request_id === request.id);
  const historyCalls = () => s.calls.filter((c) => c.method === 'conversations.history').length;
  /** The first post's answer lost, the next attempt two seconds later. */
  const loseThenRetry = async (d: ChatDeps) => {
    s.failNext(1, 'lost', { method: 'chat.postMessage' });
    await step(d);
    now.t += 2000;
    await step(d);
  };
  return { s, now, store, id: request.id, deps, step, cards, events, historyCalls, loseThenRetry };
}

describe('a review post whose answer was lost', () => {
  it('is found in the channel on the next attempt and recorded, not posted again (a restarted process, the channel named)', async () => {
    const w = await world();
    w.s.failNext(1, 'lost', { method: 'chat.postMessage' });
    await w.step(w.deps());
    const after = await w.store.get(w.id);
    expect(after.chat?.retry).toMatchObject({ what: 'review:post', attempt: 1 });
    expect(after.chat?.retry?.unsureSince).toBeDefined();
    expect(after.chat?.review).toBeUndefined();
    expect(w.cards()).toHaveLength(1);

    w.now.t += 2000;
    await w.step(w.deps());
    const done = await w.store.get(w.id);
    const [card] = w.cards();
    expect(w.cards()).toHaveLength(1);
    expect(done.chat?.review).toEqual({ channel: CHANNEL.id, ts: card?.ts, shows: 'in-review:0' });
    expect(done.chat?.retry).toBeUndefined();
    expect(done.chat?.claim).toBeUndefined();
    expect(w.events.map((e) => e.reason)).toContain('ChatFound');
    // The name was resolved once through conversations.list, the history read once.
    expect(w.s.calls.filter((c) => c.method === 'conversations.list')).toHaveLength(1);
    expect(w.historyCalls()).toBe(1);
  });

  it('a channel configured by id: looked for without a conversations.list', async () => {
    const w = await world({ reviewChannel: CHANNEL.id });
    await w.loseThenRetry(w.deps());
    expect(w.cards()).toHaveLength(1);
    expect((await w.store.get(w.id)).chat?.review?.ts).toBe(w.cards()[0]?.ts);
    expect(w.s.calls.filter((c) => c.method === 'conversations.list')).toHaveLength(0);
  });

  it('a claim taken over from a replica that stopped after its post: the card it posted is kept', async () => {
    const w = await world();
    const d = w.deps();
    // The other replica claimed, posted, and stopped before it recorded the message.
    const r = await w.store.get(w.id);
    await w.store.update(r, { chat: { claim: { what: 'review:post', at: rfc3339(new Date(w.now.t)) } } });
    const ref = await d.poster.postReview(await d.card(r), undefined);
    w.now.t += 61_000;
    await w.step(d);
    expect(w.cards()).toHaveLength(1);
    expect((await w.store.get(w.id)).chat?.review).toMatchObject(ref);
  });

  it('a post that never left (Slack refusing connections) is made again without a look; nothing was there to find', async () => {
    const w = await world();
    const d = w.deps();
    await w.s.stop();
    await w.step(d);
    expect((await w.store.get(w.id)).chat?.retry?.unsureSince).toBeUndefined();
    await w.s.start();
    w.now.t += 2000;
    await w.step(d);
    expect(w.cards()).toHaveLength(1);
    expect(w.historyCalls()).toBe(0);
  });

  it('Slack answering 503 (down) did not post: the next attempt posts without a look', async () => {
    const w = await world();
    w.s.failNext(1, 'down', { method: 'chat.postMessage' });
    const d = w.deps();
    await w.step(d);
    const after = (await w.store.get(w.id)).chat?.retry;
    expect(after?.error).toMatch(/HTTP 503/);
    expect(after?.unsureSince).toBeUndefined();
    w.now.t += 2000;
    await w.step(d);
    expect(w.cards()).toHaveLength(1);
    expect(w.historyCalls()).toBe(0);
  });

  it('an app without the history scopes cannot look: it posts again and the log names the scopes', async () => {
    const w = await world({ slack: { scopes: ['chat:write', 'im:write', 'users:read', 'users:read.email'] } });
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    await w.loseThenRetry(w.deps());
    expect(w.cards()).toHaveLength(2);
    expect((await w.store.get(w.id)).chat?.review?.ts).toBe(w.cards()[1]?.ts);
    expect(lines.join('\n')).toMatch(/missing_scope.*channels:history, groups:history, im:history, channels:read and groups:read/);
  });
});

describe('a direct message whose answer was lost', () => {
  it("is found in the person's DM with the app by its metadata and recorded as sent, not sent twice", async () => {
    const w = await world();
    w.s.failNext(1, 'lost', { method: 'chat.postMessage' });
    const d = w.deps();
    await w.step(d, 'dm:issued');
    expect((await w.store.get(w.id)).chat?.retry?.unsureSince).toBeDefined();
    w.now.t += 2000;
    await w.step(w.deps(), 'dm:issued');
    const dms = w.s.dmsTo(ADA.id);
    expect(dms).toHaveLength(1);
    expect(dms[0]?.metadata).toEqual({ event_type: 'keyportal_dm', event_payload: { request_id: w.id, message: 'issued' } });
    const done = await w.store.get(w.id);
    expect(done.chat?.sent).toEqual(['issued']);
    expect(done.chat?.retry).toBeUndefined();
    expect(w.events.map((e) => e.reason)).toContain('ChatFound');
  });
});

describe('a review post that keeps failing', () => {
  it('counts its attempts, backs off, and gives up after giveUpAfterSeconds with a Warning', async () => {
    const w = await world({ retry: { initialSeconds: 1, maxSeconds: 300, giveUpAfterSeconds: 20 } });
    const d = w.deps();
    await w.s.stop();
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      await w.step(d);
      const retry = (await w.store.get(w.id)).chat?.retry;
      expect(retry?.attempt).toBe(attempt);
      waits.push(Date.parse(retry?.at as string) - w.now.t);
      w.now.t = Date.parse(retry?.at as string);
    }
    // 1, 2, 4, 8 s with ±20 % jitter, rounded up to the second.
    expect(waits[3]).toBeGreaterThan(waits[0] as number);
    expect(waits[3]).toBeGreaterThanOrEqual(6000);
    w.now.t += 20_000;
    await w.step(d);
    const given = await w.store.get(w.id);
    expect(given.chat?.skipped).toContain('review:post');
    expect(given.chat?.retry).toBeUndefined();
    expect(w.events.some((e) => e.reason === 'ChatFailed' && /given up after failing since/.test(e.message))).toBe(true);
  });

  it('an hour of Slack down costs a few dozen writes, not two a second', async () => {
    const w = await world({ retry: { initialSeconds: 1, maxSeconds: 300, giveUpAfterSeconds: 86_400 } });
    const d = w.deps();
    await w.s.stop();
    const start = w.now.t;
    const writes = w.store.calls.update;
    let attempts = 0;
    // The loop comes back when the retry is due; bounded by the hour and by a count.
    while (w.now.t - start < 3_600_000 && attempts < 5000) {
      await w.step(d);
      attempts++;
      w.now.t = Math.max(w.now.t + 1, Date.parse((await w.store.get(w.id)).chat?.retry?.at as string));
    }
    const written = w.store.calls.update - writes;
    console.log(`slack down for an hour: ${attempts} attempts, ${written} writes`);
    expect(attempts).toBeLessThan(40);
    expect(written).toBe(attempts * 2);
  });
});
