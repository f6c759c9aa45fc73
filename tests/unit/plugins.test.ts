import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runChain } from '@/lib/approval/chain';
import type { ApprovalPlugin } from '@/lib/approval/types';
import { verifySignature } from '@/lib/crypto/signature';
import { buildPlugins, checkPluginEntry } from '@/plugins';
import { closedPort } from '../helpers/net';

const request = { id: 'abcdefghijkl', email: 'ada@example.com', model: 'anthropic/claude-3' };
const run = (plugins: ApprovalPlugin[], fallback: 'deny' | 'review' = 'deny') =>
  runChain(plugins, request, { fallback, signal: new AbortController().signal });

describe('model patterns (whitelist and blacklist)', () => {
  const allows = async (pattern: string, model: string) => {
    const plugins = buildPlugins([{ name: 'whitelist', config: { models: [pattern] } }], {});
    const r = await runChain(plugins, { ...request, model }, { fallback: 'deny', signal: new AbortController().signal });
    return r.outcome === 'approve';
  };

  it('anthropic/* matches anthropic/claude-3 but not anthropic/x/y; ** crosses segments', async () => {
    expect(await allows('anthropic/*', 'anthropic/claude-3')).toBe(true);
    expect(await allows('anthropic/*', 'anthropic/x/y')).toBe(false);
    expect(await allows('anthropic/**', 'anthropic/x/y')).toBe(true);
    expect(await allows('gpt-4?', 'gpt-4o')).toBe(true);
    expect(await allows('gpt-4?', 'gpt-4o-mini')).toBe(false);
    expect(await allows('{gpt-4o,o1}', 'o1')).toBe(true);
    expect(await allows('gpt-4o', 'GPT-4O')).toBe(false);
  });

  it('blacklist denies with its reason, before a whitelist that would approve', async () => {
    const plugins = buildPlugins(
      [
        { name: 'blacklist', config: { models: ['anthropic/*'], reason: 'Not yet.' } },
        { name: 'whitelist', config: { models: ['**'] } },
      ],
      {},
    );
    const r = await run(plugins);
    expect(r).toMatchObject({ outcome: 'deny', reason: 'Not yet.', decidedBy: 'plugin:blacklist' });
    expect(r.trace).toHaveLength(1);
  });

  it('all continue ends in the configured default, and no plugins at all too', async () => {
    const plugins = buildPlugins([{ name: 'whitelist', config: { models: ['gpt-*'] } }], {});
    expect(await run(plugins, 'review')).toMatchObject({ outcome: 'review', decidedBy: 'default' });
    expect(await run([], 'deny')).toMatchObject({ outcome: 'deny', reason: 'no approval plugins are configured; the default is deny' });
  });

  it('config problems are named by field', () => {
    expect(checkPluginEntry('whitelist', { models: 'gpt-*' })).toEqual([{ path: ['config', 'models'], message: 'expected an array of strings' }]);
    expect(checkPluginEntry('whitelist', { models: [] })).toEqual([{ path: ['config', 'models'], message: 'expected at least one pattern' }]);
    expect(checkPluginEntry('whitelist', { models: ['x'], modles: [] })).toEqual([{ path: ['config'], message: 'unknown field "modles"' }]);
    expect(checkPluginEntry('grey', {})).toEqual([{ path: ['name'], message: 'unknown plugin "grey"; built in: http, blacklist, whitelist, email, spend' }]);
    expect(checkPluginEntry('email', { patterns: ['*@x.com'], onMismatch: 'maybe' })[0]?.path).toEqual(['config', 'onMismatch']);
  });
});

describe('the email plugin', () => {
  it('approves a matching address (any case) and denies the rest, or continues if told to', async () => {
    const deny = buildPlugins([{ name: 'email', config: { patterns: ['*@example.com'] } }], {});
    expect((await runChain(deny, { ...request, email: 'Ada@Example.COM' }, { fallback: 'review', signal: new AbortController().signal })).outcome).toBe('approve');
    expect((await runChain(deny, { ...request, email: 'eve@example.com.evil' }, { fallback: 'review', signal: new AbortController().signal })).outcome).toBe('deny');
    const cont = buildPlugins([{ name: 'email', config: { patterns: ['*@example.com'], onMismatch: 'continue' } }], {});
    expect((await runChain(cont, { ...request, email: 'x@other.org' }, { fallback: 'review', signal: new AbortController().signal })).outcome).toBe('review');
  });
});

