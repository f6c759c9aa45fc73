import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyHash } from '@/lib/domain/key-request';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { LocalGateway } from '@/lib/gateway/local';
import { GatewayUnavailableError, type KeyInfo } from '@/lib/gateway/types';
import { UsageCache } from '@/lib/gateway/usage-cache';
import { liteLLMKeyInfoSchema, usageFromLiteLLM } from '@/lib/gateway/usage';
import { openAiBaseUrl, usageSnippets } from '@/lib/portal/snippets';
import { kubectlOffboarding } from '@/lib/portal/offboarding-kubectl';
import { TestGateway } from '@/trial/litellm';

const MASTER = 'sk-master-test-usage-1234';
let server: TestGateway | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const H = 'a'.repeat(64);
const USAGE = { spend: 1, maxBudget: 10, budgetDuration: '30d', budgetResetAt: null, rpmLimit: 60, tpmLimit: null, expiresAt: null };

/** A gateway whose keyInfo answers what the test says, counting calls and the most in flight at once. */
function fakeGateway(answer: (hash: string) => Promise<KeyInfo | undefined>) {
  const stats = { calls: 0, inFlight: 0, maxInFlight: 0 };
  return {
    stats,
    gateway: {
      async keyInfo(hash: string) {
        stats.calls++;
        stats.inFlight++;
        stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
        try {
          return await answer(hash);
        } finally {
          stats.inFlight--;
        }
      },
    },
  };
}

describe('usage from the gateway', () => {
  it('reads spend against the budget from LiteLLM /key/info by hash, with the spend the gateway billed', async () => {
    server = new TestGateway(MASTER);
    await server.start();
    const gw = new LiteLLMGateway({ baseUrl: server.url, masterKey: MASTER, timeoutMs: 1000 });
    const key = gw.newKey();
    await gw.generateKey({ key, alias: 'keyportal-bbbbbbbbbbbb', model: 'gpt-4o', userId: 'ada@example.com', requestId: 'bbbbbbbbbbbb', limits: { duration: '7d', max_budget: 10, budget_duration: '30d', rpm_limit: 60, tpm_limit: 1000 } });
    server.setSpend('bbbbbbbbbbbb', 2.5);
    const info = await gw.keyInfo(keyHash(key));
    expect(info?.usage).toMatchObject({ spend: 2.5, maxBudget: 10, budgetDuration: '30d', rpmLimit: 60, tpmLimit: 1000 });
    expect(info?.usage?.budgetResetAt).toMatch(/^\d{4}-\d\d-01T00:00:00Z$/);
    expect(server.requestLog.filter((l) => l.startsWith('GET /key/info')).every((l) => !l.includes(key))).toBe(true);
  });

  it("parses LiteLLM's own info row: nulls stay null, naive timestamps are UTC, unknown fields are ignored", () => {
    const row = {
      token: H,
      key_name: 'sk-...abcd',
      key_alias: 'keyportal-x',
      spend: 0.0123,
      max_budget: null,
      budget_duration: null,
      budget_reset_at: null,
      expires: '2026-01-31T10:00:00.123456',
      models: ['gpt-4o'],
      rpm_limit: null,
      tpm_limit: 1000,
      metadata: {},
      blocked: null,
    };
    expect(usageFromLiteLLM(liteLLMKeyInfoSchema.parse(row))).toEqual({ spend: 0.0123, maxBudget: null, budgetDuration: null, budgetResetAt: null, rpmLimit: null, tpmLimit: 1000, expiresAt: '2026-01-31T10:00:00Z' });
  });

  it('the embedded stand-in reports usage too: no spend yet, the model\'s budget, its next reset and limits', async () => {
    const start = new Date('2026-03-01T12:00:00Z');
    let now = start;
    const gw = new LocalGateway(mkdtempSync(path.join(tmpdir(), 'kp-local-usage-')), ['gpt-4o'], () => now);
    const key = gw.newKey();
    await gw.generateKey({ key, alias: 'keyportal-cccccccccccc', model: 'gpt-4o', userId: 'ada@example.com', requestId: 'cccccccccccc', limits: { duration: '30d', max_budget: 10, budget_duration: '1d', rpm_limit: 60 } });
    now = new Date('2026-03-02T18:00:00Z');
    expect((await gw.keyInfo(keyHash(key)))?.usage).toEqual({ spend: 0, maxBudget: 10, budgetDuration: '1d', budgetResetAt: '2026-03-03T12:00:00Z', rpmLimit: 60, tpmLimit: null, expiresAt: '2026-03-31T12:00:00Z' });
  });

  it('asks the gateway once a minute per key, however many pages ask, and shares a call in flight', async () => {
    let t = 0;
    const { gateway, stats } = fakeGateway(async () => ({ usage: USAGE }));
    const cache = new UsageCache(gateway, { now: () => t });
    const answers = await Promise.all([cache.get(H), cache.get(H), cache.get(H)]);
    expect(answers.every((a) => a.kind === 'ok')).toBe(true);
    expect(stats.calls).toBe(1);
    t = 59_000;
    await cache.get(H);
    expect(stats.calls).toBe(1);
    t = 60_000;
    await cache.get(H);
    expect(stats.calls).toBe(2);
  });

  it('says "unavailable" when the gateway is down, never throws, and asks again sooner than for an answer', async () => {
    let t = 0;
    let down = true;
    const { gateway, stats } = fakeGateway(async () => {
      if (down) throw new GatewayUnavailableError('gateway http://127.0.0.1:9 unreachable (GET /key/info): ECONNREFUSED');
      return { usage: USAGE };
    });
    const cache = new UsageCache(gateway, { now: () => t, failureTtlMs: 15_000 });
    expect((await cache.get(H)).kind).toBe('unavailable');
    t = 10_000;
    expect((await cache.get(H)).kind).toBe('unavailable');
    expect(stats.calls).toBe(1);
    down = false;
    t = 15_000;
    expect((await cache.get(H)).kind).toBe('ok');
    expect(stats.calls).toBe(2);
  });

  it('a key the gateway does not know is told apart from a gateway that is down', async () => {
    const { gateway } = fakeGateway(async () => undefined);
    expect((await new UsageCache(gateway).get(H)).kind).toBe('unknown');
  });

  it('keeps at most `concurrency` gateway calls in flight for a page of many keys', async () => {
    const { gateway, stats } = fakeGateway(() => new Promise((r) => setTimeout(() => r({ usage: USAGE }), 5)));
    const cache = new UsageCache(gateway, { concurrency: 3 });
    const hashes = Array.from({ length: 20 }, (_, i) => String(i).padStart(64, '0'));
    const answers = await Promise.all(hashes.map((h) => cache.get(h)));
    expect(answers.filter((a) => a.kind === 'ok')).toHaveLength(20);
    expect(stats.calls).toBe(20);
    expect(stats.maxInFlight).toBe(3);
  });
});

