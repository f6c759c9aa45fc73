import { type APIRequestContext, expect, test } from '@playwright/test';
import { env, personPage, settledInReview, signIn, signedWebhook, unique, version } from './helpers';

// Bad input against the production server's route handlers: the right status, a message naming
// the problem, and the stored request untouched (its resourceVersion on the API server unchanged).

const json = (data: unknown, origin = env().clusterUrl) => ({ data: JSON.stringify(data), headers: { 'content-type': 'application/json', origin } });

async function createOne(api: APIRequestContext, model = 'experimental'): Promise<string> {
  const res = await api.post('/api/requests', json({ model }));
  expect(res.status()).toBe(201);
  return ((await res.json()) as { request: { id: string } }).request.id;
}

test('request creation refuses unknown models, bad bodies, other sites and duplicates, naming the problem', async ({ page }) => {
  await signIn(page, unique('api'));
  const api = page.request;
  const cases: Array<[string, Promise<{ status(): number; json(): Promise<unknown> }>, number, RegExp]> = [
    ['unknown model', api.post('/api/requests', json({ model: 'gpt-9-turbo' })), 422, /^model: "gpt-9-turbo" is not in the catalog/],
    ['invalid model id', api.post('/api/requests', json({ model: '../../etc' })), 422, /^model: a model id holds/],
    ['missing model', api.post('/api/requests', json({})), 422, /^model: /],
    ['unknown field', api.post('/api/requests', json({ model: 'gpt-4o', email: 'ceo@example.com' })), 422, /unknown field "email"/],
    ['empty body', api.post('/api/requests', { data: Buffer.alloc(0), headers: { 'content-type': 'application/json', origin: env().clusterUrl } }), 400, /body is empty/],
    ['not JSON', api.post('/api/requests', { data: Buffer.from('{"model":'), headers: { 'content-type': 'application/json', origin: env().clusterUrl } }), 400, /not valid JSON/],
    ['10 MB body', api.post('/api/requests', { data: `{"model":"${'x'.repeat(10 * 1024 * 1024)}"}`, headers: { 'content-type': 'application/json', origin: env().clusterUrl } }), 413, /larger than 16384 bytes/],
    ['form body', api.post('/api/requests', { form: { model: 'gpt-4o' }, headers: { origin: env().clusterUrl } }), 415, /application\/json/],
    ['foreign origin', api.post('/api/requests', json({ model: 'gpt-4o' }, 'https://evil.example')), 403, /https:\/\/evil.example are not accepted/],
  ];
  for (const [name, call, status, message] of cases) {
    const res = await call;
    const body = (await res.json()) as { error: { message: string } };
    expect([name, res.status(), body.error.message]).toEqual([name, status, expect.stringMatching(message)]);
  }
  expect(((await (await api.get('/api/requests')).json()) as { requests: unknown[] }).requests).toEqual([]);

  const id = await createOne(api);
  const dup = await api.post('/api/requests', json({ model: 'experimental' }));
  expect(dup.status()).toBe(409);
  expect(((await dup.json()) as { request: { id: string } }).request.id).toBe(id);
});

test('ids that do not exist or belong to someone else are 404, and decisions need an approver and an undecided request', async ({ browser }) => {
  const owner = await personPage(browser);
  await signIn(owner, unique('owner'));
  const id = await createOne(owner.request);
  await settledInReview(owner.request, id);
  const before = await version(id);

  const stranger = await personPage(browser);
  await signIn(stranger, unique('stranger'));
  for (const path of [`/api/requests/${id}`, '/api/requests/aaaaaaaaaaaa']) {
    const res = await stranger.request.get(path);
    expect(res.status()).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^no key request with id /);
  }
  expect((await stranger.request.post(`/api/requests/${id}/decision`, json({ decision: 'approve' }))).status()).toBe(403);
  expect((await stranger.request.post(`/api/requests/${id}/reveal`, json({}))).status()).toBe(404);
  expect(await version(id)).toBe(before);

  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com');
  const noReason = await approver.request.post(`/api/requests/${id}/decision`, json({ decision: 'deny' }));
  expect(noReason.status()).toBe(422);
  expect(((await noReason.json()) as { error: { field: string } }).error.field).toBe('reason');
  expect(await version(id)).toBe(before);
  expect((await approver.request.post('/api/requests/aaaaaaaaaaaa/decision', json({ decision: 'approve' }))).status()).toBe(404);

  expect((await approver.request.post(`/api/requests/${id}/decision`, json({ decision: 'deny', reason: 'No budget this quarter' }))).status()).toBe(200);
  const decided = await version(id);
  const twice = await approver.request.post(`/api/requests/${id}/decision`, json({ decision: 'approve' }));
  expect(twice.status()).toBe(409);
  expect(((await twice.json()) as { error: { message: string } }).error.message).toMatch(/already denied/);
  // The loop may still record the denial email; the decision itself is what must not move.
  expect(await approver.request.get(`/api/requests/${id}`).then(async (r) => ((await r.json()) as { request: { state: string; reason: string } }).request)).toMatchObject({ state: 'denied', reason: 'No budget this quarter' });
  expect(Number(await version(id))).toBeGreaterThanOrEqual(Number(decided));
});