describe('the http plugin against a real HTTP server', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections(); // a hanging reply would otherwise hold close() open
    await new Promise<void>((r) => s.close(() => r()));
  });

  /** Serves one behaviour; returns its URL and the requests it saw. */
  async function serve(behave: (body: string, headers: Record<string, string | string[] | undefined>) => { status?: number; body?: string; hang?: boolean }) {
    const seen: Array<{ body: string; headers: Record<string, string | string[] | undefined> }> = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        seen.push({ body, headers: req.headers });
        const b = behave(body, req.headers);
        if (b.hang) return;
        res.writeHead(b.status ?? 200, { 'content-type': 'application/json' });
        res.end(b.body ?? '');
      });
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/decide`, seen };
  }

  const httpChain = (url: string, extra: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
    buildPlugins([{ name: 'http', config: { url, onError: 'continue', ...extra } }], env);

  it('makes fail-open or fail-closed a written decision, and never "approve on error"', () => {
    expect(checkPluginEntry('http', { url: 'https://hr.example.com/decide' })).toEqual([
      { path: ['config', 'onError'], message: expect.stringMatching(/say what an unreachable or failing endpoint answers/) },
    ]);
    expect(checkPluginEntry('http', { url: 'https://hr.example.com/decide', onError: 'approve' })[0]?.message).toMatch(/never "approve"/);
    expect(checkPluginEntry('http', { url: 'https://hr.example.com/decide', onError: 'deny' })).toEqual([]);
  });

  it('refuses plain http:// beyond loopback unless allowed knowingly', () => {
    expect(checkPluginEntry('http', { url: 'http://hr.example.com/decide', onError: 'deny' })).toEqual([
      { path: ['config', 'url'], message: expect.stringMatching(/plain http:\/\/ is refused beyond loopback/) },
    ]);
    expect(checkPluginEntry('http', { url: 'http://hr.example.com/decide', onError: 'deny', allowPlainHttp: true })).toEqual([]);
    expect(checkPluginEntry('http', { url: 'http://127.0.0.1:8080/decide', onError: 'deny' })).toEqual([]);
  });

  it('stops reading a reply past 64 KiB instead of holding all of it', async () => {
    const { url } = await serve(() => ({ body: `{"decision":"APPROVE","reason":"${'x'.repeat(5 * 1024 * 1024)}"}` }));
    const r = await run(httpChain(url, { onError: 'deny' }), 'review');
    expect(r).toMatchObject({ outcome: 'deny' });
    expect(r.reason).toMatch(/answered with more than 64 KiB/);
  });

  it.each([
    ['APPROVE', 'approve'],
    ['deny', 'deny'],
    ['Review', 'review'],
  ] as const)('a reply of %s decides %s, with the reason given', async (decision, outcome) => {
    const { url, seen } = await serve(() => ({ body: JSON.stringify({ decision, reason: 'HR says so' }) }));
    const r = await run(httpChain(url));
    expect(r).toMatchObject({ outcome, reason: 'HR says so', decidedBy: 'plugin:http' });
    // `renews`, `justification` and `manager` are always there, null when unknown, so a receiver can rely on the fields.
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ request_id: request.id, email: request.email, model: request.model, renews: null, justification: null, manager: null, top_up: null, spend: null });
  });

  it('names the requester\'s manager when it answers one, sends the justification, and ignores a manager that is no address', async () => {
    const { url, seen } = await serve(() => ({ body: JSON.stringify({ decision: 'REVIEW', manager: 'Boss@Example.com' }) }));
    const r = await runChain(httpChain(url), { ...request, justification: 'Quarterly <report>' }, { fallback: 'deny', signal: new AbortController().signal });
    expect(r).toMatchObject({ outcome: 'review', manager: 'boss@example.com' });
    expect(JSON.parse(seen[0]?.body ?? '')).toMatchObject({ justification: 'Quarterly <report>', manager: null });
    const { url: other } = await serve(() => ({ body: JSON.stringify({ decision: 'REVIEW', manager: 'not an address' }) }));
    expect(await run(httpChain(other))).not.toHaveProperty('manager');
  });

  it('sends a top-up and the spend figures, so an external system can judge money', async () => {
    const { url, seen } = await serve(() => ({ body: '{"decision":"CONTINUE"}' }));
    const topUp = { of: 'keykeykeykey', amount: 12.5, until: '2026-12-31T23:59:59Z' };
    const spend = { last30Days: 4.2, liveKeys: [{ id: 'keykeykeykey', model: 'gpt-4o' }], typicalMonthly: null, typicalOver: 0 };
    await runChain(httpChain(url, { sendSpend: true }), { ...request, topUp, spend }, { fallback: 'deny', signal: new AbortController().signal });
    expect(JSON.parse(seen[0]?.body ?? '')).toMatchObject({ top_up: { of: 'keykeykeykey', amount: 12.5, until: '2026-12-31T23:59:59Z' }, spend: { last_30_days: 4.2, live_keys: 1, typical_monthly: null } });
    // Without sendSpend the figures stay home (and the loop never asks the gateway for them).
    const plain = httpChain(url);
    expect(plain[0]?.wantsSpend).toBe(false);
    expect(httpChain(url, { sendSpend: true })[0]?.wantsSpend).toBe(true);
    await runChain(plain, { ...request, topUp, spend }, { fallback: 'deny', signal: new AbortController().signal });
    expect(JSON.parse(seen[1]?.body ?? '')).toMatchObject({ spend: null });
  });

  it('CONTINUE lets the chain go on to the default', async () => {
    const { url } = await serve(() => ({ body: '{"decision":"CONTINUE"}' }));
    expect(await run(httpChain(url), 'review')).toMatchObject({ outcome: 'review', decidedBy: 'default' });
  });

  it.each([
    ['a timeout', () => ({ hang: true }), /no answer within 300 ms/],
    ['a 500', () => ({ status: 500, body: '{}' }), /answered HTTP 500/],
    ['a garbage body', () => ({ body: '<html>oops' }), /not JSON/],
    ['an unknown decision', () => ({ body: '{"decision":"MAYBE"}' }), /without a valid decision/],
  ])('%s answers what onError says, and the trace says why', async (_what, behave, why) => {
    const { url } = await serve(behave);
    const denying = await run(httpChain(url, { timeoutMs: 300, onError: 'deny' }), 'review');
    expect(denying.outcome).toBe('deny');
    expect(denying.reason).toMatch(why);
    expect(denying.trace[0]).toMatchObject({ plugin: 'http', failed: true });
    const continuing = await run(httpChain(url, { timeoutMs: 300 }), 'review');
    expect(continuing).toMatchObject({ outcome: 'review', decidedBy: 'default' });
    expect(continuing.trace[0]?.reason).toMatch(/onError answers continue/);
  });

  it('an unreachable endpoint answers onError', async () => {
    const r = await run(httpChain(`http://127.0.0.1:${await closedPort()}/decide`, { onError: 'review' }), 'deny');
    expect(r.outcome).toBe('review');
    expect(r.reason).toMatch(/unreachable \(connect ECONNREFUSED/);
  });

  it('signs with HMAC over timestamp.body, or sends a bearer token, from the environment', async () => {
    const { url, seen } = await serve(() => ({ body: '{"decision":"APPROVE"}' }));
    await run(httpChain(url, { auth: { type: 'hmac', secretEnv: 'KEYPORTAL_PLUGIN_HR_SECRET' } }, { KEYPORTAL_PLUGIN_HR_SECRET: 's3cret' }));
    const signed = seen[0];
    expect(verifySignature(signed?.headers['x-keyportal-signature'] as string, 'decide', signed?.body ?? '', ['s3cret']).ok).toBe(true);
    expect(verifySignature(signed?.headers['x-keyportal-signature'] as string, 'decide', `${signed?.body} `, ['s3cret']).ok).toBe(false);
    await run(httpChain(url, { auth: { type: 'bearer', tokenEnv: 'KEYPORTAL_PLUGIN_HR_TOKEN' } }, { KEYPORTAL_PLUGIN_HR_TOKEN: 'tok' }));
    expect(seen[1]?.headers.authorization).toBe('Bearer tok');
    expect(() => httpChain(url, { auth: { type: 'bearer', tokenEnv: 'KEYPORTAL_PLUGIN_MISSING_TOKEN' } }, {})).toThrow(
      'approvals.plugins[0]: http plugin: environment variable KEYPORTAL_PLUGIN_MISSING_TOKEN (named by auth) is not set',
    );
  });

  it('a token or secret variable must be a plugin\'s own: the portal\'s secrets are never named', () => {
    for (const name of ['GATEWAY_MASTER_KEY', 'SMTP_PASSWORD', 'NEXTAUTH_SECRET', 'KEYPORTAL_WEBHOOK_SECRETS', 'SLACK_BOT_TOKEN', 'KEYPORTAL_PLUGIN_']) {
      const problems = checkPluginEntry('http', { url: 'https://hr.example.com/decide', onError: 'review', auth: { type: 'bearer', tokenEnv: name } });
      expect(problems, name).toEqual([{ path: ['config', 'auth', 'tokenEnv'], message: expect.stringContaining('must start with KEYPORTAL_PLUGIN_') }]);
    }
    expect(checkPluginEntry('http', { url: 'https://hr.example.com/decide', onError: 'review', auth: { type: 'hmac', secretEnv: 'GATEWAY_MASTER_KEY' } })[0]?.path).toEqual(['config', 'auth', 'secretEnv']);
  });
});

