import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@/lib/config/load';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { checkGatewaySetup } from '@/lib/gateway/setup-check';
import { GatewayStatus } from '@/lib/gateway/status';
import { closedPort } from '../helpers/net';
import { TestGateway } from '@/trial/litellm';
import { liteLLMBudgetResetAt, liteLLMDurationEnd } from '@/trial/litellm-time';

const MASTER = 'sk-master-test-1234';
let server: TestGateway | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function gateway(masterKey = MASTER) {
  server = new TestGateway(MASTER);
  await server.start();
  return { gw: new LiteLLMGateway({ baseUrl: server.url, masterKey, timeoutMs: 1000 }), server };
}

describe('what an admin learns about the gateway before an employee does', () => {
  it('names the catalog models the gateway does not serve', async () => {
    const { gw } = await gateway();
    expect(await checkGatewaySetup(gw, ['gpt-4o', 'experimental', 'anthropic/claude-3'])).toEqual({ problems: [], missingModels: ['experimental'] });
  });

  it('tells a LiteLLM from before November 2024 (401 for an unknown key) from a wrong master key', async () => {
    const old = await gateway();
    old.server.legacyUnknownKey401 = true;
    const found = await checkGatewaySetup(old.gw, ['gpt-4o']);
    expect(found.problems).toEqual([expect.stringMatching(/answers 401 for an unknown key although the master key works.*upgrade/)]);
    await old.server.stop();
    const wrong = await gateway('sk-wrong-master-9999');
    const refused = await checkGatewaySetup(wrong.gw, ['gpt-4o']);
    expect(refused.problems).toEqual([expect.stringMatching(/refused the master key \(HTTP 401\).*GATEWAY_MASTER_KEY/)]);
    expect(refused.problems.join()).not.toContain('sk-wrong-master-9999');
  });

  it('says so when the gateway does not answer, and checks at most once per interval', async () => {
    const gw = new LiteLLMGateway({ baseUrl: `http://127.0.0.1:${await closedPort()}`, masterKey: MASTER, timeoutMs: 500 });
    expect((await checkGatewaySetup(gw, ['gpt-4o'])).problems).toEqual([expect.stringMatching(/unreachable \(GET \/health\/liveliness\)/)]);
    const live = await gateway();
    let t = 0;
    const status = new GatewayStatus(live.gw, ['gpt-4o'], 30_000, () => t);
    await status.current();
    await status.current();
    t = 31_000;
    await status.current();
    expect(live.server.requestLog.filter((l) => l.startsWith('GET /health/liveliness'))).toHaveLength(2);
  });
});

describe('limits as LiteLLM understands them', () => {
  const models = (limits: Record<string, unknown>) => [{ id: 'gpt-4o', title: 'GPT-4o', limits }];
  const problems = (limits: Record<string, unknown>) => {
    try {
      parseConfig({ models: models(limits) }, { source: 'test', env: {} });
      return [];
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
  };

  it('duration_parser.duration_in_seconds: only "1mo" for months; "2mo" is refused at config load, naming the field', () => {
    expect(problems({ budget_duration: '2mo' })).toEqual([expect.stringMatching(/^models\[0\]\.limits\.budget_duration: LiteLLM understands only "1mo"/)]);
    expect(problems({ duration: '1mo', budget_duration: '30d', team_id: 'ml-platform', key_type: 'llm_api' })).toEqual([]);
    expect(problems({ key_type: 'admin' })[0]).toMatch(/^models\[0\]\.limits\.key_type/);
  });

  it('the test double parses as LiteLLM does: a calendar month, 2mo refused, budgets reset at standard points', () => {
    const now = new Date('2026-01-31T10:00:00Z');
    expect(liteLLMDurationEnd('1mo', now)?.toISOString()).toBe('2026-02-28T10:00:00.000Z');
    expect(liteLLMDurationEnd('1mo', new Date('2026-12-15T08:30:00Z'))?.toISOString()).toBe('2027-01-15T08:30:00.000Z');
    expect(liteLLMDurationEnd('2mo', now)).toBeUndefined();
    expect(liteLLMDurationEnd('30d', now)?.toISOString()).toBe('2026-03-02T10:00:00.000Z');
    expect(liteLLMBudgetResetAt('30d', now)?.toISOString()).toBe('2026-02-01T00:00:00.000Z');
    expect(liteLLMBudgetResetAt('1d', now)?.toISOString()).toBe('2026-02-01T00:00:00.000Z');
    expect(liteLLMBudgetResetAt('7d', new Date('2026-01-28T10:00:00Z'))?.toISOString()).toBe('2026-02-02T00:00:00.000Z');
  });

  it('passes team_id and key_type through to /key/generate', async () => {
    const { gw, server } = await gateway();
    const key = gw.newKey();
    await gw.generateKey({ key, alias: 'keyportal-aaaaaaaaaaaa', model: 'gpt-4o', userId: 'ada@example.com', requestId: 'aaaaaaaaaaaa', limits: { team_id: 'ml-platform', key_type: 'llm_api' } });
    expect([...server.keys.values()][0]).toMatchObject({ team_id: 'ml-platform', key_type: 'llm_api' });
    expect(server.ignoredFields).toEqual([]);
  });
});