test('the queue and "my requests" answer a page at a time, and name a bad limit or cursor', async ({ browser }) => {
  const requester = await personPage(browser);
  const email = unique('pages');
  await signIn(requester, email);
  const ids = [await createOne(requester.request, 'experimental'), await createOne(requester.request, 'gpt-4o')];
  const own = (await (await requester.request.get('/api/requests?limit=1')).json()) as { requests: Array<{ id: string }>; nextCursor?: string; total: number };
  expect([own.requests.length, own.total, typeof own.nextCursor]).toEqual([1, 2, 'string']);
  const rest = (await (await requester.request.get(`/api/requests?limit=1&cursor=${encodeURIComponent(own.nextCursor ?? '')}`)).json()) as typeof own;
  expect([...own.requests, ...rest.requests].map((r) => r.id).sort()).toEqual([...ids].sort());
  expect(rest.nextCursor).toBeUndefined();

  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com');
  const queue = (await (await approver.request.get(`/api/approvals?requester=${encodeURIComponent(email)}`)).json()) as { requests: unknown[]; total: number; counts: Record<string, number> };
  expect(queue.total).toBe(2);
  expect(Object.values(queue.counts).reduce((n, c) => n + c, 0)).toBe(2);
  for (const [query, status, field] of [
    ['limit=501', 422, 'limit'],
    ['limit=zero', 422, 'limit'],
    ['state=waiting', 422, 'state'],
    ['cursor=forged', 400, 'cursor'],
  ] as const) {
    const res = await approver.request.get(`/api/approvals?${query}`);
    expect([query, res.status(), ((await res.json()) as { error: { field?: string } }).error.field]).toEqual([query, status, field]);
  }
  expect((await requester.request.get('/api/requests?limit=501')).status()).toBe(422);
});

