import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import type { User } from '@/lib/auth/roles';
import { signatureHeader } from '@/lib/crypto/signature';
import type { State } from '@/lib/domain/states';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { UsageCache } from '@/lib/gateway/usage-cache';
import { buildLoop } from '@/lib/loop/wiring';
import { PortalError } from '@/lib/portal/errors';
import { liftOffboarding, offboardPerson } from '@/lib/portal/offboarding';
import { kubectlOffboarding } from '@/lib/portal/offboarding-kubectl';
import { handleOffboardingWebhook } from '@/lib/portal/offboarding-webhook';
import { usageOf, usageOfMany } from '@/lib/portal/usage';
import { MASTER_KEY, type TestSetup, testConfig } from '../helpers/portal';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// Usage and offboarding against the real API server, the LiteLLM-like test gateway and a real
// SMTP server, with the loop in this process: each test has its own namespace and servers.

const SECRET = 'offboarding-test-secret-0123456789abcdef';
const HR = { client: 'workday', secret: SECRET };
const approver: User = { email: 'boss@example.com', groups: [], approver: true };
const employee: User = { email: 'eve@example.com', groups: [], approver: false };

async function world(overrides: Partial<TestSetup> = {}) {
  const w = await clusterWorld('offb', overrides);
  const config = testConfig(w.setup);
  const { loop } = buildLoop(config, w.store, {}, { people: w.people });
  loop.start();
  afterThisTest(() => loop.stop());
  const settled = (id: string, state: State, timeoutMs = 15_000) =>
    until(async () => {
      const r = await w.store.get(id);
      return r.state === state && r.notified === state ? r : undefined;
    }, `request ${id} to be ${state} and emailed`, timeoutMs);
  return { ...w, config, settled };
}

/** Eve holds two issued keys and one request waiting for review. */
async function eveWithKeys(w: Awaited<ReturnType<typeof world>>) {
  const a = (await w.store.create({ email: 'eve@example.com', model: 'gpt-4o' })).request;
  const b = (await w.store.create({ email: 'eve@example.com', model: 'anthropic/claude-3' })).request;
  const held = (await w.store.create({ email: 'eve@example.com', model: 'experimental' })).request;
  // Someone else's key, which offboarding Eve must not touch.
  const other = (await w.store.create({ email: 'olaf@example.com', model: 'gpt-4o' })).request;
  await Promise.all([w.settled(a.id, 'issued'), w.settled(b.id, 'issued'), w.settled(held.id, 'in-review'), w.settled(other.id, 'issued')]);
  expect(w.gateway.keysFor(a.id)).toHaveLength(1);
  expect(w.gateway.keysFor(b.id)).toHaveLength(1);
  return { issued: [a.id, b.id], held: held.id, other: other.id };
}

/** Eve's keys are all gone at the gateway, one "revoked" email per key, the open request denied and told once. */
async function expectOffboarded(w: Awaited<ReturnType<typeof world>>, eve: Awaited<ReturnType<typeof eveWithKeys>>, reason: RegExp) {
  for (const id of eve.issued) {
    const r = await w.settled(id, 'revoked');
    expect(r.reason).toMatch(reason);
  }
  const closed = await w.settled(eve.held, 'denied');
  expect(closed.reason).toMatch(reason);
  const live = [...w.gateway.keys.values()].filter((k) => k.user_id === 'eve@example.com');
  expect(live).toHaveLength(0);
  expect(w.gateway.keysFor(eve.other)).toHaveLength(1);
  const subjects = w.smtp.to('eve@example.com').map((m) => m.subject);
  expect(subjects.filter((s) => s.endsWith('was revoked'))).toHaveLength(2);
  expect(subjects.filter((s) => s.endsWith('was denied'))).toHaveLength(1);
  expect(w.smtp.to('olaf@example.com').map((m) => m.subject)).toEqual(['Your API key for GPT-4o is ready']);
}

function signed(body: unknown, now = new Date()): { raw: string; signature: string } {
  const raw = JSON.stringify(body);
  return { raw, signature: signatureHeader(SECRET, 'offboarding', raw, now) };
}