describe('money: the spend plugin, and top-ups through the access plugins', () => {
  const topUp = { of: 'keykeykeykey', amount: 5 };
  const decideWith = async (entries: Array<{ name: string; config: Record<string, unknown> }>, r: Parameters<ApprovalPlugin['decide']>[0]) =>
    runChain(buildPlugins(entries, {}), r, { fallback: 'review', signal: new AbortController().signal });

  it('approves a top-up up to its amount, and leaves a larger one to the rest of the chain', async () => {
    const spend = [{ name: 'spend', config: { topUpsUpTo: 5 } }];
    expect(await decideWith(spend, { ...request, topUp })).toMatchObject({ outcome: 'approve', reason: 'a top-up of $5, at most $5', decidedBy: 'plugin:spend' });
    expect(await decideWith(spend, { ...request, topUp: { ...topUp, amount: 5.01 } })).toMatchObject({ outcome: 'review', decidedBy: 'default' });
    // A key request is not its business unless it says so.
    expect(await decideWith(spend, request)).toMatchObject({ outcome: 'review' });
  });

  it('approves a key whose model typically costs less than its amount a month, and never on an unknown figure', async () => {
    const spend = [{ name: 'spend', config: { expectedMonthlyUnder: 20 } }];
    const figures = (typicalMonthly: number | null) => ({ last30Days: 0, liveKeys: [], typicalMonthly, typicalOver: typicalMonthly === null ? 0 : 3 });
    expect(await decideWith(spend, { ...request, spend: figures(12) })).toMatchObject({ outcome: 'approve', reason: 'a anthropic/claude-3 key typically costs $12 a month here, under $20' });
    expect(await decideWith(spend, { ...request, spend: figures(20) })).toMatchObject({ outcome: 'review' });
    expect(await decideWith(spend, { ...request, spend: figures(null) })).toMatchObject({ outcome: 'review' });
    expect(await decideWith(spend, request)).toMatchObject({ outcome: 'review' });
  });

  it('is refused at config load when it would decide nothing', () => {
    expect(checkPluginEntry('spend', {})[0]?.message).toMatch(/name topUpsUpTo, expectedMonthlyUnder or both/);
  });

  it('a whitelist or an email pattern approves keys, not money, unless topUps: true', async () => {
    const white = { name: 'whitelist', config: { models: ['anthropic/*'] } };
    expect(await decideWith([white], { ...request, topUp })).toMatchObject({ outcome: 'review' });
    expect(await decideWith([{ ...white, config: { ...white.config, topUps: true } }], { ...request, topUp })).toMatchObject({ outcome: 'approve' });
    const email = { name: 'email', config: { patterns: ['*@example.com'] } };
    expect(await decideWith([email], { ...request, topUp })).toMatchObject({ outcome: 'review' });
    expect(await decideWith([email], request)).toMatchObject({ outcome: 'approve' });
    // A blacklisted model stays closed, top-up or not.
    expect(await decideWith([{ name: 'blacklist', config: { models: ['anthropic/*'] } }], { ...request, topUp })).toMatchObject({ outcome: 'deny' });
  });
});
