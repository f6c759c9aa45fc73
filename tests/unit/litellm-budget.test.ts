import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyHash } from '@/lib/domain/key-request';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { LocalGateway } from '@/lib/gateway/local';
import { GatewayAuthError, GatewayRefusedError, GatewayUnavailableError } from '@/lib/gateway/types';
import { TestGateway } from '@/trial/litellm';

// Budgets and spend against the LiteLLM test double: the real client, real HTTP on 127.0.0.1.

const MASTER = 'sk-master-test-1234';
let server: TestGateway | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function setup(timeoutMs = 1000) {
  server = new TestGateway(MASTER);
  await server.start();
  return { gw: new LiteLLMGateway({ baseUrl: server.url, masterKey: MASTER, timeoutMs }), server };
}

const mint = (key: string, requestId = 'aaaaaaaaaaaa', userId = 'ada@example.com') => ({
  key,
  alias: `keyportal-${requestId}`,
  model: 'gpt-4o',
  userId,
  requestId,
  limits: { duration: '30d', max_budget: 5, budget_duration: '30d' },
});

/** Calls the double as a script would, with the master key. */
async function call(s: TestGateway, method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${MASTER}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const DAY_MS = 86_400_000;
const day = (n: number) => new Date(Date.UTC(2026, 0, 1) - n * DAY_MS);
const iso = (d: Date) => d.toISOString().slice(0, 10);

describe('raising a key\'s budget at LiteLLM', () => {
  it('sets the whole budget by the key\'s hash, and the gateway then reports it with the spend so far', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    server.addSpend('aaaaaaaaaaaa', 3.25);
    const info = await gw.updateBudget(keyHash(key), { maxBudget: 20 }, { changedBy: 'user:boss@example.com' });
    expect(info.usage).toMatchObject({ spend: 3.25, maxBudget: 20, budgetDuration: '30d', budgetResetAt: expect.stringMatching(/Z$/) });
    expect(info.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect((await gw.keyInfo(keyHash(key)))?.usage).toEqual(info.usage);
    // Twice is the same budget, not twice the increase.
    await gw.updateBudget(keyHash(key), { maxBudget: 20 });
    expect(server.keys.get(keyHash(key))?.max_budget).toBe(20);
    // What went over the wire: the hash and the budget, LiteLLM's names only, the author in the header.
    expect(server.updateCalls).toBe(2);
    expect(server.updateBodies[0]).toEqual({ key: keyHash(key), max_budget: 20 });
    expect(server.ignoredFields).toEqual([]);
    expect(server.changedBy).toEqual(['user:boss@example.com']);
    expect(JSON.stringify([server.requestLog, server.updateBodies])).not.toContain(key);
  });

  it('a key the gateway does not have is a final 404, whether LiteLLM says so with its 401 or a 404 of its own', async () => {
    const { gw, server } = await setup();
    const err = await gw.updateBudget(keyHash('sk-gone'), { maxBudget: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayRefusedError);
    expect(err).toMatchObject({ status: 404, message: 'the gateway has no such key' });
    server.failNext(1, 404); // LiteLLM's error shape, as update_key_fn's own "Team not found" 404 would be
    await expect(gw.updateBudget(keyHash('sk-gone'), { maxBudget: 10 })).rejects.toMatchObject({ name: 'GatewayRefusedError', status: 404 });
  });

  it('a negative budget is refused with LiteLLM\'s own words', async () => {
    const { gw } = await setup();
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    const err = await gw.updateBudget(keyHash(key), { maxBudget: -1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayRefusedError);
    expect((err as GatewayRefusedError).status).toBe(400);
    expect((err as Error).message).toMatch(/HTTP 400.*max_budget cannot be negative\. Received: -1\.0/);
  });

  it('a wrong base URL, a 5xx, silence and a gateway that is down are worth retrying; a wrong master key is named as such', async () => {
    const { gw, server } = await setup(300);
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    server.routePrefix = '/litellm';
    await expect(gw.updateBudget(keyHash(key), { maxBudget: 9 })).rejects.toThrow(/HTTP 404.*is gateway.baseUrl the LiteLLM proxy's own address/);
    server.routePrefix = '';
    server.failNext(1, 500);
    await expect(gw.updateBudget(keyHash(key), { maxBudget: 9 })).rejects.toBeInstanceOf(GatewayUnavailableError);
    server.hangNext(1);
    await expect(gw.updateBudget(keyHash(key), { maxBudget: 9 })).rejects.toThrow(/no answer within 300 ms/);
    const wrong = new LiteLLMGateway({ baseUrl: server.url, masterKey: 'sk-wrong-master', timeoutMs: 300 });
    const auth = await wrong.updateBudget(keyHash(key), { maxBudget: 9 }).catch((e: unknown) => e);
    expect(auth).toBeInstanceOf(GatewayAuthError);
    expect((auth as Error).message).not.toContain('sk-wrong-master');
    await server.stop();
    await expect(gw.updateBudget(keyHash(key), { maxBudget: 9 })).rejects.toThrow(/unreachable/);
    expect(server.keys.get(keyHash(key))?.max_budget).toBe(5);
  });

  it('an older LiteLLM that answers only the changed fields is asked for the whole row, so spend is never shown as 0', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    server.addSpend('aaaaaaaaaaaa', 1.5);
    server.legacyUpdateAnswer = true;
    const info = await gw.updateBudget(keyHash(key), { maxBudget: 8 });
    expect(info.usage).toMatchObject({ spend: 1.5, maxBudget: 8 });
    expect(server.infoCalls).toBe(1);
  });

  it('refuses, before asking anything, a raw key in place of its hash and a budget JSON cannot carry', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    const err = await gw.updateBudget(key, { maxBudget: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect((err as Error).message).not.toContain(key);
    await expect(gw.updateBudget(keyHash(key), { maxBudget: Number.NaN })).rejects.toBeInstanceOf(RangeError);
    expect(server.updateCalls).toBe(0);
  });
});

describe('a user\'s spend per day from LiteLLM\'s daily activity', () => {
  it('sums every page by day and by key, for that user only and those days only', async () => {
    const { gw, server } = await setup(5000);
    const keys = ['aaaaaaaaaaaa', 'bbbbbbbbbbbb', 'cccccccccccc'].map((id) => ({ id, key: gw.newKey() }));
    for (const k of keys) await gw.generateKey(mint(k.key, k.id));
    await gw.generateKey(mint(gw.newKey(), 'dddddddddddd', 'bob@example.com'));
    // 3 keys × 400 days: 1,200 rows, more than one page of LiteLLM's largest (1,000 rows).
    const expected = new Map<string, Record<string, number>>();
    for (let n = 0; n < 400; n++) {
      for (const [i, k] of keys.entries()) {
        const usd = (n % 7) * 0.01 + i * 0.1 + 0.01;
        server.addSpend(k.id, usd, day(n));
        if (n >= 3) expected.set(iso(day(n)), { ...expected.get(iso(day(n))), [keyHash(k.key)]: usd });
      }
      server.addSpend('dddddddddddd', 100, day(n)); // Bob's: never Ada's
    }
    const from = iso(day(399));
    const to = iso(day(3));
    const report = await gw.spendReport({ userId: 'ada@example.com' }, from, to);
    expect(report).toBeDefined();
    expect(report?.days.map((d) => d.date)).toEqual([...expected.keys()].sort());
    for (const d of report?.days ?? []) {
      const want = expected.get(d.date) as Record<string, number>;
      expect(Object.keys(d.byKey).sort()).toEqual(Object.keys(want).sort());
      for (const [token, usd] of Object.entries(want)) expect(d.byKey[token]).toBeCloseTo(usd, 9);
      expect(d.spend).toBeCloseTo(Object.values(want).reduce((a, b) => a + b, 0), 9);
    }
    const total = [...expected.values()].flatMap((v) => Object.values(v)).reduce((a, b) => a + b, 0);
    expect(report?.total).toBeCloseTo(total, 6);
    expect(report).toMatchObject({ from, to });
    // Two pages, each asked once, the user id URL-encoded.
    const asked = server.requestLog.filter((l) => l.startsWith('GET /user/daily/activity'));
    expect(asked).toEqual([1, 2].map((p) => `GET /user/daily/activity?user_id=ada%40example.com&start_date=${from}&end_date=${to}&page_size=1000&page=${p}`));
  });

  it('a key\'s running total and its days agree, and /key/update setting spend writes no day (as in LiteLLM)', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    server.addSpend('aaaaaaaaaaaa', 1, day(1));
    server.setSpend('aaaaaaaaaaaa', 3, day(0)); // +2 billed on day 0
    await call(server, 'POST', '/key/update', { key: keyHash(key), spend: 50 });
    const report = await gw.spendReport({ userId: 'ada@example.com' }, iso(day(1)), iso(day(0)));
    expect(report?.days).toEqual([
      { date: iso(day(1)), spend: 1, byKey: { [keyHash(key)]: 1 } },
      { date: iso(day(0)), spend: 2, byKey: { [keyHash(key)]: 2 } },
    ]);
    expect(report?.total).toBe(3);
    expect((await gw.keyInfo(keyHash(key)))?.usage?.spend).toBe(50);
  });

  it('says "unknown" (undefined) when LiteLLM has no such route, or when it answered with other users\' spend', async () => {
    const { gw, server } = await setup();
    await gw.generateKey(mint(gw.newKey()));
    await gw.generateKey(mint(gw.newKey(), 'dddddddddddd', 'bob@example.com'));
    server.addSpend('aaaaaaaaaaaa', 1, day(0));
    server.addSpend('dddddddddddd', 1, day(0));
    expect(await gw.spendReport({ userId: 'ada@example.com' }, iso(day(0)), iso(day(0)))).toMatchObject({ total: 1 });
    server.activityIgnoresUserId = true; // a release before the user_id filter: the master key sees everyone
    expect(await gw.spendReport({ userId: 'ada@example.com' }, iso(day(0)), iso(day(0)))).toBeUndefined();
    server.activityIgnoresUserId = false;
    server.withoutDailyActivity = true; // before v1.65.1: FastAPI's 404
    expect(await gw.spendReport({ userId: 'ada@example.com' }, iso(day(0)), iso(day(0)))).toBeUndefined();
    server.withoutDailyActivity = false;
    server.failNext(1, 503);
    await expect(gw.spendReport({ userId: 'ada@example.com' }, iso(day(0)), iso(day(0)))).rejects.toBeInstanceOf(GatewayUnavailableError);
    await expect(gw.spendReport({ userId: 'ada@example.com' }, '2026-01-02', '2026-01-01')).rejects.toBeInstanceOf(RangeError);
    await expect(gw.spendReport({ userId: 'ada@example.com' }, '2026-1-2', '2026-01-03')).rejects.toBeInstanceOf(RangeError);
  });

  it('a user with no spend has an empty report, not an unknown one', async () => {
    const { gw } = await setup();
    expect(await gw.spendReport({ userId: 'nobody@example.com' }, '2026-01-01', '2026-01-31')).toEqual({ from: '2026-01-01', to: '2026-01-31', total: 0, days: [] });
  });
});

describe('the test gateway answers as LiteLLM does', () => {
  it('POST /key/update: pydantic\'s 422s, unknown fields ignored, the row back without the key', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    const h = keyHash(key);
    const bad = await call(server, 'POST', '/key/update', { key: h, max_budget: 'lots', rpm_limit: 1.5, blocked: 'maybe' });
    expect(bad.status).toBe(422);
    expect(bad.body.detail).toEqual([
      { type: 'float_parsing', loc: ['body', 'max_budget'], msg: 'Input should be a valid number, unable to parse string as a number', input: 'lots' },
      { type: 'int_from_float', loc: ['body', 'rpm_limit'], msg: 'Input should be a valid integer, got a number with a fractional part', input: 1.5 },
      { type: 'bool_parsing', loc: ['body', 'blocked'], msg: 'Input should be a valid boolean, unable to interpret input', input: 'maybe' },
    ]);
    expect((await call(server, 'POST', '/key/update', { max_budget: 1 })).body.detail).toEqual([{ type: 'missing', loc: ['body', 'key'], msg: 'Field required', input: { max_budget: 1 } }]);

    // The raw key works as well as its hash; numeric strings are numbers (pydantic's lax mode).
    const ok = await call(server, 'POST', '/key/update', { key, max_budget: '12.5', budget_duration: '1d', temp_budget_increase: 2, colour: 'blue' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ key, token: h, key_alias: 'keyportal-aaaaaaaaaaaa', max_budget: 12.5, spend: 0, budget_duration: '1d', budget_reset_at: expect.stringMatching(/T00:00:00\.000Z$/), metadata: { temp_budget_increase: 2 } });
    expect(JSON.stringify(ok.body).split(key).length).toBe(2); // only as passed in `key`
    expect(server.ignoredFields).toEqual(['colour']);
    // A given metadata replaces the old one; an explicit null clears a nullable column.
    const cleared = await call(server, 'POST', '/key/update', { key: h, max_budget: null, metadata: { team: 'x' } });
    expect(cleared.body).toMatchObject({ key: h, max_budget: null, metadata: { team: 'x' } });
    expect(server.keysFor('aaaaaaaaaaaa')).toEqual([]); // request_id went with the old metadata
  });

  it('POST /key/update refusals: negative budget 400, unknown key 401, master key only', async () => {
    const { server } = await setup();
    expect(await call(server, 'POST', '/key/update', { key: 'sk-nope', max_budget: -2.5 })).toEqual({
      status: 400,
      body: { error: { message: "{'error': 'max_budget cannot be negative. Received: -2.5'}", type: 'auth_error', param: 'None', code: '400' } },
    });
    expect(await call(server, 'POST', '/key/update', { key: 'abc123', max_budget: 1 })).toEqual({
      status: 401,
      body: { error: { message: 'Authentication Error: invalid user key - user key does not exist in db. User Key=abc123', type: 'auth_error', param: 'None', code: '401' } },
    });
    const anonymous = await fetch(`${server.url}/key/update`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"abc123"}' });
    expect(anonymous.status).toBe(401);
    expect(server.updateCalls).toBe(2);
  });

  it('GET /user/daily/activity: SpendAnalyticsPaginatedResponse, paged by rows, 400 without dates, 422 past page_size 1000', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    server.addSpend('aaaaaaaaaaaa', 0.5, day(0));
    server.addSpend('aaaaaaaaaaaa', 0.25, day(0));
    server.addSpend('aaaaaaaaaaaa', 1, day(1));
    const q = `start_date=${iso(day(1))}&end_date=${iso(day(0))}`;
    const first = await call(server, 'GET', `/user/daily/activity?${q}&user_id=ada%40example.com&page_size=1`);
    expect(first.status).toBe(200);
    const [result] = first.body.results as Array<Record<string, unknown>>;
    expect(result).toMatchObject({
      date: iso(day(0)),
      metrics: { spend: 0.75, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, api_requests: 2, successful_requests: 2, failed_requests: 0 },
      breakdown: {
        models: { 'gpt-4o': { metrics: { spend: 0.75 }, api_key_breakdown: { [keyHash(key)]: { metrics: { spend: 0.75 } } } } },
        providers: { openai: { metrics: { spend: 0.75 } } },
        api_keys: { [keyHash(key)]: { metrics: { spend: 0.75 }, metadata: { key_alias: 'keyportal-aaaaaaaaaaaa', user_id: 'ada@example.com', key_exists: true } } },
        entities: { 'ada@example.com': { metrics: { spend: 0.75 } } },
      },
    });
    expect(first.body.metadata).toMatchObject({ total_spend: 0.75, total_api_requests: 2, page: 1, total_pages: 2, has_more: true });
    const second = await call(server, 'GET', `/user/daily/activity?${q}&page_size=1&page=2`);
    expect((second.body.results as Array<{ date: string }>).map((r) => r.date)).toEqual([iso(day(1))]);
    expect(second.body.metadata).toMatchObject({ total_spend: 1, page: 2, total_pages: 2, has_more: false });
    expect((await call(server, 'GET', `/user/daily/activity?${q}&user_id=bob%40example.com`)).body.metadata).toMatchObject({ total_spend: 0, total_pages: 0, has_more: false });
    expect(await call(server, 'GET', '/user/daily/activity?user_id=x')).toEqual({ status: 400, body: { detail: { error: 'Please provide start_date and end_date' } } });
    expect((await call(server, 'GET', `/user/daily/activity?${q}&page_size=1001`)).status).toBe(422);
    expect((await call(server, 'GET', `/user/daily/activity?${q}&page=0`)).status).toBe(422);
    expect(server.activityCalls).toBe(6);
  });
});

describe('the local stand-in (no gateway configured)', () => {
  it('sets a key\'s budget as LiteLLM would, and reports no spend, since it serves no completions', async () => {
    const gw = new LocalGateway(mkdtempSync(path.join(tmpdir(), 'kp-gw-')), ['gpt-4o'], () => new Date('2026-02-01T12:00:00Z'));
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    expect((await gw.updateBudget(keyHash(key), { maxBudget: 40 })).usage).toMatchObject({ spend: 0, maxBudget: 40, budgetDuration: '30d' });
    expect((await gw.keyInfo(keyHash(key)))?.usage?.maxBudget).toBe(40);
    await expect(gw.updateBudget(keyHash('sk-gone'), { maxBudget: 1 })).rejects.toMatchObject({ name: 'GatewayRefusedError', status: 404 });
    await expect(gw.updateBudget(keyHash(key), { maxBudget: -1 })).rejects.toMatchObject({ name: 'GatewayRefusedError', status: 400 });
    expect(await gw.spendReport({ userId: 'ada@example.com' }, '2026-01-01', '2026-01-31')).toEqual({ from: '2026-01-01', to: '2026-01-31', total: 0, days: [] });
  });
});
