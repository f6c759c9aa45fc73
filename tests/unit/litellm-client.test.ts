import { afterEach, describe, expect, it } from 'vitest';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError } from '@/lib/gateway/types';
import { closedPort } from '../helpers/net';
import { TestGateway } from '../servers/litellm';

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
  it('generates, finds, and deletes a key with LiteLLM field names only', async () => {
    const { gw, server } = await setup();
    const key = gw.newKey();
    expect(key.startsWith('sk-')).toBe(true);
    expect(await gw.keyExists(key)).toBe(false);
    const { expiresAt } = await gw.generateKey(mint(key));
    expect(expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await gw.keyExists(key)).toBe(true);
    expect(server.keys.get([...server.keys.keys()][0] as string)).toMatchObject({ key_alias: 'keyportal-aaaaaaaaaaaa', max_budget: 5, rpm_limit: 10, metadata: { request_id: 'aaaaaaaaaaaa' } });
    expect(server.ignoredFields).toEqual([]);
    await gw.deleteKey(key);
    expect(await gw.keyExists(key)).toBe(false);
    await gw.deleteKey(key); // already gone: not an error
    expect(await gw.listModels()).toContain('gpt-4o');
  });

  it('a repeated alias is reported as the key already existing', async () => {
    const { gw } = await setup();
    await gw.generateKey(mint(gw.newKey()));
    await expect(gw.generateKey(mint(gw.newKey()))).rejects.toBeInstanceOf(KeyAlreadyExistsError);
  });

  it('a wrong master key is named without being shown', async () => {
    const { gw } = await setup('sk-wrong-master-5678');
    const err = await gw.keyExists('sk-x').catch((e: unknown) => e);
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
    await expect(gw.keyExists('sk-x')).rejects.toThrow(/unreachable.*ECONNREFUSED/);
  });
});
