import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { User } from '@/lib/auth/roles';
import { signatureHeader } from '@/lib/crypto/signature';
import { buildLoop } from '@/lib/loop/wiring';
import { MemoryPeople } from '../helpers/memory-people';
import { until } from '../helpers/wait';
import { refused } from '../helpers/refused';
import { afterThisTest } from '../helpers/world';
import { PortalError } from '@/lib/portal/errors';
import { type ListPage, type PortalDeps, type QueueFilter, createRequest, decide, getRequest, listOwn, listQueue, reveal, revoke } from '@/lib/portal/requests';
import type { RequestView } from '@/lib/portal/view';
import { type ApprovalWebhookDeps, handleApprovalWebhook } from '@/lib/portal/webhook';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { LocalDirectoryStore } from '@/lib/store/local';
import type { RequestChange, RequestStore } from '@/lib/store/types';
import type { KeyRequest } from '@/lib/domain/key-request';
import { parseQuery } from '@/lib/portal/parse';
import { ownQuery, queueQuery } from '@/lib/validations/requests';
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

// The queue and "My requests" a page at a time, on both stores. Requests are written with a clock
// one second apart, so "newest first" has one right answer.
describe.each(['local', 'kubernetes'] as const)('paging through requests (%s store)', (kind) => {
  async function pagingWorld() {
    let t = Date.parse('2025-06-01T08:00:00Z');
    const clock = () => new Date((t += 1000));
    const store =
      kind === 'local'
        ? new LocalDirectoryStore(await mkdtemp(path.join(tmpdir(), 'keyportal-paging-')), { clock })
        : new KubernetesSecretStore({ namespace: await freshNamespace('paging'), kubeConfig: adminKubeConfig(), clock });
    const config = testConfig({
      store: kind === 'local' ? { type: 'local', dir: '/unused' } : { type: 'kubernetes', namespace: 'unused', kubeconfig: 'unused' },
      gatewayUrl: 'http://127.0.0.1:9',
      smtp: { host: '127.0.0.1', port: 9 },
    });
    const deps: PortalDeps = { store, config };
    return { store, deps, close: () => (store instanceof KubernetesSecretStore ? store.close() : undefined) };
  }

  /** `n` requests by n people (person-000@…), every `reviewEvery`-th moved to in-review. */
  async function fill(store: RequestStore, n: number, reviewEvery = 0): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const { request } = await store.create({ email: `person-${String(i).padStart(3, '0')}@example.com`, model: i % 2 ? 'gpt-4o' : 'experimental' });
      ids.push(request.id);
      if (reviewEvery && i % reviewEvery === 0) await store.update(request, { state: 'in-review', reason: 'Held for review: test' });
    }
    return ids;
  }

  /** Follows nextCursor to the end, checking each page's size and the total on the way. */
  async function everyPage(list: (cursor?: string) => Promise<ListPage>, size: number): Promise<RequestView[][]> {
    const pages: RequestView[][] = [];
    let cursor: string | undefined;
    do {
      const page = await list(cursor);
      pages.push(page.requests);
      cursor = page.nextCursor;
      if (cursor) expect(page.requests).toHaveLength(size);
      expect(pages.length).toBeLessThan(100);
    } while (cursor);
    return pages;
  }

  it('an approver pages through 120 requests 50 at a time and sees each exactly once, in-review first', async () => {
    const { store, deps, close } = await pagingWorld();
    try {
      const ids = await fill(store, 120, 10);
      const pages = await everyPage((cursor) => listQueue(deps, approver, { limit: 50, ...(cursor ? { cursor } : {}) }), 50);
      expect(pages.map((p) => p.length)).toEqual([50, 50, 20]);
      const rows = pages.flat();
      expect(new Set(rows.map((r) => r.id)).size).toBe(120);
      expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
      // The 12 in review come first, then the pending ones; newest first within each.
      expect(rows.slice(0, 12).every((r) => r.state === 'in-review')).toBe(true);
      expect(rows.slice(12).every((r) => r.state === 'pending')).toBe(true);
      for (const part of [rows.slice(0, 12), rows.slice(12)]) {
        expect(part.map((r) => r.createdAt)).toEqual(part.map((r) => r.createdAt).sort().reverse());
      }
      const first = await listQueue(deps, approver, {});
      expect(first.requests.map((r) => r.id)).toEqual(pages[0]?.map((r) => r.id));
      expect(first.total).toBe(120);
    } finally {
      close();
    }
  });

  it('counts per state match what is stored, and stay the same whichever state is picked', async () => {
    const { store, deps, close } = await pagingWorld();
    try {
      const ids = await fill(store, 30, 3);
      const denied = await store.get(ids[1] as string);
      await store.update(denied, { state: 'denied', decidedBy: 'user:admin@example.com', reason: 'No budget' });
      const expected = { pending: 19, 'in-review': 10, approved: 0, issued: 0, denied: 1, failed: 0, revoked: 0, expired: 0 };
      const all = await listQueue(deps, approver, { state: 'all' });
      expect(all.counts).toEqual(expected);
      expect(all.total).toBe(30);
      const inReview = await listQueue(deps, approver, { state: 'in-review', limit: 4 });
      expect(inReview.counts).toEqual(expected);
      expect([inReview.total, inReview.requests.length]).toEqual([10, 4]);
      // The requester search narrows the counts too: person-000 … person-009 are ten people.
      const some = await listQueue(deps, approver, { requester: 'PERSON-00' });
      expect(some.total).toBe(10);
      expect(Object.values(some.counts).reduce((n, c) => n + c, 0)).toBe(10);
      expect(some.requests.every((r) => r.email.startsWith('person-00'))).toBe(true);
      const model = await listQueue(deps, approver, { model: 'experimental', state: 'pending' });
      expect(model.requests.every((r) => r.model === 'experimental' && r.state === 'pending')).toBe(true);
      expect(model.total).toBe(model.counts.pending);
    } finally {
      close();
    }
  });

  it('a forged cursor, or one from another listing, is a 400 naming cursor', async () => {
    const { store, deps, close } = await pagingWorld();
    try {
      await fill(store, 5);
      for (const cursor of ['not-a-cursor', Buffer.from('{"o":"q","r":"x"}').toString('base64url')]) {
        const err = await refused(() => listQueue(deps, approver, { cursor }));
        expect([err.status, err.details.field]).toEqual([400, 'cursor']);
        expect(err.message).toMatch(/^cursor: .*start again from the first page/);
      }
      // A cursor of "My requests" (newest first) does not page the queue (in-review first).
      const own = await listOwn(deps, { email: 'person-000@example.com', groups: [], approver: true }, { limit: 1 });
      expect((await refused(() => listQueue(deps, approver, { cursor: own.nextCursor ?? 'x' }))).details.field).toBe('cursor');
    } finally {
      close();
    }
  });

  it('a person with 60 requests sees them newest first over two pages, and nobody else’s', async () => {
    const { store, deps, close } = await pagingWorld();
    try {
      const models = ['gpt-4o', 'gpt-4o-mini', 'anthropic/claude-3', 'experimental'];
      // Sixty of ada's (withdrawn as they go, so each model can be asked for again), and one of bob's.
      for (let i = 0; i < 60; i++) {
        const { request } = await store.create({ email: ada.email, model: models[i % 4] as string });
        await store.update(request, { state: 'denied', decidedBy: 'user:admin@example.com', reason: `round ${i}` });
      }
      await store.create({ email: bob.email, model: 'gpt-4o' });
      const pages = await everyPage((cursor) => listOwn(deps, ada, { limit: 50, ...(cursor ? { cursor } : {}) }), 50);
      expect(pages.map((p) => p.length)).toEqual([50, 10]);
      const rows = pages.flat();
      expect(rows.every((r) => r.email === ada.email)).toBe(true);
      expect(rows.map((r) => r.reason)).toEqual(Array.from({ length: 60 }, (_, i) => `round ${59 - i}`));
      expect((await listOwn(deps, ada)).total).toBe(60);
      expect(await listOwn(deps, bob)).toMatchObject({ total: 1, requests: [{ email: bob.email }] });
    } finally {
      close();
    }
  });
});

