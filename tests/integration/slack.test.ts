import { describe, expect, it } from 'vitest';
import { SlackChat } from '@/lib/chat/slack';
import { ReplayGuard } from '@/lib/chat/slack-signature';
import { ACTION, DENY_VIEW, REASON_BLOCK } from '@/lib/chat/slack-blocks';
import { parseConfig } from '@/lib/config/load';
import type { State } from '@/lib/domain/states';
import { chatOwed } from '@/lib/loop/chat-plan';
import { buildLoop } from '@/lib/loop/wiring';
import { createRequest } from '@/lib/portal/requests';
import { checkPluginEntry } from '@/plugins';
import { type SlackRateLimits, TestSlack, signRequest } from '@/trial/slack';
import { kubectl } from '../helpers/cluster';
import { type TestSetup, configDocument, testEnv } from '../helpers/portal';
import { slackEndpoint } from '../helpers/slack-endpoint';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// Slack on the real cluster: the loop posts review messages to the Slack double, a signed click
// decides, the message follows every decision, requesters get direct messages; and every bad
// input of issue 24: forged or stale signatures, replays, clicks on decided requests, Slack users
// without a (confirmed) email, requesters approving themselves, Slack down or rate limiting.

const SIGNING_SECRET = 'slack-signing-secret-for-the-tests-0123456789';
const USERS = [
  { id: 'UAPPROVER', email: 'approver@example.com', isEmailConfirmed: true },
  { id: 'UADA', email: 'ada@example.com', isEmailConfirmed: true },
  { id: 'UBOB', email: 'bob@example.com', isEmailConfirmed: true },
  { id: 'UNOMAIL' },
  { id: 'UUNCONF', email: 'admin@example.com', isEmailConfirmed: false },
  { id: 'UPLAT', email: 'pat@example.com', isEmailConfirmed: true },
];

async function world(options: { rateLimits?: SlackRateLimits; pace?: { postIntervalMs: number; burst: number }; notify?: string[]; setup?: Partial<TestSetup> } = {}) {
  const slack = new TestSlack({ signingSecret: SIGNING_SECRET, users: USERS, channels: [{ id: 'CREVIEW', name: 'key-reviews' }], usergroups: [{ id: 'SPLATFORM', users: ['UPLAT'] }], ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}) });
  await slack.start();
  afterThisTest(() => slack.stop());
  const chat = { slack: { reviewChannel: '#key-reviews', apiUrl: slack.apiUrl, approverUsergroups: { platform: 'SPLATFORM' } } };
  const w = await clusterWorld('slack', { chat, ...(options.notify ? { notify: options.notify } : {}), approvals: { approvers: { emails: ['approver@example.com', 'admin@example.com'], groups: ['platform'] } }, ...options.setup });
  const env = { ...testEnv(), SLACK_BOT_TOKEN: slack.token, SLACK_SIGNING_SECRET: SIGNING_SECRET };
  const config = parseConfig(configDocument(w.setup), { source: 'test', env, checkPlugin: checkPluginEntry });
  const poster = new SlackChat(config.chat.slack!, slack.token, options.pace ?? { postIntervalMs: 50, burst: 5 });
  const { loop } = buildLoop(config, w.store, {}, { people: w.people, chat: poster });
  loop.start();
  afterThisTest(() => loop.stop());
  const deps = {
    slack: new SlackChat(config.chat.slack!, slack.token),
    signingSecret: SIGNING_SECRET,
    portal: { store: w.store, people: w.people, config },
    cards: { store: w.store, models: new Map(config.models.map((m) => [m.id, m])), approvals: config.approvals, portalUrl: config.portal.publicUrl },
    replays: new ReplayGuard(),
  };
  const endpoint = await slackEndpoint(deps);
  afterThisTest(() => endpoint.close());
  slack.interactionUrl = endpoint.url;
  const settled = (id: string, state: State, timeoutMs = 20_000) =>
    until(async () => {
      const r = await w.store.get(id);
      return r.state === state && r.notified === state ? r : undefined;
    }, `request ${id} to be ${state} and emailed`, timeoutMs);
  /** The request held for review, and its review message posted. */
  const posted = async (email: string, model = 'experimental') => {
    const { request } = await createRequest({ store: w.store, people: w.people, config }, { email, groups: [], approver: false }, model);
    const r = await until(async () => {
      const x = await w.store.get(request.id);
      return x.chat?.review ? x : undefined;
    }, `the review message of ${request.id}`);
    return { id: r.id, ts: r.chat?.review?.ts as string, channel: r.chat?.review?.channel as string };
  };
  const click = async (user: string, at: { ts: string; rendering?: number }, actionId: string, value: string) => {
    const res = await slack.clickButton({ user, channel: 'CREVIEW', messageTs: at.ts, actionId, value, ...(at.rendering === undefined ? {} : { rendering: at.rendering }) });
    await endpoint.idle();
    return res;
  };
  /** Settled in chat too: nothing owed, nothing claimed (the last chat write is done). */
  const chatQuiet = (id: string) =>
    until(async () => {
      const r = await w.store.get(id);
      return chatOwed(r, { directMessages: true, claimSeconds: 60 }).length === 0 && !r.chat?.claim ? r : undefined;
    }, `request ${id} to owe nothing in chat`);
  const ephemeralsTo = (user: string) => slack.ephemerals.filter((e) => e.user === user).map((e) => e.text);
  return { ...w, slack, config, endpoint, settled, posted, click, chatQuiet, ephemeralsTo };
}