async function refusal(p: Promise<unknown>): Promise<{ status: number; field?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PortalError) return { status: err.status, message: err.message, ...(err.details.field ? { field: err.details.field } : {}) };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('offboarding', () => {
  it('the signed webhook revokes every key of the person at the gateway, one email per key, and a repeat changes nothing', async () => {
    const w = await world();
    const eve = await eveWithKeys(w);
    const deps = { store: w.store, people: w.people, clients: [HR], toleranceSeconds: 300 };
    const { raw, signature } = signed({ email: 'Eve@Example.com', reason: 'left the company', actor: 'hr-bot' });
    const result = await handleOffboardingWebhook(deps, raw, signature);
    expect(result).toMatchObject({ email: 'eve@example.com', changed: true });
    expect([...result.revoked].sort()).toEqual([...eve.issued].sort());
    expect(result.closed).toEqual([eve.held]);
    await expectOffboarded(w, eve, /^Offboarded: left the company \(hr-bot, via workday\)$/);
    expect((await w.store.get(eve.issued[0] as string)).decidedBy).toBe('webhook:workday');

    // The HR system retries (or an attacker replays within the tolerance): nothing happens twice.
    const again = await handleOffboardingWebhook(deps, raw, signature);
    expect(again).toEqual({ email: 'eve@example.com', recorded: false, revoked: [], closed: [], changed: false });
    await new Promise((r) => setTimeout(r, 1500));
    expect(w.smtp.to('eve@example.com').filter((m) => m.subject.endsWith('was revoked'))).toHaveLength(2);
  });

  it('a replayed offboarding call cannot shut out someone let back in since it was signed', async () => {
    const w = await world();
    const deps = { store: w.store, people: w.people, clients: [HR], toleranceSeconds: 300 };
    const { raw, signature } = signed({ email: 'rehired@example.com', reason: 'left' }, new Date(Date.now() - 60_000));
    expect(await handleOffboardingWebhook(deps, raw, signature)).toMatchObject({ recorded: true, changed: true });
    expect(await w.people.offboarded('rehired@example.com')).toMatchObject({ by: 'webhook:workday' });
    await liftOffboarding(w, { email: 'rehired@example.com', reason: 'rehired', liftedBy: 'user:boss@example.com', now: () => new Date() });
    const fresh = (await w.store.create({ email: 'rehired@example.com', model: 'gpt-4o' })).request;
    await w.settled(fresh.id, 'issued');
    // The captured call again, within its five minutes: nothing.
    expect(await handleOffboardingWebhook(deps, raw, signature)).toEqual({ email: 'rehired@example.com', recorded: false, revoked: [], closed: [], changed: false });
    expect(await w.people.offboarded('rehired@example.com')).toBeUndefined();
    expect((await w.store.get(fresh.id)).state).toBe('issued');
  });

  it('bad webhook calls are refused with a 4xx that names the field', async () => {
    const w = await world();
    const deps = { store: w.store, people: w.people, clients: [HR], toleranceSeconds: 300 };
    const call = (body: unknown) => {
      const { raw, signature } = signed(body);
      return refusal(handleOffboardingWebhook(deps, raw, signature));
    };
    expect(await refusal(handleOffboardingWebhook(deps, '{"email":"eve@example.com","reason":"x"}', null))).toMatchObject({ status: 401, field: 'x-keyportal-signature' });
    const forged = signatureHeader('another-secret-that-is-long-enough-0000', 'offboarding', '{}');
    expect(await refusal(handleOffboardingWebhook(deps, '{}', forged))).toMatchObject({ status: 401, field: 'x-keyportal-signature' });
    const stale = signed({ email: 'eve@example.com', reason: 'left' }, new Date(Date.now() - 3_600_000));
    expect(await refusal(handleOffboardingWebhook(deps, stale.raw, stale.signature))).toMatchObject({ status: 401, message: expect.stringMatching(/timestamp/) });
    expect(await call({ email: 'not-an-email', reason: 'left' })).toMatchObject({ status: 422, field: 'email' });
    expect(await call({ email: 'eve@example.com' })).toMatchObject({ status: 422, field: 'reason' });
    expect(await call({ email: 'eve@example.com', reason: 'left', actor: 'two words' })).toMatchObject({ status: 422, field: 'actor' });
    expect(await call({ email: 'eve@example.com', reason: 'left', request_id: 'abc' })).toMatchObject({ status: 422, message: expect.stringMatching(/unknown field "request_id"/) });
    expect(await refusal(handleOffboardingWebhook(deps, 'not json', signatureHeader(SECRET, 'offboarding', 'not json')))).toMatchObject({ status: 400 });
    expect(await refusal(handleOffboardingWebhook({ ...deps, clients: [] }, '{}', null))).toMatchObject({ status: 503 });
  });

  it("an approver's \"revoke all keys of this person\" ends the same way; others are refused", async () => {
    const w = await world();
    const eve = await eveWithKeys(w);
    const deps = { store: w.store, people: w.people, config: w.config };
    expect(await refusal(offboardPerson(deps, employee, 'eve@example.com', 'left'))).toMatchObject({ status: 403 });
    const result = await offboardPerson(deps, approver, 'eve@example.com', 'Offboarded: left on Friday');
    expect(result.revoked).toHaveLength(2);
    await expectOffboarded(w, eve, /^Offboarded: left on Friday$/);
    expect((await w.store.get(eve.issued[1] as string)).decidedBy).toBe('user:boss@example.com');
  });

  it('the kubectl commands npm run requester-label prints revoke the issued keys at the gateway, one email each', async () => {
    const w = await world();
    const eve = await eveWithKeys(w);
    const { lines } = kubectlOffboarding('eve@example.com', { namespace: w.namespace, reason: 'left the company' });
    // Exactly the printed lines, run by a shell, with kubectl pointed at the test cluster.
    const script = [`kubectl() { "${inject('clusterBin')}/kubectl" --kubeconfig "${inject('kubeconfig')}" "$@"; }`, ...lines].join('\n');
    await promisify(execFile)('bash', ['-euc', script], { timeout: 60_000 });
    for (const id of eve.issued) {
      const r = await w.settled(id, 'revoked');
      expect(r).toMatchObject({ reason: 'Offboarded: left the company', decidedBy: 'kubectl' });
    }
    await w.settled(eve.held, 'denied');
    expect([...w.gateway.keys.values()].filter((k) => k.user_id === 'eve@example.com')).toHaveLength(0);
    const subjects = w.smtp.to('eve@example.com').map((m) => m.subject);
    expect(subjects.filter((s) => s.endsWith('was revoked'))).toHaveLength(2);
    expect(w.gateway.keysFor(eve.other)).toHaveLength(1);
  });
});

