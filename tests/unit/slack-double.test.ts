import { createHmac } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TestSlack, type TestSlackOptions, signRequest } from '@/trial/slack';

// The double, talked to over real HTTP on 127.0.0.1, as an app would talk to slack.com.

const ADA = 'U0ADA000001';
const BOB = 'U0BOB000001';
const EVE = 'U0EVE000001';
const APPROVALS = 'C0APPROVALS';

let slack: TestSlack | undefined;
let app: Server | undefined;
afterEach(async () => {
  await slack?.stop();
  slack = undefined;
  const a = app;
  app = undefined;
  if (a) await new Promise<void>((resolve) => a.close(() => resolve()));
});

async function setup(options: TestSlackOptions = {}): Promise<TestSlack> {
  slack = new TestSlack({
    users: [
      { id: ADA, name: 'ada', realName: 'Ada Lovelace', email: 'ada@example.com', isEmailConfirmed: true },
      { id: BOB, name: 'bob' }, // the app may not see Bob's address
      { id: EVE, name: 'eve', email: 'eve@example.com', deleted: true },
    ],
    channels: [
      { id: APPROVALS, name: 'approvals' },
      { id: 'C0SECRET001', name: 'secret', botIsMember: false },
      { id: 'C0OLD000001', name: 'old', archived: true },
      { id: 'C0SMALL0001', name: 'small', members: [ADA] },
    ],
    usergroups: [{ id: 'S0ADMINS001', handle: 'admins', users: [ADA, BOB] }],
    ...options,
  });
  await slack.start();
  return slack;
}

type Answer = { ok: boolean; error?: string } & Record<string, unknown>;