const buttonsOf = (blocks: unknown): string[] => JSON.stringify(blocks ?? []).match(/keyportal_[a-z]+/g) ?? [];

describe('Slack on the cluster', () => {
  it('drives a request from review to issued by a signed click; the message follows; the requester gets a direct message without the key', async () => {
    const w = await world();
    const { id, ts } = await w.posted('ada@example.com');
    const message = w.slack.message('CREVIEW', ts);
    expect(message?.text).toContain('ada@example.com asks for a key for Experimental');
    expect(buttonsOf(message?.blocks)).toEqual([ACTION.approve, ACTION.deny, ACTION.open]);

    const res = await w.click('UAPPROVER', { ts }, ACTION.approve, id);
    expect(res.status).toBe(200);
    expect(res.ms).toBeLessThan(3000);
    const issued = await w.settled(id, 'issued');
    expect(issued.decidedBy).toBe('user:approver@example.com');
    await until(async () => (w.slack.message('CREVIEW', ts)?.history.length ?? 0) >= 2 && JSON.stringify(w.slack.message('CREVIEW', ts)?.blocks).includes('Approved and issued') ? true : undefined, 'the message brought up to date');
    const final = w.slack.message('CREVIEW', ts);
    expect(JSON.stringify(final?.blocks)).toContain('*Approved and issued* by approver@example.com');
    // How it was decided: in Slack, on the message, the request and the status page alike.
    expect(JSON.stringify(final?.blocks)).toContain('Approved by approver@example.com (approvers) in Slack');
    expect(issued.reviews?.[0]?.via).toBe('slack');
    expect(buttonsOf(final?.blocks)).toEqual([]);
    const dm = await until(async () => w.slack.dmsTo('UADA')[0], 'the direct message');
    expect(dm.text).toBe('Your key for Experimental is ready');
    expect(JSON.stringify(dm.blocks)).toContain(`/requests/${id}|Open the request>`);
    // Never the key: not in Slack, in any call.
    const key = (await w.store.readKey(id)) ?? (w.gateway.keysFor(id)[0]?.key as string);
    expect(JSON.stringify(w.slack.calls)).not.toContain(key);
    // Posts and updates for this request: one post, updates as it moved, one direct message.
    const posts = w.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok);
    const updates = w.slack.calls.filter((c) => c.method === 'chat.update' && c.ok);
    expect(posts).toHaveLength(2);
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates.length).toBeLessThanOrEqual(3);
    console.log(`slack: request ${id}: ${posts.length} posts (review + direct message), ${updates.length} updates`);
  });

  it('Deny asks why in a modal; an empty reason is refused there; the denial reaches the message and the requester', async () => {
    const w = await world();
    const { id, ts } = await w.posted('bob@example.com');
    const res = await w.click('UAPPROVER', { ts }, ACTION.deny, id);
    expect(res.status).toBe(200);
    const view = await until(async () => w.slack.views.find((v) => (v.view as { callback_id?: string }).callback_id === DENY_VIEW), 'the deny modal');
    const empty = await w.slack.submitView({ view, values: { [REASON_BLOCK]: { [REASON_BLOCK]: '   ' } } });
    expect(JSON.parse(empty.body)).toEqual({ response_action: 'errors', errors: { [REASON_BLOCK]: 'Say why: the requester reads it.' } });
    expect((await w.store.get(id)).state).toBe('in-review');
    await w.slack.submitView({ view, values: { [REASON_BLOCK]: { [REASON_BLOCK]: 'Use <the EU model> & ask again' } } });
    await w.endpoint.idle();
    const denied = await w.settled(id, 'denied');
    expect(denied).toMatchObject({ decidedBy: 'user:approver@example.com', reason: 'Use <the EU model> & ask again' });
    await until(async () => (JSON.stringify(w.slack.message('CREVIEW', ts)?.blocks).includes('*Denied*') ? true : undefined), 'the message shows the denial');
    expect(JSON.stringify(w.slack.message('CREVIEW', ts)?.blocks)).toContain('Use &lt;the EU model&gt; &amp; ask again');
    const dm = await until(async () => w.slack.dmsTo('UBOB')[0], 'the direct message');
    expect(JSON.stringify(dm.blocks)).toContain('was denied: Use &lt;the EU model&gt;');
  });

  it('refuses forged, stale and replayed interactions; a second click on a decided request changes nothing and brings the message up to date', async () => {
    const w = await world();
    const { id, ts } = await w.posted('ada@example.com');
    const first = await w.click('UAPPROVER', { ts }, ACTION.approve, id);
    await w.settled(id, 'issued');
    const after = (await w.chatQuiet(id)).resourceVersion;

    // The same bytes again (a replay, or Slack resending): acknowledged, nothing done.
    const replay = await w.slack.replay(first.sent);
    await w.endpoint.idle();
    expect(replay.status).toBe(200);
    // Forged: the body changed under the signature. Stale: signed six minutes ago.
    const forged = await fetch(w.endpoint.url, { method: 'POST', headers: first.sent.headers, body: first.sent.body.replace('keyportal_approve', 'keyportal_deny') });
    expect([forged.status, ((await forged.json()) as { error: { code: string } }).error.code]).toEqual([401, 'signature_mismatch']);
    const old = Math.floor(Date.now() / 1000) - 360;
    const stale = await fetch(w.endpoint.url, { method: 'POST', headers: { ...signRequest(first.sent.body, SIGNING_SECRET, old).headers, 'content-type': 'application/x-www-form-urlencoded' }, body: first.sent.body });
    expect([stale.status, ((await stale.json()) as { error: { code: string } }).error.code]).toEqual([401, 'signature_stale']);
    const unsigned = await fetch(w.endpoint.url, { method: 'POST', body: first.sent.body });
    expect(unsigned.status).toBe(401);
    expect((await w.store.get(id)).resourceVersion).toBe(after);

    // A click from a client still showing the buttons (the message as posted), on the decided
    // request: told, nothing changes, the message is brought up to date.
    const updatesBefore = w.slack.calls.filter((c) => c.method === 'chat.update').length;
    await w.click('UPLAT', { ts, rendering: 0 }, ACTION.approve, id);
    expect(w.ephemeralsTo('UPLAT').at(-1)).toMatch(/^Nothing changed: request .* is already issued/);
    expect(w.slack.calls.filter((c) => c.method === 'chat.update').length).toBe(updatesBefore + 1);
    expect((await w.store.get(id)).resourceVersion).toBe(after);
    expect(w.gateway.keysFor(id)).toHaveLength(1);
  });

  it('a Slack user without an email, with an unconfirmed one, a non-approver, or the requester: told why, nothing changes; a user-group approver may', async () => {
    const w = await world();
    const { id, ts } = await w.posted('ada@example.com');
    const version = (await w.store.get(id)).resourceVersion;
    await w.click('UNOMAIL', { ts }, ACTION.approve, id);
    expect(w.ephemeralsTo('UNOMAIL')).toEqual([expect.stringMatching(/shows no email address/)]);
    await w.click('UUNCONF', { ts }, ACTION.approve, id);
    expect(w.ephemeralsTo('UUNCONF')).toEqual([expect.stringMatching(/email address is not confirmed/)]);
    await w.click('UBOB', { ts }, ACTION.approve, id);
    expect(w.ephemeralsTo('UBOB')).toEqual([expect.stringMatching(/^You cannot approve this: only approvers/)]);
    await w.click('UADA', { ts }, ACTION.approve, id);
    expect(w.ephemeralsTo('UADA')).toEqual([expect.stringMatching(/^You cannot approve this: nobody reviews their own request/)]);
    expect((await w.store.get(id)).resourceVersion).toBe(version);
    // In the Slack user group mapped to the OIDC group "platform": an approver.
    await w.click('UPLAT', { ts }, ACTION.approve, id);
    await w.settled(id, 'issued');
    expect((await w.store.get(id)).decidedBy).toBe('user:pat@example.com');
  });

  it('Slack down, rate limiting, then a channel that does not exist: posted once when it is back, nothing lost; a missing channel is a Warning, not a stuck request', async () => {
    const w = await world();
    await w.slack.stop();
    const { request } = await createRequest({ store: w.store, people: w.people, config: w.config }, { email: 'ada@example.com', groups: [], approver: false }, 'experimental');
    await until(async () => ((await w.store.get(request.id)).chat?.retry ? true : undefined), 'a chat retry recorded');
    w.slack.failNext(2, 'ratelimited', { method: 'chat.postMessage', retryAfter: 1 });
    await w.slack.start();
    const r = await until(async () => {
      const x = await w.store.get(request.id);
      return x.chat?.review ? x : undefined;
    }, 'the review message once Slack is back', 30_000);
    expect(w.slack.messagesIn('CREVIEW').filter((m) => m.text.includes(request.id) || JSON.stringify(m.blocks).includes(request.id))).toHaveLength(1);
    expect(r.chat?.retry).toBeUndefined();
    expect(await kubectl('-n', w.namespace, 'events', '--for', `secret/keyreq-${request.id}`)).toMatch(/ChatUnavailable/);

    // A policy whose channel Slack does not know: given up with a Warning; the request is still reviewed by email and the portal.
    w.slack.channels.delete('CREVIEW');
    const { request: lost } = await createRequest({ store: w.store, people: w.people, config: w.config }, { email: 'bob@example.com', groups: [], approver: false }, 'experimental');
    await until(async () => ((await w.store.get(lost.id)).chat?.skipped?.includes('review:post') ? true : undefined), 'the post given up');
    expect(await kubectl('-n', w.namespace, 'events', '--for', `secret/keyreq-${lost.id}`)).toMatch(/ChatFailed.*channel_not_found/);
    expect((await w.store.get(lost.id)).state).toBe('in-review');
  });

  it('a review post whose answer is lost: the next attempt finds it in the channel and records it; one card, not two', async () => {
    const w = await world();
    w.slack.failNext(1, 'lost', { method: 'chat.postMessage' });
    const { request } = await createRequest({ store: w.store, people: w.people, config: w.config }, { email: 'ada@example.com', groups: [], approver: false }, 'experimental');
    const r = await until(async () => {
      const x = await w.store.get(request.id);
      return x.chat?.review ? x : undefined;
    }, 'the review message found and recorded', 30_000);
    const cards = w.slack.messagesIn('CREVIEW').filter((m) => (m.metadata as { event_payload?: { request_id?: string } } | undefined)?.event_payload?.request_id === request.id);
    expect(cards).toHaveLength(1);
    expect(r.chat?.review?.ts).toBe(cards[0]?.ts);
    expect(w.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === '#key-reviews')).toHaveLength(1);
    expect(w.slack.calls.filter((c) => c.method === 'conversations.history')).toHaveLength(1);
    expect(await kubectl('-n', w.namespace, 'events', '--for', `secret/keyreq-${request.id}`)).toMatch(/ChatFound/);
    // The card found is the one kept up to date.
    const ts = cards[0]?.ts as string;
    await w.click('UAPPROVER', { ts }, ACTION.approve, request.id);
    await w.settled(request.id, 'issued');
    await until(async () => (JSON.stringify(w.slack.message('CREVIEW', ts)?.blocks).includes('Approved and issued') ? true : undefined), 'the found card brought up to date');
  });

  it('a burst of 500 reviews while Slack rate-limits: every request gets exactly one review message, none twice', { timeout: 300_000 }, async () => {
    // Slack's pace scaled 20× (20 posts a second to a channel) to keep the test to about a minute.
    const w = await world({ rateLimits: { 'chat.postMessage': { perChannelPerSecond: 20, burst: 5 } }, pace: { postIntervalMs: 40, burst: 5 }, notify: [] });
    const started = Date.now();
    const people = { store: w.store, people: w.people, config: w.config };
    const ids: string[] = [];
    for (let i = 0; i < 500; i += 25) {
      const batch = await Promise.all(Array.from({ length: 25 }, (_, j) => createRequest(people, { email: `burst${i + j}@example.com`, groups: [], approver: false }, 'experimental')));
      ids.push(...batch.map((b) => b.request.id));
    }
    // Slack falls over for two seconds in the middle of it.
    setTimeout(() => void w.slack.stop().then(() => new Promise((r) => setTimeout(r, 2000))).then(() => w.slack.start()), 5000);
    await until(
      async () => {
        const { items } = await w.store.listByState('in-review', { limit: 500 });
        return items.length === 500 && items.every((r) => r.chat?.review) ? true : undefined;
      },
      'every review message recorded',
      240_000,
    );
    const seconds = (Date.now() - started) / 1000;
    const posts = w.slack.messagesIn('CREVIEW');
    const perRequest = new Map<string, number>();
    for (const m of posts) {
      const id = (m.metadata as { event_payload?: { request_id?: string } } | undefined)?.event_payload?.request_id ?? '';
      perRequest.set(id, (perRequest.get(id) ?? 0) + 1);
    }
    expect([...perRequest.keys()].sort()).toEqual([...ids].sort());
    expect([...perRequest.values()].every((n) => n === 1)).toBe(true);
    const tried = w.slack.calls.filter((c) => c.method === 'chat.postMessage');
    console.log(`slack burst: 500 reviews, ${posts.length} messages, ${tried.length} postMessage calls (${w.slack.rateLimitedCount} answered 429), all recorded after ${seconds.toFixed(1)} s`);
  });
});
