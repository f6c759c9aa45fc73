import { describe, expect, it } from 'vitest';
import type { User } from '@/lib/auth/roles';
import { signatureHeader } from '@/lib/crypto/signature';
import { buildLoop } from '@/lib/loop/wiring';
import { MemoryPeople } from '../helpers/memory-people';
import { until } from '../helpers/wait';
import { refused } from '../helpers/refused';
import { afterThisTest } from '../helpers/world';
import { type PortalDeps, type QueueFilter, createRequest, decide, getRequest, listOwn, listQueue, reveal, revoke } from '@/lib/portal/requests';
import { type ApprovalWebhookDeps, handleApprovalWebhook } from '@/lib/portal/webhook';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import type { RequestChange, RequestStore } from '@/lib/store/types';
import type { KeyRequest } from '@/lib/domain/key-request';
import { adminKubeConfig, freshNamespace, kubectl } from '../helpers/cluster';
import { testConfig } from '../helpers/portal';

// The portal's service layer (what every route handler calls) on the real API server. Each bad
// input must get its status and a message naming the problem, and leave the stored request as it was.

const SECRET = 'whsec-test-0123456789-0123456789-0123456789';
const OLD_SECRET = 'old-secret-rotating-out-0123456789-0123456789';
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
  const hook: ApprovalWebhookDeps = {
    store,
    config,
    clients: [
      { client: 'tickets', secret: OLD_SECRET },
      { client: 'hr-system', secret: SECRET },
      { client: 'tickets', secret: 'tickets-new-secret-0123456789-0123456789' },
    ],
    toleranceSeconds: 300,
  };
  /** What the plugin chain does when it holds a request for a person. */
  const held = async (id: string) => store.update(await store.get(id), { state: 'in-review', reason: 'Held for review: test' });
  return { namespace, store, deps, hook, held };
}