test('the webhook refuses forged and stale signatures and a conflicting decision, and leaves the request alone', async ({ page, request }) => {
  await signIn(page, unique('hook'));
  const id = await createOne(page.request);
  await settledInReview(page.request, id);
  const before = await version(id);
  const body = { request_id: id, decision: 'approve', reason: 'ok', actor: 'hr' };
  const url = `${env().clusterUrl}/api/webhooks/approval`;
  const forged = await request.post(url, signedWebhook('approval', body, 'guessed-secret'));
  expect(forged.status()).toBe(401);
  expect(((await forged.json()) as { error: { message: string } }).error.message).toMatch(/does not match/);
  const stale = await request.post(url, signedWebhook('approval', body, undefined, new Date(Date.now() - 10 * 60_000)));
  expect(stale.status()).toBe(401);
  const unsigned = await request.post(url, { data: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  expect(unsigned.status()).toBe(401);
  // A signature made for the offboarding webhook (same secret) is worthless here.
  const crossed = await request.post(url, signedWebhook('offboarding', body));
  expect(crossed.status()).toBe(401);
  const huge = await request.post(url, { data: 'x'.repeat(10 * 1024 * 1024), headers: { 'content-type': 'application/json' } });
  expect(huge.status()).toBe(413);
  expect(await version(id)).toBe(before);

  expect((await request.post(url, signedWebhook('approval', { ...body, decision: 'deny', reason: 'not approved by HR' }))).status()).toBe(200);
  const conflicting = await request.post(url, signedWebhook('approval', body, undefined, new Date(Date.now() + 1000)));
  expect(conflicting.status()).toBe(409);
  expect(((await conflicting.json()) as { error: { message: string } }).error.message).toMatch(/already denied/);
});

test('pages and answers carry the security headers: nonce CSP, no framing, same-origin referrer', async ({ page, request }) => {
  const res = await page.goto('/');
  const headers = res?.headers() ?? {};
  const csp = headers['content-security-policy'] ?? '';
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic'/);
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("object-src 'none'");
  expect(headers['x-frame-options']).toBe('DENY');
  expect(headers['referrer-policy']).toBe('same-origin');
  expect(headers['x-content-type-options']).toBe('nosniff');
  // Plain http on loopback: HSTS would be meaningless here, and is sent only behind https.
  expect(headers['strict-transport-security']).toBeUndefined();
  const behindTls = await request.get('/api/healthz', { headers: { 'x-forwarded-proto': 'https' } });
  expect(behindTls.headers()['strict-transport-security']).toMatch(/^max-age=\d+/);
  // Every script the page runs carries this response's nonce.
  const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
  const scripts = await page.locator('script').evaluateAll((els) => els.map((e) => (e as HTMLScriptElement).nonce));
  expect(scripts.length).toBeGreaterThan(0);
  expect(scripts.every((n) => n === nonce)).toBe(true);
});

test('a prefetch, a static file and an API answer carry the same policy headers as a page', async ({ page, request }) => {
  await signIn(page, unique('prefetch'));
  const prefetches: Array<Record<string, string>> = [{ 'next-router-prefetch': '1', rsc: '1' }, { purpose: 'prefetch' }];
  for (const headers of prefetches) {
    const res = await page.request.get('/requests', { headers });
    expect(res.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers()['x-frame-options']).toBe('DENY');
  }
  const html = await (await request.get('/signin')).text();
  const chunk = /src="(\/_next\/static\/[^"]+\.js)"/.exec(html)?.[1];
  expect(chunk).toBeTruthy();
  expect((await request.get(chunk as string)).headers()['x-content-type-options']).toBe('nosniff');
  // The JSON API: the same fixed headers, and a policy under which nothing it answers could run.
  const api = (await request.get('/api/models')).headers();
  expect(api['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  expect(api['x-frame-options']).toBe('DENY');
  expect(api['x-content-type-options']).toBe('nosniff');
  expect(api['referrer-policy']).toBe('same-origin');
});

test('a small JSON answer goes out as it is; a page is still compressed', async ({ request }) => {
  const small = await request.get('/api/healthz', { headers: { 'accept-encoding': 'gzip' } });
  expect(small.headers()['content-encoding']).toBeUndefined();
  expect(await small.json()).toEqual({ status: 'ok' });
  const page = await request.get('/signin', { headers: { 'accept-encoding': 'gzip' } });
  expect(page.headers()['content-encoding']).toBe('gzip');
});

test('after sign-in the browser never leaves the portal, whatever callbackUrl says', async ({ page }) => {
  await signIn(page, unique('redirect'));
  const origin = new URL(env().clusterUrl).origin;
  for (const target of ['/\\evil.example', '/%09/evil.example', '//evil.example', 'https://evil.example/']) {
    await page.goto(`/signin?callbackUrl=${encodeURIComponent(target)}`);
    expect(new URL(page.url()).origin).toBe(origin);
  }
  // The raw forms a link could carry, unencoded.
  await page.goto('/signin?callbackUrl=/\\evil.example');
  expect(new URL(page.url()).origin).toBe(origin);
  await page.goto('/signin?callbackUrl=/%09/evil.example');
  expect(new URL(page.url()).origin).toBe(origin);
});

test('readyz tells a probe only whether the portal is ready; what is wrong is for approvers', async ({ request, browser }) => {
  const anonymous = await request.get('/api/readyz');
  expect(anonymous.status()).toBe(200);
  expect(await anonymous.json()).toEqual({ ready: true });
  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com');
  const detailed = (await (await approver.request.get('/api/readyz')).json()) as { checks: Array<{ name: string }> };
  expect(detailed.checks.map((c) => c.name)).toContain('store');
});

test('a list of my requests answers 304 to the tag it holds and is held by ?wait until one of them changes', async ({ page }) => {
  await signIn(page, unique('listtag'));
  const api = page.request;
  const id = await createOne(api);
  await settledInReview(api, id);
  const first = await api.get('/api/requests?limit=20');
  const etag = first.headers().etag as string;
  expect(etag).toMatch(/^"[\w-]{27}"$/);
  const tagged = { headers: { 'if-none-match': etag } };
  const same = await api.get('/api/requests?limit=20', tagged);
  expect([same.status(), same.headers().etag, await same.text()]).toEqual([304, etag, '']);

  const held = api.get('/api/requests?limit=20&wait=20', tagged);
  const decided = await api.post(`${env().clusterReplicaUrl}/api/webhooks/approval`, signedWebhook('approval', { request_id: id, decision: 'deny', reason: 'LISTTAG-1 denied' }));
  expect(decided.status()).toBe(200);
  const changed = await held;
  expect(changed.status()).toBe(200);
  expect(((await changed.json()) as { requests: Array<{ state: string }> }).requests[0]?.state).toBe('denied');
  const bad = await api.get('/api/requests?wait=soon');
  expect([bad.status(), ((await bad.json()) as { error: { message: string } }).error.message]).toEqual([422, expect.stringMatching(/^wait: /)]);
});

test("the approvers' queue answers 304 to the tag it holds and is held by ?wait until the page changes", async ({ browser, page }) => {
  const owner = unique('queuetag');
  await signIn(page, owner);
  const id = await createOne(page.request);
  await settledInReview(page.request, id);
  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com');
  const api = approver.request;
  const url = `/api/approvals?requester=${encodeURIComponent(owner)}`;
  const first = await api.get(url);
  const etag = first.headers().etag as string;
  expect(etag).toMatch(/^"[\w-]{27}"$/);
  const tagged = { headers: { 'if-none-match': etag } };
  expect((await api.get(url, tagged)).status()).toBe(304);

  const held = api.get(`${url}&wait=20`, tagged);
  const decided = await api.post(`${env().clusterReplicaUrl}/api/webhooks/approval`, signedWebhook('approval', { request_id: id, decision: 'deny', reason: 'QUEUETAG-1 denied' }));
  expect(decided.status()).toBe(200);
  const changed = await held;
  expect(changed.status()).toBe(200);
  expect(((await changed.json()) as { requests: Array<{ id: string; state: string }> }).requests).toEqual([expect.objectContaining({ id, state: 'denied' })]);
  const bad = await api.get('/api/approvals?wait=31');
  expect([bad.status(), ((await bad.json()) as { error: { message: string } }).error.message]).toEqual([422, expect.stringMatching(/^wait: /)]);
});

test('a status read answers 304 to the tag it holds, is held by ?wait until the request changes, and names a bad wait', async ({ page }) => {
  await signIn(page, unique('etag'));
  const api = page.request;
  const id = await createOne(api);
  await settledInReview(api, id);
  const first = await api.get(`/api/requests/${id}`);
  const etag = first.headers().etag as string;
  expect(etag).toMatch(/^"[\w-]{27}"$/);
  const tagged = { headers: { 'if-none-match': etag } };
  const same = await api.get(`/api/requests/${id}`, tagged);
  expect([same.status(), same.headers().etag, await same.text()]).toEqual([304, etag, '']);
  const started = Date.now();
  expect((await api.get(`/api/requests/${id}?wait=1`, tagged)).status()).toBe(304);
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);

  // Held on one replica, decided through the other: the held read answers with what changed.
  const held = api.get(`/api/requests/${id}?wait=20`, tagged);
  const decided = await api.post(`${env().clusterReplicaUrl}/api/webhooks/approval`, signedWebhook('approval', { request_id: id, decision: 'approve', reason: 'ETAG-1 approved' }));
  expect(decided.status()).toBe(200);
  const changed = await held;
  expect(changed.status()).toBe(200);
  expect(changed.headers().etag).not.toBe(etag);
  expect(((await changed.json()) as { request: { state: string } }).request.state).toMatch(/^(approved|issued)$/);

  for (const wait of ['31', '-1', 'soon']) {
    const bad = await api.get(`/api/requests/${id}?wait=${wait}`);
    expect([wait, bad.status(), ((await bad.json()) as { error: { message: string } }).error.message]).toEqual([wait, 422, expect.stringMatching(/^wait: /)]);
  }
});
