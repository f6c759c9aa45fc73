import { describe, expect, it } from 'vitest';
import type { User } from '@/lib/auth/roles';
import { signatureHeader } from '@/lib/crypto/signature';
import { PortalError } from '@/lib/portal/errors';
import { ReplayGuard } from '@/lib/portal/replay-guard';
import { type PortalDeps, createRequest, decide, getRequest, listOwn, listQueue, reveal, revoke } from '@/lib/portal/requests';
import { type WebhookDeps, handleApprovalWebhook } from '@/lib/portal/webhook';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { adminKubeConfig, freshNamespace, kubectl } from '../helpers/cluster';
import { testConfig } from '../helpers/portal';

// The portal's service layer (what every route handler calls) on the real API server. Each bad
// input must get its status and a message naming the problem, and leave the stored request as it was.

const SECRET = 'whsec-test-0123456789';
const ada: User = { email: 'ada@example.com', groups: [], approver: false };
const bob: User = { email: 'bob@example.com', groups: [], approver: false };
const approver: User = { email: 'admin@example.com', groups: [], approver: true };

async function world(opts: { keyDelivery?: 'email' | 'portal'; rate?: number } = {}) {
  const namespace = await freshNamespace('portal');
  const store = new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() });
  const config = testConfig({
    store: { type: 'kubernetes', namespace, kubeconfig: 'unused' },
    gatewayUrl: 'http://127.0.0.1:9',
    smtp: { host: '127.0.0.1', port: 9 },
    keyDelivery: opts.keyDelivery ?? 'portal',
  });
  config.portal.rateLimit = { requests: opts.rate ?? 10, windowSeconds: 3600 };
  const deps: PortalDeps = { store, config };
  const hook: WebhookDeps = { store, secrets: ['old-secret-rotating-out', SECRET], toleranceSeconds: 300, replays: new ReplayGuard(600_000) };
  return { namespace, store, deps, hook };
}

/** Runs `fn`, expecting a PortalError; returns it for assertions. */
async function refused(fn: () => Promise<unknown>): Promise<PortalError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof PortalError) return err;
    throw err;
  }
  throw new Error('expected the call to be refused');
}

function signed(body: unknown, secret = SECRET, at = new Date()): { raw: string; sig: string } {
  const raw = JSON.stringify(body);
  return { raw, sig: signatureHeader(secret, raw, at) };
}