function signed(body: unknown, secret = SECRET, at = new Date()): { raw: string; sig: string } {
  const raw = JSON.stringify(body);
  return { raw, sig: signatureHeader(secret, 'approval', raw, at) };
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

  it('the rate holds exactly when requests for different models arrive at once, on one replica and across two', async () => {
    const { deps, store, namespace } = await world({ rate: 3 });
    const models = ['gpt-4o', 'gpt-4o-mini', 'anthropic/claude-3', 'experimental', 'internal/secret-model'];
    const answers = await Promise.allSettled(models.map((m) => createRequest(deps, ada, m)));
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(3);
    expect(answers.filter((a) => a.status === 'rejected').map((a) => (a as PromiseRejectedResult).reason.status)).toEqual([429, 429]);

    // Two replicas, each with its own cache: both may let one through; the loop ranks every
    // request the same way and closes the ones past the limit, so three go on.
    const other = new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() });
    afterThisTest(() => other.close());
    const replicas = [deps, { ...deps, store: other }];
    await Promise.allSettled(models.map((m, i) => createRequest(replicas[i % 2] as PortalDeps, bob, m)));
    const config = testConfig({ store: { type: 'kubernetes', namespace, kubeconfig: 'unused' }, gatewayUrl: 'http://127.0.0.1:9', smtp: { host: '127.0.0.1', port: 9 } });
    config.portal.rateLimit = { requests: 3, windowSeconds: 3600 };
    const { loop } = buildLoop(config, store, {}, { people: new MemoryPeople() });
    loop.start();
    afterThisTest(() => loop.stop());
    const bobs = await until(async () => {
      const items = (await store.listByRequester(bob.email)).items;
      return items.every((r) => r.state !== 'pending') ? items : undefined;
    }, 'every one of bob\'s requests to be decided');
    const closed = bobs.filter((r) => r.reason?.startsWith('More than 3 requests'));
    // Whatever got through the two replicas, the three oldest stand and the rest are closed.
    expect(bobs.length - closed.length).toBe(Math.min(3, bobs.length));
    const oldest = [...bobs].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)).slice(0, 3);
    expect(closed.some((c) => oldest.includes(c))).toBe(false);
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
    expect(await listOwn(deps, bob)).toMatchObject({ requests: [], total: 0 });
  });

  it('lets only approvers decide; a second decision is a 409 that changes nothing', async () => {
    const { deps, store, held } = await world();
    const { request } = await createRequest(deps, ada, 'experimental');
    await held(request.id);
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
    const ids = async (q: QueueFilter) => (await listQueue(deps, approver, q)).requests.map((r) => r.id);
    expect(await ids({ state: 'all', model: '', requester: '' })).toEqual([b.request.id, a.request.id]);
    expect(await ids({ state: 'pending', model: '', requester: '' })).toEqual([a.request.id]);
    expect(await ids({ state: 'all', model: 'experimental', requester: '' })).toEqual([b.request.id]);
    expect(await ids({ state: 'all', model: '', requester: 'carol' })).toEqual([]);
    // Emails are compared case-insensitively everywhere.
    expect(await ids({ state: 'all', model: '', requester: 'ADA@' })).toEqual([a.request.id]);
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

  it('a reveal that another write overtakes (the loop, the audit trail) is read again and shows the key, still once', async () => {
    const { deps, store } = await world({ keyDelivery: 'portal' });
    const { request } = await createRequest(deps, ada, 'gpt-4o');
    const approved = await store.update(await store.get(request.id), { state: 'approved', decidedBy: 'plugin:whitelist' });
    const keyed = await store.update(approved, { key: 'sk-kp-test-overtaken-000000000000000' });
    await store.update(keyed, { state: 'issued' });
    // Between the reveal's read and its write, a write of something else lands on the Secret.
    let overtaken = 0;
    const racing: RequestStore = Object.assign(Object.create(store) as RequestStore, {
      async update(read: KeyRequest, change: RequestChange): Promise<KeyRequest> {
        if (change.revealedAt && overtaken++ === 0) await store.update(await store.get(read.id), { audit: [{ type: 'edit.refused', data: { note: 'a write in between' } }] });
        return store.update(read, change);
      },
    });
    const shown = await reveal({ ...deps, store: racing }, ada, request.id);
    expect(overtaken).toBe(2);
    expect(shown.key).toBe('sk-kp-test-overtaken-000000000000000');
    expect((await store.get(request.id)).revealedAt).toBe(shown.revealedAt);
    expect((await refused(() => reveal({ ...deps, store: racing }, ada, request.id))).status).toBe(410);
  });

  it('applies a signed webhook decision once: a repeat is 200 with no effect, the opposite is 409', async () => {
    const { hook, deps, store, namespace, held } = await world();
    const { request } = await createRequest(deps, ada, 'experimental');
    await held(request.id);
    const one = signed({ request_id: request.id, decision: 'APPROVE', reason: 'HR-123 approved', actor: 'jane.doe' });
    expect(await handleApprovalWebhook(hook, one.raw, one.sig)).toEqual({ request_id: request.id, state: 'approved', changed: true });
    const after = await store.get(request.id);
    // The decider is the caller whose secret signed, not whatever the body claims.
    expect(after).toMatchObject({ decidedBy: 'webhook:hr-system', reason: 'HR-123 approved (jane.doe, via hr-system)' });
    // kubectl shows what the webhook wrote: the decider is on the Secret.
    expect(await kubectl('-n', namespace, 'get', 'secret', `keyreq-${request.id}`, '-o', 'jsonpath={.metadata.annotations.keyportal\\.dev/decided-by}')).toBe('webhook:hr-system');

    // The same bytes again (a replay, or a client retrying a call that timed out): no memory of
    // calls needed, on any replica: the decision is already there, so nothing happens twice.
    expect(await handleApprovalWebhook(hook, one.raw, one.sig)).toEqual({ request_id: request.id, state: 'approved', changed: false });
    expect((await store.get(request.id)).resourceVersion).toBe(after.resourceVersion);

    const repeat = signed({ request_id: request.id, decision: 'approve', reason: 'HR-123 approved', actor: 'hr-system' }, SECRET, new Date(Date.now() + 1000));
    expect(await handleApprovalWebhook(hook, repeat.raw, repeat.sig)).toEqual({ request_id: request.id, state: 'approved', changed: false });

    const opposite = signed({ request_id: request.id, decision: 'deny', reason: 'changed my mind', actor: 'hr-system' });
    const err = await refused(() => handleApprovalWebhook(hook, opposite.raw, opposite.sig));
    expect(err.status).toBe(409);
    expect((await store.get(request.id)).resourceVersion).toBe(after.resourceVersion);
  });

  it('refuses forged, stale, missing and malformed webhook calls without touching the request', async () => {
    const { hook, deps, store, held } = await world();
    const { request } = await createRequest(deps, ada, 'experimental');
    const before = (await held(request.id)).resourceVersion;
    const body = { request_id: request.id, decision: 'approve', reason: 'ok', actor: 'hr' };
    const forged = signed(body, 'not-the-secret');
    const stale = signed(body, SECRET, new Date(Date.now() - 6 * 60_000));
    const cases: Array<[string, string | null, number, RegExp]> = [
      [forged.raw, forged.sig, 401, /does not match/],
      [stale.raw, stale.sig, 401, /more than 300 s/],
      [forged.raw, null, 401, /header is missing/],
      [forged.raw, 't=abc,v2=zz', 401, /must look like/],
      // The old scheme, which named no endpoint: refused, saying how to sign instead.
      [forged.raw, `t=${Math.floor(Date.now() / 1000)},v1=${'a'.repeat(64)}`, 401, /v1 signatures name no endpoint/],
      // Signed for the offboarding webhook with the same secret: worthless here.
      [forged.raw, signatureHeader(SECRET, 'offboarding', forged.raw), 401, /does not match the body signed for the approval endpoint/],
    ];
    for (const [raw, sig, status, message] of cases) {
      const err = await refused(() => handleApprovalWebhook(hook, raw, sig));
      expect([err.status, err.message]).toEqual([status, expect.stringMatching(message)]);
      expect(err.message).not.toContain(SECRET);
    }
    const unknownField = signed({ ...body, extra: 1 });
    expect((await refused(() => handleApprovalWebhook(hook, unknownField.raw, unknownField.sig))).message).toMatch(/^\(body\): unknown field "extra"$/);
    const badDecision = signed({ ...body, decision: 'maybe' });
    expect((await refused(() => handleApprovalWebhook(hook, badDecision.raw, badDecision.sig))).message).toMatch(/^decision: expected "approve" or "deny"/);
    const missing = signed({ ...body, request_id: 'aaaaaaaaaaaa' });
    expect((await refused(() => handleApprovalWebhook(hook, missing.raw, missing.sig))).status).toBe(404);
    const notJson = { raw: '{"request_id":', sig: signatureHeader(SECRET, 'approval', '{"request_id":') };
    expect((await refused(() => handleApprovalWebhook(hook, notJson.raw, notJson.sig))).status).toBe(400);
    expect((await store.get(request.id)).resourceVersion).toBe(before);
  });

  it('accepts a call signed with either secret while one rotates out, recording the client either way', async () => {
    const { hook, deps, store, held } = await world();
    const { request } = await createRequest(deps, ada, 'experimental');
    await held(request.id);
    const call = signed({ request_id: request.id, decision: 'deny', reason: 'Not budgeted' }, OLD_SECRET);
    expect(await handleApprovalWebhook(hook, call.raw, call.sig)).toMatchObject({ state: 'denied', changed: true });
    expect(await store.get(request.id)).toMatchObject({ decidedBy: 'webhook:tickets', reason: 'Not budgeted' });
  });

  it('decides only what a plugin held for review: a pending request is a 409, and nothing changes', async () => {
    const { hook, deps, store } = await world();
    const { request } = await createRequest(deps, ada, 'internal/secret-model');
    const before = (await store.get(request.id)).resourceVersion;
    const byApprover = await refused(() => decide(deps, approver, request.id, 'approve', undefined));
    expect([byApprover.status, byApprover.message]).toEqual([409, expect.stringMatching(/is still pending: the approval plugins decide first/)]);
    const call = signed({ request_id: request.id, decision: 'approve', reason: 'HR says yes' });
    const byWebhook = await refused(() => handleApprovalWebhook(hook, call.raw, call.sig));
    expect(byWebhook.status).toBe(409);
    expect((await store.get(request.id)).resourceVersion).toBe(before);
  });

  it('four eyes: an approver cannot decide their own request unless allowSelfApproval says so', async () => {
    const { deps, store, held } = await world();
    const { request } = await createRequest(deps, approver, 'experimental');
    await held(request.id);
    const own = await refused(() => decide(deps, approver, request.id, 'approve', undefined));
    expect([own.status, own.code]).toEqual([403, 'own_request']);
    expect(own.message).toMatch(/another approver must \(four eyes\)/);
    expect((await store.get(request.id)).state).toBe('in-review');
    const relaxed = { ...deps, config: { ...deps.config, approvals: { ...deps.config.approvals, allowSelfApproval: true } } };
    expect(await decide(relaxed, approver, request.id, 'approve', undefined)).toMatchObject({ state: 'approved', decidedBy: 'user:admin@example.com' });
  });
});