/** One Web API call: JSON (with charset), form, or GET query; form and query values that are objects go as JSON strings. */
async function call(method: string, args: Record<string, unknown> = {}, opts: { token?: string | null; as?: 'json' | 'form' | 'query' } = {}) {
  const s = slack as TestSlack;
  const token = opts.token === undefined ? s.token : opts.token;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const form = new URLSearchParams(Object.entries(args).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  const as = opts.as ?? 'json';
  const res =
    as === 'json'
      ? await fetch(`${s.apiUrl}${method}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(args) })
      : as === 'form'
        ? await fetch(`${s.apiUrl}${method}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() })
        : await fetch(`${s.apiUrl}${method}?${form}`, { headers });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer };
}

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A tiny app: records every interaction and answers with `answer` (which may call the double). */
async function startApp(answer: (got: Received, res: ServerResponse) => Promise<void> | void = (_g, res) => void res.writeHead(200).end()): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const got = { headers: req.headers, body };
      received.push(got);
      void answer(got, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  app = server;
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/interactions`, received };
}

const payloadOf = (body: string) => JSON.parse(new URLSearchParams(body).get('payload') ?? 'null') as Record<string, unknown>;

const approveBlocks = [
  { type: 'section', block_id: 'ask', text: { type: 'mrkdwn', text: '*ada* asks for a key' } },
  { type: 'actions', block_id: 'decide', elements: [{ type: 'button', action_id: 'approve', value: 'req-1', style: 'primary', text: { type: 'plain_text', text: 'Approve' } }] },
];

async function postApproval(): Promise<string> {
  const { body } = await call('chat.postMessage', { channel: APPROVALS, text: 'ada asks for a key', blocks: approveBlocks });
  expect(body.ok).toBe(true);
  return body.ts as string;
}

const modal = {
  type: 'modal',
  callback_id: 'reject_reason',
  private_metadata: '{"request":"req-1"}',
  title: { type: 'plain_text', text: 'Reject' },
  submit: { type: 'plain_text', text: 'Reject' },
  blocks: [{ type: 'input', block_id: 'why', label: { type: 'plain_text', text: 'Why?' }, element: { type: 'plain_text_input', action_id: 'reason' } }],
};

describe('the Slack double: the Web API', () => {
  it('auth: a bot token in Authorization; none is not_authed, a wrong one invalid_auth, an unknown method unknown_method, all HTTP 200', async () => {
    const s = await setup();
    expect(await call('auth.test')).toMatchObject({ status: 200, body: { ok: true, team_id: s.team.id, user_id: s.bot.userId, bot_id: s.bot.botId, url: 'https://keyportal-test.slack.com/' } });
    expect(await call('auth.test', {}, { token: null })).toMatchObject({ status: 200, body: { ok: false, error: 'not_authed' } });
    expect(await call('chat.postMessage', { channel: APPROVALS, text: 'x' }, { token: 'xoxb-wrong' })).toMatchObject({ status: 200, body: { ok: false, error: 'invalid_auth' } });
    expect(await call('chat.delete', { channel: APPROVALS, ts: '1.2' })).toMatchObject({ status: 200, body: { ok: false, error: 'unknown_method' } });
    expect(s.messages).toEqual([]);
    // JSON without a charset works, with Slack's warning.
    const res = await fetch(`${s.apiUrl}auth.test`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: '{}' });
    expect(await res.json()).toMatchObject({ ok: true, warning: 'missing_charset', response_metadata: { warnings: ['missing_charset'] } });
  });

  it('chat.postMessage to an id, a #name, a name and a user id (the DM, answered as D…); form and query too', async () => {
    const s = await setup();
    const byId = await call('chat.postMessage', { channel: APPROVALS, text: 'one', blocks: approveBlocks, metadata: { event_type: 'key_request', event_payload: { id: 'req-1' } } });
    expect(byId.body).toMatchObject({ ok: true, channel: APPROVALS, message: { text: 'one', bot_id: s.bot.botId, user: s.bot.userId, blocks: [{ block_id: 'ask' }, { block_id: 'decide' }], metadata: { event_type: 'key_request' } } });
    expect(byId.body.ts).toMatch(/^\d{10}\.\d{6}$/);
    const byHash = await call('chat.postMessage', { channel: '#approvals', text: 'two' }, { as: 'form' });
    const byName = await call('chat.postMessage', { channel: 'approvals', blocks: [{ type: 'section', text: { type: 'plain_text', text: 'three' } }] }, { as: 'query' });
    expect([byHash.body.channel, byName.body.channel]).toEqual([APPROVALS, APPROVALS]);
    const tss = [byId, byHash, byName].map((r) => Number(r.body.ts));
    expect(tss).toEqual([...tss].sort((a, b) => a - b));
    expect(new Set(tss).size).toBe(3);
    expect(s.messagesIn('#approvals').map((m) => m.text)).toEqual(['one', 'two', '']);
    // Slack gives a block without a block_id one of its own.
    expect(s.messagesIn(APPROVALS)[2]?.blocks?.[0]?.block_id).toEqual(expect.any(String));

    const dm = await call('chat.postMessage', { channel: ADA, text: 'your key is ready' });
    expect(dm.body).toMatchObject({ ok: true, channel: expect.stringMatching(/^D/) });
    expect(s.dmsTo(ADA).map((m) => m.text)).toEqual(['your key is ready']);
    expect(await call('conversations.open', { users: ADA })).toMatchObject({ body: { ok: true, channel: { id: dm.body.channel }, already_open: true } });
    expect(s.calls.map((c) => c.transport)).toEqual(['json', 'form', 'query', 'json', 'json']);
  });

  it('chat.postMessage refuses: unknown channel, a channel without the app, archived, no text', async () => {
    await setup();
    const error = async (args: Record<string, unknown>) => (await call('chat.postMessage', args)).body.error;
    expect(await error({ channel: 'C0NOSUCH001', text: 'x' })).toBe('channel_not_found');
    expect(await error({ channel: '#nosuch', text: 'x' })).toBe('channel_not_found');
    expect(await error({ channel: 'U0NOBODY001', text: 'x' })).toBe('channel_not_found');
    expect(await error({ channel: '#secret', text: 'x' })).toBe('not_in_channel');
    expect(await error({ channel: 'C0OLD000001', text: 'x' })).toBe('is_archived');
    expect(await error({ channel: APPROVALS })).toBe('no_text');
    expect(await error({ channel: APPROVALS, text: 'x', blocks: 'not json' })).toBe('invalid_blocks_format');
  });

  it('chat.update keeps an edit history; an unknown ts is message_not_found, an unknown channel (or a user id) channel_not_found', async () => {
    const s = await setup();
    const ts = await postApproval();
    const updated = await call('chat.update', { channel: APPROVALS, ts, text: 'approved by bob' });
    expect(updated.body).toMatchObject({ ok: true, channel: APPROVALS, ts, text: 'approved by bob', message: { text: 'approved by bob', edited: { user: s.bot.userId } } });
    const m = s.message('#approvals', ts);
    // Text without blocks drops the old blocks (chat.update's page).
    expect(m?.blocks).toBeUndefined();
    expect(m?.history.map((v) => [v.via, v.text, Boolean(v.blocks)])).toEqual([
      ['chat.postMessage', 'ada asks for a key', true],
      ['chat.update', 'approved by bob', false],
    ]);
    expect((await call('chat.update', { channel: APPROVALS, ts: '1700000000.000100', text: 'x' })).body.error).toBe('message_not_found');
    expect((await call('chat.update', { channel: 'C0NOSUCH001', ts, text: 'x' })).body.error).toBe('channel_not_found');
    const dm = await call('chat.postMessage', { channel: ADA, text: 'hi' });
    expect((await call('chat.update', { channel: ADA, ts: dm.body.ts, text: 'x' })).body.error).toBe('channel_not_found');
    expect((await call('chat.update', { channel: dm.body.channel, ts: dm.body.ts, text: 'hello' })).body.ok).toBe(true);
  });

  it('chat.postEphemeral answers message_ts; a user not in the channel is user_not_in_channel', async () => {
    const s = await setup();
    const ok = await call('chat.postEphemeral', { channel: 'C0SMALL0001', user: ADA, text: 'only you see this' });
    expect(ok.body).toMatchObject({ ok: true, message_ts: expect.stringMatching(/^\d+\.\d{6}$/) });
    expect((await call('chat.postEphemeral', { channel: 'C0SMALL0001', user: BOB, text: 'x' })).body.error).toBe('user_not_in_channel');
    expect(s.ephemerals).toMatchObject([{ channel: 'C0SMALL0001', user: ADA, text: 'only you see this', via: 'chat.postEphemeral' }]);
  });

  it('users.info with and without an email and is_email_confirmed; users.lookupByEmail; a deactivated user', async () => {
    await setup();
    const ada = await call('users.info', { user: ADA }, { as: 'form' });
    expect(ada.body).toMatchObject({ ok: true, user: { id: ADA, name: 'ada', real_name: 'Ada Lovelace', deleted: false, is_bot: false, is_email_confirmed: true, profile: { email: 'ada@example.com', real_name: 'Ada Lovelace' } } });
    const bob = (await call('users.info', { user: BOB }, { as: 'query' })).body.user as Record<string, unknown>;
    expect(bob).not.toHaveProperty('is_email_confirmed');
    expect(bob.profile).not.toHaveProperty('email');
    expect((await call('users.info', { user: EVE }, { as: 'form' })).body).toMatchObject({ ok: true, user: { deleted: true } });
    expect((await call('users.info', { user: 'U0NOBODY001' }, { as: 'form' })).body.error).toBe('user_not_found');

    expect((await call('users.lookupByEmail', { email: 'ada@example.com' }, { as: 'form' })).body).toMatchObject({ ok: true, user: { id: ADA } });
    expect((await call('users.lookupByEmail', { email: 'nobody@example.com' }, { as: 'form' })).body.error).toBe('users_not_found');
    // Its page: a deactivated user is users_not_found.
    expect((await call('users.lookupByEmail', { email: 'eve@example.com' }, { as: 'form' })).body.error).toBe('users_not_found');
  });

  it('users.info and users.lookupByEmail read form or query only: a JSON body is ignored, as Slack ignores it', async () => {
    const s = await setup();
    expect((await call('users.info', { user: ADA })).body.error).toBe('user_not_found');
    expect(s.calls.at(-1)).toMatchObject({ method: 'users.info', transport: 'json', ignoredJson: true, body: { user: ADA } });
    await s.stop();
    await setup({ jsonEverywhere: true });
    expect((await call('users.info', { user: ADA })).body.ok).toBe(true);
  });

  it('usergroups.users.list and conversations.open', async () => {
    await setup();
    expect((await call('usergroups.users.list', { usergroup: 'S0ADMINS001' }, { as: 'form' })).body).toEqual({ ok: true, users: [ADA, BOB] });
    expect((await call('usergroups.users.list', { usergroup: 'S0NOSUCH001' }, { as: 'form' })).body.error).toBe('no_such_subteam');
    expect((await call('conversations.open', { users: BOB })).body).toEqual({ ok: true, channel: { id: expect.stringMatching(/^D/) } });
    expect((await call('conversations.open', { users: 'U0NOBODY001' })).body.error).toBe('user_not_found');
  });
});

describe('the Slack double: rate limits and failures', () => {
  it('the 6th post in a burst to one channel is 429 with Retry-After and not posted; another channel is not held up; after waiting, it posts', async () => {
    const s = await setup();
    for (let i = 1; i <= 5; i++) expect((await call('chat.postMessage', { channel: APPROVALS, text: `m${i}` })).status).toBe(200);
    const sixth = await call('chat.postMessage', { channel: '#approvals', text: 'm6' });
    expect(sixth).toMatchObject({ status: 429, body: { ok: false, error: 'ratelimited' } });
    const wait = Number(sixth.retryAfter);
    expect(Number.isInteger(wait) && wait >= 1 && wait <= 2).toBe(true);
    expect(s.messagesIn(APPROVALS)).toHaveLength(5);
    expect(s.rateLimitedCount).toBe(1);
    expect((await call('chat.postMessage', { channel: ADA, text: 'elsewhere' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, wait * 1000));
    expect((await call('chat.postMessage', { channel: APPROVALS, text: 'm6' })).body.ok).toBe(true);
    expect(s.calls.filter((c) => c.status === 429)).toHaveLength(1);
  });

  it('a per-minute method past its limit is 429 with the seconds until the minute frees; limits are configurable', async () => {
    const s = await setup({ rateLimits: { 'users.info': { perMinute: 2 } } });
    expect((await call('users.info', { user: ADA }, { as: 'form' })).status).toBe(200);
    expect((await call('users.info', { user: ADA }, { as: 'form' })).status).toBe(200);
    const third = await call('users.info', { user: ADA }, { as: 'form' });
    expect(third.status).toBe(429);
    expect(Number(third.retryAfter)).toBeGreaterThanOrEqual(59);
    expect(Number(third.retryAfter)).toBeLessThanOrEqual(60);
    expect((await call('users.lookupByEmail', { email: 'ada@example.com' }, { as: 'form' })).status).toBe(200);
    expect(s.rateLimitedCount).toBe(1);
  });

  it('failNext: down (503), invalid_auth, ratelimited with the given Retry-After, internal_error; scoped to a method; then normal again', async () => {
    const s = await setup();
    s.failNext(1, 'down');
    s.failNext(1, 'invalid_auth');
    s.failNext(1, 'ratelimited', { retryAfter: 7 });
    s.failNext(1, 'internal_error');
    expect(await call('auth.test')).toMatchObject({ status: 503, body: { ok: false, error: 'service_unavailable' } });
    expect(await call('auth.test')).toMatchObject({ status: 200, body: { ok: false, error: 'invalid_auth' } });
    expect(await call('chat.postMessage', { channel: APPROVALS, text: 'x' })).toMatchObject({ status: 429, retryAfter: '7', body: { error: 'ratelimited' } });
    expect(await call('auth.test')).toMatchObject({ status: 200, body: { ok: false, error: 'internal_error' } });
    expect(s.messages).toEqual([]);
    s.failNext(1, 'internal_error', { method: 'chat.postMessage' });
    expect((await call('auth.test')).body.ok).toBe(true);
    expect((await call('chat.postMessage', { channel: APPROVALS, text: 'x' })).body.error).toBe('internal_error');
    expect((await call('chat.postMessage', { channel: APPROVALS, text: 'x' })).body.ok).toBe(true);
    expect(s.calls.map((c) => c.status)).toEqual([503, 200, 429, 200, 200, 200, 200]);
  });

  it('stop() is Slack down (connection refused); start() comes back on the same port', async () => {
    const s = await setup();
    const url = s.apiUrl;
    await s.stop();
    await expect(fetch(`${url}auth.test`)).rejects.toThrow();
    await s.start();
    expect(s.apiUrl).toBe(url);
    expect((await call('auth.test')).body.ok).toBe(true);
  });
});

describe('the Slack double: interactions', () => {
  it('a click arrives signed as Slack signs (v0 HMAC of the raw body), as a block_actions payload; a replay is the same bytes', async () => {
    const s = await setup({ signingSecret: 'shh-its-a-signing-secret' });
    const { url, received } = await startApp();
    s.interactionUrl = url;
    const ts = await postApproval();
    const click = await s.clickButton({ user: BOB, channel: '#approvals', messageTs: ts, actionId: 'approve', value: 'req-1' });
    expect(click.status).toBe(200);
    const got = received[0] as Received;
    const stamp = String(got.headers['x-slack-request-timestamp']);
    expect(Math.abs(Number(stamp) - Date.now() / 1000)).toBeLessThan(300);
    const expected = `v0=${createHmac('sha256', 'shh-its-a-signing-secret').update(`v0:${stamp}:${got.body}`).digest('hex')}`;
    expect(got.headers['x-slack-signature']).toBe(expected);
    expect(got.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(signRequest(got.body, 'shh-its-a-signing-secret', Number(stamp)).headers['X-Slack-Signature']).toBe(expected);

    const payload = payloadOf(got.body);
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: BOB, username: 'bob', name: 'bob', team_id: s.team.id },
      api_app_id: s.bot.appId,
      token: expect.any(String),
      container: { type: 'message', message_ts: ts, channel_id: APPROVALS, is_ephemeral: false },
      trigger_id: click.triggerId,
      team: { id: s.team.id, domain: s.team.domain },
      channel: { id: APPROVALS, name: 'approvals' },
      message: { ts, text: 'ada asks for a key', blocks: [{ block_id: 'ask' }, { block_id: 'decide' }] },
      response_url: expect.stringMatching(/\/response\/[0-9a-f]+$/),
      actions: [{ action_id: 'approve', block_id: 'decide', value: 'req-1', type: 'button', text: { type: 'plain_text', text: 'Approve' }, action_ts: expect.any(String) }],
    });

    const again = await s.replay(click.sent, { num: 1, reason: 'http_timeout' });
    expect(again.status).toBe(200);
    expect(received[1]?.body).toBe(got.body);
    expect(received[1]?.headers['x-slack-signature']).toBe(got.headers['x-slack-signature']);
    expect(received[1]?.headers['x-slack-request-timestamp']).toBe(stamp);
    expect(received[1]?.headers['x-slack-retry-num']).toBe('1');
    // A click on a button that is not on the message cannot happen.
    await expect(s.clickButton({ user: BOB, channel: APPROVALS, messageTs: ts, actionId: 'deny' })).rejects.toThrow(/no element/);
  });

  it('the app answers through response_url: replace_original edits the message, recorded', async () => {
    const s = await setup();
    const { url } = await startApp(async (got, res) => {
      const p = payloadOf(got.body);
      await fetch(String(p.response_url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ replace_original: true, text: 'Approved by bob' }) });
      res.writeHead(200).end();
    });
    s.interactionUrl = url;
    const ts = await postApproval();
    await s.clickButton({ user: BOB, channel: APPROVALS, messageTs: ts, actionId: 'approve' });
    expect(s.responses).toMatchObject([{ channel: APPROVALS, messageTs: ts, user: BOB, body: { replace_original: true } }]);
    expect(s.message(APPROVALS, ts)?.history.map((v) => v.via)).toEqual(['chat.postMessage', 'response_url']);
    expect(s.message(APPROVALS, ts)?.text).toBe('Approved by bob');
  });

  it('views.open takes a fresh trigger_id once (then exchanged_trigger_id), not an unknown one, not a late one; a submission carries the view as opened', async () => {
    const s = await setup({ triggerTtlMs: 3000 });
    const opened: Answer[] = [];
    const { url, received } = await startApp(async (got, res) => {
      const p = payloadOf(got.body);
      if (p.type === 'block_actions') opened.push((await call('views.open', { trigger_id: p.trigger_id, view: modal })).body);
      res.writeHead(200).end(); // an empty 200 closes a submitted modal
    });
    s.interactionUrl = url;
    const ts = await postApproval();
    const click = await s.clickButton({ user: ADA, channel: APPROVALS, messageTs: ts, actionId: 'approve' });
    expect(opened[0]).toMatchObject({ ok: true, view: { id: expect.stringMatching(/^V/), callback_id: 'reject_reason', private_metadata: '{"request":"req-1"}', hash: expect.any(String) } });
    expect((await call('views.open', { trigger_id: click.triggerId, view: modal })).body.error).toBe('exchanged_trigger_id');
    expect((await call('views.open', { trigger_id: '123.456.deadbeef', view: modal })).body.error).toBe('invalid_trigger_id');
    s.triggerTtlMs = 50;
    const late = s.issueTrigger(ADA);
    await new Promise((r) => setTimeout(r, 100));
    expect((await call('views.open', { trigger_id: late, view: modal })).body.error).toBe('expired_trigger_id');
    expect(s.views).toHaveLength(1);

    const view = s.views[0];
    expect(view).toMatchObject({ user: ADA, triggerId: click.triggerId, closed: false });
    const submitted = await s.submitView({ view: view?.id as string, values: { why: { reason: 'no budget' } } });
    expect(submitted.status).toBe(200);
    expect(payloadOf(received[1]?.body ?? '')).toMatchObject({
      type: 'view_submission',
      user: { id: ADA },
      trigger_id: submitted.triggerId,
      view: { id: view?.id, type: 'modal', callback_id: 'reject_reason', private_metadata: '{"request":"req-1"}', state: { values: { why: { reason: { type: 'plain_text_input', value: 'no budget' } } } } },
    });
    expect(view?.closed).toBe(true);
  });

  it('an app slower than 3 seconds is a timeout to Slack (shortened here)', async () => {
    const s = new TestSlack({ interactionTimeoutMs: 100, channels: [{ id: APPROVALS, name: 'approvals' }], users: [{ id: BOB }] });
    slack = s;
    await s.start();
    const { url } = await startApp(async (_got, res) => {
      await new Promise((r) => setTimeout(r, 300));
      res.writeHead(200).end();
    });
    s.interactionUrl = url;
    const ts = await postApproval();
    expect(await s.clickButton({ user: BOB, channel: APPROVALS, messageTs: ts, actionId: 'approve' })).toMatchObject({ status: 0, timedOut: true });
  });
});
