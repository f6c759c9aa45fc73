import { createHash } from 'node:crypto';
import { expect, test } from '@playwright/test';
import { MASTER_KEY } from '../helpers/portal';
import { accessible, env, kubectl, mailTo, personPage, requestThroughCatalog, settledInReview, shot, signIn, signedWebhook, unique, waitForMail } from './helpers';

// The portal on the real test cluster: Kubernetes store, LiteLLM-compatible gateway, real SMTP.

test('a user requests a whitelisted model, sees it issued, gets the email and reveals the key minted at the gateway', async ({ page }) => {
  const email = unique('user');
  await signIn(page, email);
  const id = await requestThroughCatalog(page, 'GPT-4o');
  await expect(page.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 15_000 });
  const [mail] = await waitForMail(email, /GPT-4o is ready/);
  expect(mail?.text).toContain(`${env().clusterUrl}/requests/${id}`);
  expect(mail?.text).not.toMatch(/sk-kp-/);

  await page.getByRole('button', { name: 'Reveal key' }).click();
  const key = (await page.getByTestId('revealed-key').textContent()) ?? '';
  expect(key).toMatch(/^sk-kp-/);
  // The key shown is the one the Secret recorded (by its hash) and registered at the gateway for
  // this user; once shown, it is erased from the Secret.
  const hash = createHash('sha256').update(key).digest('hex');
  expect(await kubectl('get', 'secret', `keyreq-${id}`, '-o', 'jsonpath={.metadata.annotations.keyportal\\.dev/key-sha256}')).toBe(hash);
  await expect.poll(() => kubectl('get', 'secret', `keyreq-${id}`, '-o', 'jsonpath={.data.key}'), { timeout: 10_000 }).toBe('');
  const info = await fetch(`${env().gatewayUrl}/key/info?key=${hash}`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
  expect(info.status).toBe(200);
  expect(((await info.json()) as { info: { user_id: string } }).info.user_id).toBe(email);
  await shot(page, 'key-revealed');
});

test('an approver approves one in-review request and denies another with a reason', async ({ browser }) => {
  const requester = await personPage(browser);
  const email = unique('reviewed');
  await signIn(requester, email);
  const first = await requestThroughCatalog(requester, 'Experimental');
  await expect(requester.locator('[data-state]').first()).toHaveAttribute('data-state', 'in-review');
  await shot(requester, 'request-in-review');

  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com', '/approvals');
  await approver.goto('/approvals');
  await approver.getByLabel('Requester').fill(email);
  const row = approver.locator(`tr[data-request="${first}"]`);
  await expect(row).toContainText('In review');
  await accessible(approver);
  await shot(approver, 'approvals');
  await row.getByRole('button', { name: /^Approve/ }).click();
  const dialog = approver.getByRole('dialog');
  await expect(dialog).toContainText(`Approve ${email} for Experimental?`);
  await accessible(approver);
  await shot(approver, 'approve-confirm');
  await dialog.getByRole('button', { name: 'Confirm: Approve' }).click();
  await expect(approver.getByTestId('action-result')).toContainText(`Approved: ${email} for Experimental is now approved.`);
  await expect(requester.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 15_000 });
  expect(await kubectl('get', 'secret', `keyreq-${first}`, '-o', 'jsonpath={.metadata.annotations.keyportal\\.dev/decided-by}')).toBe('user:approver@example.com');

  // Revoking the key it got: confirmed, then gone at the gateway, and the requester told why.
  await approver.getByLabel('State').selectOption('issued');
  await row.getByRole('button', { name: /^Revoke the key/ }).click();
  await approver.getByLabel('Reason').fill('Project ended');
  await approver.getByRole('button', { name: 'Confirm: Revoke' }).click();
  await expect(approver.getByTestId('action-result')).toContainText('is now revoked');
  const [revoked] = await waitForMail(email, /was revoked/);
  expect(revoked?.text).toContain('Reason: Project ended');
  const key = Buffer.from(await kubectl('get', 'secret', `keyreq-${first}`, '-o', 'jsonpath={.data.key}'), 'base64').toString();
  await expect.poll(async () => (await fetch(`${env().gatewayUrl}/key/info?key=${encodeURIComponent(key)}`, { headers: { authorization: `Bearer ${MASTER_KEY}` } })).status).toBe(404);
  await approver.getByLabel('State').selectOption('all');

  // Another user's request, held for review too, is denied with a reason.
  const other = unique('denied');
  const p2 = await personPage(browser);
  await signIn(p2, other);
  const denied = await requestThroughCatalog(p2, 'Experimental');
  await approver.getByLabel('Requester').fill(other);
  const row2 = approver.locator(`tr[data-request="${denied}"]`);
  await expect(row2).toContainText('In review');
  await row2.getByRole('button', { name: /^Deny/ }).click();
  // A denial without a reason is refused before anything is sent.
  await approver.getByRole('button', { name: 'Confirm: Deny' }).click();
  await expect(approver.getByRole('dialog')).toBeVisible();
  await approver.getByLabel('Reason').fill('Use the EU-hosted model for customer data');
  await approver.getByRole('button', { name: 'Confirm: Deny' }).click();
  await expect(approver.getByTestId('action-result')).toContainText('is now denied');
  const [mail] = await waitForMail(other, /was denied/);
  expect(mail?.text).toContain('Reason: Use the EU-hosted model for customer data');
  await expect(p2.getByTestId('reason')).toHaveText('Use the EU-hosted model for customer data');
});