describe('usage against budget', () => {
  it('shows what the gateway billed, asks it once a minute per key, and says "unavailable" when it is down', async () => {
    const w = await world();
    const { request } = await w.store.create({ email: 'eve@example.com', model: 'gpt-4o' });
    await w.settled(request.id, 'issued');
    w.gateway.setSpend(request.id, 2.5);
    let t = Date.now();
    const usage = new UsageCache(new LiteLLMGateway({ baseUrl: w.gateway.url, masterKey: MASTER_KEY, timeoutMs: 2000 }), { now: () => t });
    const deps = { store: w.store, config: w.config, usage };
    const before = w.gateway.infoCalls;

    const shown = await usageOf(deps, employee, request.id);
    expect(shown).toMatchObject({ available: true, spend: 2.5, maxBudget: 10, budgetDuration: '30d', rpmLimit: 60, tpmLimit: 1000 });
    expect(shown?.available && shown.expiresAt).toMatch(/Z$/);
    // The same minute: the cache answers, for the status page and the list alike.
    w.gateway.setSpend(request.id, 3);
    expect(await usageOf(deps, approver, request.id)).toMatchObject({ spend: 2.5 });
    expect(await usageOfMany(deps, employee, [request.id, 'aaaaaaaaaaaa'])).toMatchObject({ [request.id]: { spend: 2.5 } });
    expect(w.gateway.infoCalls - before).toBe(1);
    // Never the key in a URL: the gateway was asked by hash.
    expect(w.gateway.requestLog.filter((l) => l.startsWith('GET /key/info')).every((l) => /key=[0-9a-f]{64}$/.test(l))).toBe(true);

    t += 60_000;
    expect(await usageOf(deps, employee, request.id)).toMatchObject({ spend: 3 });
    expect(w.gateway.infoCalls - before).toBe(2);

    await w.gateway.stop();
    t += 60_000;
    const down = await usageOf(deps, employee, request.id);
    expect(down).toMatchObject({ available: false, why: 'gateway-unavailable', message: 'Usage unavailable: the gateway cannot be reached right now.' });
    expect(JSON.stringify(down)).not.toContain(MASTER_KEY);
    // Someone else's request is "not found", as everywhere else.
    expect(await refusal(usageOf(deps, { email: 'mallory@example.com', groups: [], approver: false }, request.id))).toMatchObject({ status: 404 });
  });
});