describe('the usage snippet', () => {
  it('shows curl, the OpenAI Python SDK and the Node SDK with the public URL and model, and the key only as an environment variable', () => {
    const snippets = usageSnippets('https://llm.example.com/', 'anthropic/claude-3');
    expect(snippets.map((s) => s.id)).toEqual(['curl', 'python', 'node']);
    for (const s of snippets) {
      expect(s.code).toContain('https://llm.example.com/v1');
      expect(s.code).toContain('anthropic/claude-3');
      expect(s.code).toContain('LLM_API_KEY');
      expect(s.code).not.toMatch(/sk-[A-Za-z0-9]/);
    }
    expect(openAiBaseUrl('https://gw.example.com/v1/')).toBe('https://gw.example.com/v1');
    // A quote in an admin's URL cannot break out of the shell word.
    expect(usageSnippets("https://x.example.com/a'b", 'gpt-4o')[0]?.code).toContain(`'https://x.example.com/a'\\''b/v1/chat/completions'`);
  });
});

describe('npm run requester-label', () => {
  it('prints the hashed requester selector and the kubectl commands that revoke that person\'s issued keys', () => {
    const out = kubectlOffboarding(' Ada@Example.COM ', { namespace: 'kp-requests', reason: "left; don't ask" });
    expect(out.selector).toMatch(/^app\.kubernetes\.io\/component=key-request,keyportal\.dev\/requester=[0-9a-f]{40}$/);
    const text = out.lines.join('\n');
    expect(text).toContain(`kubectl -n kp-requests label secrets -l '${out.selector},keyportal.dev/state=issued' --overwrite keyportal.dev/state=revoked`);
    expect(text).toContain(`'keyportal.dev/reason=Offboarded: left; don'\\''t ask'`);
    // The email is named in a comment for the reader; no command carries it (label values cannot).
    expect(out.lines.filter((l) => l.startsWith('kubectl')).join('\n')).not.toContain('@');
    expect(() => kubectlOffboarding('ada@example.com', { namespace: 'bad ns; rm -rf /' })).toThrow(/--namespace/);
  });
});