describe('the portal service on the real cluster', () => {
  it('refuses a model the catalog does not list, naming the field, and stores nothing', async () => {
    const { deps, store } = await world();
    const err = await refused(() => createRequest(deps, ada, 'gpt-5-unlisted'));
    expect(err.status).toBe(422);
    expect(err.message).toMatch(/^model: "gpt-5-unlisted" is not in the catalog/);
    expect((await store.listByRequester(ada.email)).items).toHaveLength(0);
  });

  it('answers a duplicate with 409 and the existing request', async () => {
    const { deps } = await world();
    const first = await createRequest(deps, ada, 'gpt-4o');
    const err = await refused(() => createRequest(deps, ada, 'gpt-4o'));
    expect(err.status).toBe(409);
    expect(err.details.request).toMatchObject({ id: first.request.id, state: 'pending' });
  });

  it('answers 429 past the per-user rate, with a retry time, and other users are unaffected', async () => {
    const { deps, store } = await world({ rate: 2 });
    await createRequest(deps, ada, 'gpt-4o');
    await createRequest(deps, ada, 'gpt-4o-mini');
    const err = await refused(() => createRequest(deps, ada, 'anthropic/claude-3'));
    expect(err.status).toBe(429);
    expect(err.details.retryAfterSeconds).toBeGreaterThan(3000);
    expect((await store.listByRequester(ada.email)).items).toHaveLength(2);
    await expect(createRequest(deps, bob, 'gpt-4o')).resolves.toMatchObject({ created: true });
  });

  it("hides another user's request behind the same 404 as a missing one", async () => {
    const { deps } = await world();
    const { request } = await createRequest(deps, ada, 'gpt-4o');
    const theirs = await refused(() => getRequest(deps, bob, request.id));
    const missing = await refused(() => getRequest(deps, bob, 'aaaaaaaaaaaa'));
    const garbage = await refused(() => getRequest(deps, bob, '../../etc'));
    expect([theirs.status, missing.status, garbage.status]).toEqual([404, 404, 404]);
    expect(theirs.message).toBe(`no key request with id ${request.id}`);
    expect(await getRequest(deps, approver, request.id)).toMatchObject({ id: request.id, email: ada.email });
    expect(await listOwn(deps, bob)).toEqual([]);
  });

  it('lets only approvers decide; a second decision is a 409 that changes nothing', async () => {
    const { deps, store } = await world();
    const { request } = await createRequest(deps, ada, 'experimental');
    expect((await refused(() => decide(deps, bob, request.id, 'approve', undefined))).status).toBe(403);
    const denied = await decide(deps, approver, request.id, 'deny', 'Use the EU model');
    expect(denied).toMatchObject({ state: 'denied', decidedBy: 'user:admin@example.com', reason: 'Use the EU model' });
    const before = await store.get(request.id);
    const again = await refused(() => decide(deps, approver, request.id, 'approve', undefined));
    expect(again.status).toBe(409);
    expect(again.message).toContain('already denied');
    expect((await store.get(request.id)).resourceVersion).toBe(before.resourceVersion);
  });

  it('puts in-review first in the queue and filters by state, model and requester', async () => {
    const { deps, store } = await world();
    const a = await createRequest(deps, ada, 'gpt-4o');
    const b = await createRequest(deps, bob, 'experimental');
    await store.update(await store.get(b.request.id), { state: 'in-review', reason: 'Held for review: test' });
    const all = await listQueue(deps, approver, { state: 'all', model: '', requester: '' });
    expect(all.map((r) => r.id)).toEqual([b.request.id, a.request.id]);
    expect((await listQueue(deps, approver, { state: 'pending', model: '', requester: '' })).map((r) => r.id)).toEqual([a.request.id]);
    expect((await listQueue(deps, approver, { state: 'all', model: 'experimental', requester: '' })).map((r) => r.id)).toEqual([b.request.id]);
    expect((await listQueue(deps, approver, { state: 'all', model: '', requester: 'carol' })).map((r) => r.id)).toEqual([]);
    // Emails are compared case-insensitively everywhere.
    expect((await listQueue(deps, approver, { state: 'all', model: '', requester: 'ADA@' })).map((r) => r.id)).toEqual([a.request.id]);
    expect((await refused(() => listQueue(deps, ada, { state: 'all', model: '', requester: '' }))).status).toBe(403);
  });

  it('reveals a key once, to its requester only, and revocation needs an issued key', async () => {
    const { deps, store } = await world();
    const { request } = await createRequest(deps, ada, 'gpt-4o');
    expect((await refused(() => reveal(deps, ada, request.id))).status).toBe(409);
    expect((await refused(() => revoke(deps, approver, request.id, 'no'))).status).toBe(409);
    const approved = await store.update(await store.get(request.id), { state: 'approved', decidedBy: 'plugin:whitelist' });
    const keyed = await store.update(approved, { key: 'sk-kp-test-reveal-0000000000000000000' });
    expect((await store.update(keyed, { state: 'issued' })).hasKey).toBe(true);
    expect((await refused(() => reveal(deps, approver, request.id))).status).toBe(404);
    const shown = await reveal(deps, ada, request.id);
    expect(shown.key).toBe('sk-kp-test-reveal-0000000000000000000');
    const second = await refused(() => reveal(deps, ada, request.id));
    expect(second.status).toBe(410);
    expect(second.message).not.toContain('sk-kp');
    const view = await getRequest(deps, ada, request.id);
    expect(view).toMatchObject({ revealable: false, revealedAt: shown.revealedAt });
    expect(JSON.stringify(view)).not.toContain('sk-kp');
    expect((await revoke(deps, approver, request.id, 'Left the company')).state).toBe('revoked');
  });

  it('applies a signed webhook decision once: a repeat is 200 with no effect, the opposite is 409', async () => {
    const { hook, deps, store, namespace } = await world();
    const { request } = await createRequest(deps, ada, 'experimental');
    const one = signed({ request_id: request.id, decision: 'APPROVE', reason: 'HR-123 approved', actor: 'hr-system' });
    expect(await handleApprovalWebhook(hook, one.raw, one.sig)).toEqual({ request_id: request.id, state: 'approved', changed: true });
    const after = await store.get(request.id);
    expect(after).toMatchObject({ decidedBy: 'webhook:hr-system', reason: 'HR-123 approved' });
    // kubectl shows what the webhook wrote: the decider is on the Secret.
    expect(await kubectl('-n', namespace, 'get', 'secret', `keyreq-${request.id}`, '-o', 'jsonpath={.metadata.annotations.keyportal\\.dev/decided-by}')).toBe('webhook:hr-system');

    const replay = await refused(() => handleApprovalWebhook(hook, one.raw, one.sig));
    expect(replay.status).toBe(409);
    expect(replay.code).toBe('replayed');

    const repeat = signed({ request_id: request.id, decision: 'approve', reason: 'HR-123 approved', actor: 'hr-system' }, SECRET, new Date(Date.now() + 1000));
    expect(await handleApprovalWebhook(hook, repeat.raw, repeat.sig)).toEqual({ request_id: request.id, state: 'approved', changed: false });

    const opposite = signed({ request_id: request.id, decision: 'deny', reason: 'changed my mind', actor: 'hr-system' });
    const err = await refused(() => handleApprovalWebhook(hook, opposite.raw, opposite.sig));
    expect(err.status).toBe(409);
    expect((await store.get(request.id)).resourceVersion).toBe(after.resourceVersion);
  });

  it('refuses forged, stale, missing and malformed webhook calls without touching the request', async () => {
    const { hook, deps, store } = await world();
    const { request } = await createRequest(deps, ada, 'experimental');
    const before = (await store.get(request.id)).resourceVersion;
    const body = { request_id: request.id, decision: 'approve', reason: 'ok', actor: 'hr' };
    const forged = signed(body, 'not-the-secret');
    const stale = signed(body, SECRET, new Date(Date.now() - 6 * 60_000));
    const cases: Array<[string, string | null, number, RegExp]> = [
      [forged.raw, forged.sig, 401, /does not match/],
      [stale.raw, stale.sig, 401, /more than 300 s/],
      [forged.raw, null, 401, /header is missing/],
      [forged.raw, 't=abc,v1=zz', 401, /must look like/],
    ];
    for (const [raw, sig, status, message] of cases) {
      const err = await refused(() => handleApprovalWebhook(hook, raw, sig));
      expect([err.status, err.message]).toEqual([status, expect.stringMatching(message)]);
      expect(err.message).not.toContain(SECRET);
    }
    const unknownField = signed({ ...body, extra: 1 });
    expect((await refused(() => handleApprovalWebhook(hook, unknownField.raw, unknownField.sig))).message).toMatch(/unknown field\(s\) extra/);
    const badDecision = signed({ ...body, decision: 'maybe' });
    expect((await refused(() => handleApprovalWebhook(hook, badDecision.raw, badDecision.sig))).message).toMatch(/^decision: expected "approve" or "deny"/);
    const missing = signed({ ...body, request_id: 'aaaaaaaaaaaa' });
    expect((await refused(() => handleApprovalWebhook(hook, missing.raw, missing.sig))).status).toBe(404);
    const notJson = { raw: '{"request_id":', sig: signatureHeader(SECRET, '{"request_id":') };
    expect((await refused(() => handleApprovalWebhook(hook, notJson.raw, notJson.sig))).status).toBe(400);
    expect((await store.get(request.id)).resourceVersion).toBe(before);
  });

  it('accepts a call signed with either secret while one rotates out', async () => {
    const { hook, deps } = await world();
    const { request } = await createRequest(deps, ada, 'experimental');
    const call = signed({ request_id: request.id, decision: 'deny', reason: 'Not budgeted', actor: 'tickets' }, 'old-secret-rotating-out');
    expect(await handleApprovalWebhook(hook, call.raw, call.sig)).toMatchObject({ state: 'denied', changed: true });
  });
});