test('the HR webhook approves a request once; the same call replayed on another replica changes nothing', async ({ page, request }) => {
  const email = unique('hr');
  await signIn(page, email);
  const id = await requestThroughCatalog(page, 'Experimental');
  await expect(page.locator('[data-state]').first()).toHaveAttribute('data-state', 'in-review');
  const call = signedWebhook('approval', { request_id: id, decision: 'approve', reason: 'HR-4711 approved', actor: 'jane.doe' });
  const res = await request.post(`${env().clusterUrl}/api/webhooks/approval`, call);
  expect(res.status()).toBe(200);
  expect(await res.json()).toEqual({ request_id: id, state: 'approved', changed: true });
  await expect(page.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 15_000 });
  // The decider is the caller whose secret signed.
  await expect(page.locator('dd', { hasText: 'by webhook:workday' })).toBeVisible();
  // And its decision is one review under the model's (default) policy.
  await expect(page.getByTestId('reviews')).toContainText('Approved by webhook:workday (approvers): HR-4711 approved (jane.doe, via workday)');

  // The exact bytes again, at the other replica (a replay, or a retry after a timeout): the
  // decision is already on the request, so it answers like a retry and nothing happens twice.
  const replay = await request.post(`${env().clusterReplicaUrl}/api/webhooks/approval`, call);
  expect(replay.status()).toBe(200);
  expect(await replay.json()).toMatchObject({ request_id: id, changed: false });
  const opposite = signedWebhook('approval', { request_id: id, decision: 'deny', reason: 'HR-4711 withdrawn' });
  const conflicting = await request.post(`${env().clusterReplicaUrl}/api/webhooks/approval`, opposite);
  expect(conflicting.status()).toBe(409);
  await waitForMail(email, /is ready/);
  expect(mailTo(email)).toHaveLength(1);
});

test('a status page waits on one held read while nothing happens, and shows a decision made on the other replica', async ({ page, request }) => {
  await signIn(page, unique('follow'));
  const reads: string[] = [];
  page.on('request', (r) => {
    if (/\/api\/requests\/[a-z2-7]{12}(\?|$)/.test(new URL(r.url()).pathname + new URL(r.url()).search)) reads.push(new URL(r.url()).search);
  });
  const id = await requestThroughCatalog(page, 'Experimental');
  const state = page.locator('[data-state]').first();
  await expect(state).toHaveAttribute('data-state', 'in-review');
  await settledInReview(page.request, id);
  const before = reads.length;
  await page.waitForTimeout(6000);
  // A read every 2 s would have made three more; a held read ends at a change, or after 25 s.
  expect(reads.length - before).toBeLessThanOrEqual(1);
  expect(reads.at(-1)).toBe('?wait=25');

  const decided = await request.post(`${env().clusterReplicaUrl}/api/webhooks/approval`, signedWebhook('approval', { request_id: id, decision: 'approve', reason: 'FOLLOW-1 approved' }));
  expect(decided.status()).toBe(200);
  await expect(state).toHaveAttribute('data-state', 'issued');
  await expect(page.getByText('Live updates paused')).toHaveCount(0);
});

test('"My requests" waits on one held read while nothing happens, and shows a decision made on the other replica', async ({ page, request }) => {
  await signIn(page, unique('mylist'));
  const id = await requestThroughCatalog(page, 'Experimental');
  await settledInReview(page.request, id);
  const reads: string[] = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname === '/api/requests' && r.method() === 'GET') reads.push(url.searchParams.get('wait') ?? '');
  });
  await page.goto('/requests');
  const state = page.locator(`[data-request="${id}"] [data-state]`);
  await expect(state).toHaveAttribute('data-state', 'in-review');
  await expect.poll(() => reads.at(-1)).toBe('25');
  const before = reads.length;
  await page.waitForTimeout(6000);
  // A read every 2 s would have made three more; a held read ends at a change, or after 25 s.
  expect(reads.length - before).toBeLessThanOrEqual(1);

  const decided = await request.post(`${env().clusterReplicaUrl}/api/webhooks/approval`, signedWebhook('approval', { request_id: id, decision: 'approve', reason: 'MYLIST-1 approved' }));
  expect(decided.status()).toBe(200);
  await expect(state).toHaveAttribute('data-state', 'issued');
  await expect(page.getByText('Live updates paused')).toHaveCount(0);
});

test("the approvers' queue follows with held reads: a new request appears without a reload", async ({ browser }) => {
  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com', '/approvals');
  const reads: string[] = [];
  approver.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname === '/api/approvals' && r.method() === 'GET') reads.push(url.searchParams.get('wait') ?? '');
  });
  await approver.goto('/approvals');
  const email = unique('queued');
  await approver.getByLabel('Requester').fill(email);
  await expect.poll(() => reads.at(-1)).toBe('25');

  const requester = await personPage(browser);
  await signIn(requester, email);
  const made = await requester.request.post('/api/requests', { data: { model: 'experimental' }, headers: { origin: env().clusterUrl } });
  expect(made.status()).toBe(201);
  const id = ((await made.json()) as { request: { id: string } }).request.id;
  await expect(approver.locator(`tr[data-request="${id}"]`)).toContainText('In review');
  await expect(approver.getByText('Live updates paused')).toHaveCount(0);
});

test('a signed-out visitor and a non-approver are kept out of the queue', async ({ page }) => {
  await page.goto('/approvals');
  await expect(page).toHaveURL(/\/signin\?callbackUrl=%2Fapprovals/);
  expect((await page.request.get('/api/approvals')).status()).toBe(401);
  await signIn(page, unique('nosy'), '/approvals');
  await page.goto('/approvals');
  await expect(page.getByTestId('not-an-approver')).toBeVisible();
  await expect(page.locator('table')).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Approvals' })).toHaveCount(0);
  expect((await page.request.get('/api/approvals')).status()).toBe(403);
  await accessible(page);
  await shot(page, 'approvals-refused');
});