describe('the paging parameters of GET /api/approvals and GET /api/requests', () => {
  const parse = (query: string) => parseQuery(`http://portal.test/api/approvals?${query}`, queueQuery);
  const refusedParse = (query: string): PortalError => {
    try {
      parse(query);
    } catch (err) {
      if (err instanceof PortalError) return err;
      throw err;
    }
    throw new Error(`expected ?${query} to be refused`);
  };

  it('takes 50 rows by default and at most 500; limit 501 is refused naming limit', () => {
    expect(parse('')).toMatchObject({ state: 'all', limit: 50 });
    expect(parse('limit=&cursor=')).toEqual({ state: 'all', model: '', requester: '', limit: 50 });
    expect(parse('state=in-review&model=gpt-4o&requester=ada&limit=500&cursor=abc')).toEqual({ state: 'in-review', model: 'gpt-4o', requester: 'ada', limit: 500, cursor: 'abc' });
    for (const [query, message] of [
      ['limit=501', /^limit: at most 500 rows per page/],
      ['limit=0', /^limit: expected a whole number from 1 to 500/],
      ['limit=ten', /^limit: expected a whole number/],
      ['limit=2.5', /^limit: expected a whole number/],
      ['state=waiting', /^state: /],
    ] as const) {
      const err = refusedParse(query);
      expect([err.status, err.details.field, err.message]).toEqual([422, query.split('=')[0], expect.stringMatching(message)]);
    }
    expect(() => parseQuery('http://portal.test/api/requests?limit=501', ownQuery)).toThrow(/^limit: at most 500/);
  });
});
