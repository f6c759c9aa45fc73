import { afterEach, describe, expect, it } from 'vitest';
import { keyHash } from '@/lib/domain/key-request';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError } from '@/lib/gateway/types';
import { closedPort } from '../helpers/net';
import { TestGateway } from '@/trial/litellm';

const MASTER = 'sk-master-test-1234';
let server: TestGateway | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function setup(masterKey = MASTER, timeoutMs = 1000) {
  server = new TestGateway(MASTER);
  await server.start();
  return { gw: new LiteLLMGateway({ baseUrl: server.url, masterKey, timeoutMs }), server };
}

const mint = (key: string, alias = 'keyportal-aaaaaaaaaaaa') => ({
  key,
  alias,
  model: 'gpt-4o',
  userId: 'ada@example.com',
  requestId: 'aaaaaaaaaaaa',
  limits: { duration: '7d', max_budget: 5, rpm_limit: 10 },
});

describe('the LiteLLM admin API client', () => {
  it('generates, finds by hash, and deletes by alias, with LiteLLM field names only and no key in any URL', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    expect(key.startsWith('sk-')).toBe(true);
    expect(await gw.keyInfo(keyHash(key))).toBeUndefined();
    const { expiresAt } = await gw.generateKey({ ...mint(key), changedBy: 'user:boss@example.com' });
    expect(expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The same call reports usage: LiteLLM's null for a limit the key does not have stays null.
    expect(await gw.keyInfo(keyHash(key))).toEqual({
      expiresAt,
      usage: { spend: 0, maxBudget: 5, budgetDuration: null, budgetResetAt: null, rpmLimit: 10, tpmLimit: null, expiresAt },
    });
    expect(server.keys.get(keyHash(key))).toMatchObject({ key_alias: 'keyportal-aaaaaaaaaaaa', max_budget: 5, rpm_limit: 10, metadata: { request_id: 'aaaaaaaaaaaa' } });
    expect(server.ignoredFields).toEqual([]);
    await gw.deleteKey('keyportal-aaaaaaaaaaaa', { changedBy: 'user:boss@example.com' });
    expect(await gw.keyInfo(keyHash(key))).toBeUndefined();
    await gw.deleteKey('keyportal-aaaaaaaaaaaa'); // already gone ("No keys found"): not an error
    expect(await gw.listModels()).toContain('gpt-4o');
    // The approver is recorded at the gateway; the key never travelled in a query string.
    expect(server.changedBy).toEqual(['user:boss@example.com', 'user:boss@example.com']);
    expect(server.requestLog.join('\n')).not.toContain(key);
    expect(server.requestLog).toContain(`GET /key/info?key=${keyHash(key)}`);
  });

  it('key_management_endpoints._enforce_unique_key_alias: the same key and alias again is a 400 on key_alias, read as "already exists"', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    await gw.generateKey(mint(key));
    await expect(gw.generateKey(mint(key))).rejects.toBeInstanceOf(KeyAlreadyExistsError);
    expect(server.keys.size).toBe(1);
  });

  it('a 404 from something that is not LiteLLM (a wrong base URL or path prefix) is no "already gone": retried, and says why', async () => {
    const { server } = await setup();
    server.routePrefix = '/litellm';
    const misdirected = new LiteLLMGateway({ baseUrl: server.url, masterKey: MASTER, timeoutMs: 1000 });
    const err = await misdirected.deleteKey('keyportal-aaaaaaaaaaaa').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect((err as Error).message).toMatch(/HTTP 404.*Not Found.*is gateway.baseUrl the LiteLLM proxy's own address/);
    const right = new LiteLLMGateway({ baseUrl: `${server.url}/litellm`, masterKey: MASTER, timeoutMs: 1000 });
    await right.deleteKey('keyportal-aaaaaaaaaaaa');
  });

  it('a model the key may not use (model access groups, 403) is a final refusal, not "bad master key"', async () => {
    const { gw, server } = await setup();
    server.forbiddenModels.add('gpt-4o');
    const err = await gw.generateKey(mint(gw.newKey())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayRefusedError);
    expect((err as Error).message).toMatch(/HTTP 403.*not allowed to access model/);
    expect((err as Error).message).not.toMatch(/master key/);
  });

  it('another key under our alias is reported as the key already existing', async () => {
    const { gw } = await setup();
    await gw.generateKey(mint(gw.newKey()));
    await expect(gw.generateKey(mint(gw.newKey()))).rejects.toBeInstanceOf(KeyAlreadyExistsError);
  });

  it('a wrong master key is named without being shown', async () => {
    const { gw } = await setup('sk-wrong-master-5678');
    const err = await gw.keyInfo(keyHash('sk-x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect((err as Error).message).toMatch(/refused the master key \(HTTP 401\).*GATEWAY_MASTER_KEY/);
    expect((err as Error).message).not.toContain('sk-wrong-master-5678');
  });

  it('5xx and timeouts are worth retrying; a 4xx refusal is final and names the problem', async () => {
    const { gw, server } = await setup(MASTER, 300);
    server.failNext(1, 503);
    await expect(gw.generateKey(mint(gw.newKey()))).rejects.toBeInstanceOf(GatewayUnavailableError);
    server.hangNext(1);
    await expect(gw.generateKey(mint(gw.newKey()))).rejects.toThrow(/no answer within 300 ms/);
    const refused = await gw.generateKey({ ...mint(gw.newKey(), 'other'), limits: { max_budget: -1 } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GatewayRefusedError);
    expect((refused as Error).message).toMatch(/HTTP 400.*max_budget cannot be negative/);
  });

  it('never puts the minted key in an error message', async () => {
    const { gw } = await setup();
    const err = await gw.generateKey(mint('not-an-sk-key-abcdef')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayRefusedError);
    expect((err as Error).message).toMatch(/must start with 'sk-'/);
    expect((err as Error).message).not.toContain('not-an-sk-key-abcdef');
  });

  it('an unreachable gateway is worth retrying', async () => {
    const gw = new LiteLLMGateway({ baseUrl: `http://127.0.0.1:${await closedPort()}`, masterKey: MASTER, timeoutMs: 500 });
    await expect(gw.keyInfo(keyHash('sk-x'))).rejects.toThrow(/unreachable.*ECONNREFUSED/);
  });
  it('lists every keyportal- key page by page, as LiteLLM pages /key/list (size 100 at most), and nobody else\'s', async () => {
    const { gw, server } = await setup();
    const ids = Array.from({ length: 230 }, (_, i) => `k${String(i).padStart(3, '0')}aaaaaaaa`.replace(/[0189]/g, 'a'));
    for (const [i, id] of ids.entries()) await gw.generateKey({ ...mint(gw.newKey(), `keyportal-${id}${i}`), requestId: id });
    await gw.generateKey({ ...mint(gw.newKey(), 'team-shared-key'), requestId: 'x' });
    const listed = await gw.listKeys('keyportal-');
    expect(listed).toHaveLength(230);
    expect(new Set(listed.map((k) => k.alias)).size).toBe(230);
    expect(listed.every((k) => /^[0-9a-f]{64}$/.test(k.token) && server.keys.has(k.token))).toBe(true);
    expect(listed.find((k) => k.alias === `keyportal-${ids[7]}7`)?.requestId).toBe(ids[7]);
    // 231 keys: three pages of 100, each asked once, full objects (LiteLLM's default lists only hashes).
    const pages = server.requestLog.filter((l) => l.startsWith('GET /key/list'));
    expect(pages).toEqual([1, 2, 3].map((p) => `GET /key/list?page=${p}&size=100&return_full_object=true`));
  });

  it('the test gateway answers /key/list as LiteLLM does: hashes by default, 422 past its size bound, an empty page past the end', async () => {
    const { gw, server } = await setup();
    await gw.generateKey(mint(gw.newKey()));
    const get = (q: string) => fetch(`${server.url}/key/list${q}`, { headers: { authorization: `Bearer ${MASTER}` } }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    expect(await get('')).toEqual({ status: 200, body: { keys: [[...server.keys.keys()][0]], total_count: 1, current_page: 1, total_pages: 1 } });
    expect((await get('?size=101')).status).toBe(422);
    expect((await get('?page=0')).status).toBe(422);
    expect(await get('?page=5')).toEqual({ status: 200, body: { keys: [], total_count: 1, current_page: 5, total_pages: 1 } });
    expect((await get('?key_alias=keyportal-aaaaaaaaaaaa&return_full_object=true')).body.keys).toEqual([expect.objectContaining({ key_alias: 'keyportal-aaaaaaaaaaaa', key_name: expect.stringMatching(/^sk-\.\.\./) })]);
    expect(JSON.stringify((await get('?return_full_object=true')).body)).not.toContain([...server.keys.values()][0]?.key);
    expect((await get('?key_alias=keyportal-')).body.total_count).toBe(0);
  });
});
