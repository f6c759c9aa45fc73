import { type APIRequestContext, expect, test } from '@playwright/test';
import { MASTER_KEY } from '../helpers/portal';
import { accessible, env, kubectl, personPage, signIn, signedWebhook, unique, waitForMail } from './helpers';

// Issue 12, part B, against the production build on the real test cluster: usage against budget
// from the LiteLLM-compatible gateway, the usage snippet, and offboarding over HTTP and the UI.

const json = (data: unknown, origin = env().clusterUrl) => ({ data: JSON.stringify(data), headers: { 'content-type': 'application/json', origin } });

/** Requests `model` through the API (no status page open, so nothing caches its usage yet) and waits until the key is issued. */
async function issuedKey(api: APIRequestContext, model: string): Promise<{ id: string; hash: string }> {
  const res = await api.post('/api/requests', json({ model }));
  expect(res.status()).toBe(201);
  const id = ((await res.json()) as { request: { id: string } }).request.id;
  await expect.poll(async () => ((await (await api.get(`/api/requests/${id}`)).json()) as { request: { state: string } }).request.state, { timeout: 15_000 }).toBe('issued');
  const hash = await kubectl('get', 'secret', `keyreq-${id}`, '-o', 'jsonpath={.metadata.annotations.keyportal\\.dev/key-sha256}');
  expect(hash).toMatch(/^[0-9a-f]{64}$/);
  return { id, hash };
}

/** Bills the key at the gateway as LiteLLM's admin API does (POST /key/update with the key's hash). */
async function bill(hash: string, spend: number): Promise<void> {
  const res = await fetch(`${env().gatewayUrl}/key/update`, { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ key: hash, spend }) });
  expect(res.status).toBe(200);
}

const liveKeysOf = async (hashes: string[]): Promise<number> => {
  const statuses = await Promise.all(hashes.map(async (h) => (await fetch(`${env().gatewayUrl}/key/info?key=${h}`, { headers: { authorization: `Bearer ${MASTER_KEY}` } })).status));
  return statuses.filter((s) => s === 200).length;
};

test('the status page of an issued key shows spend against its budget, its reset and limits, and a snippet without the key', async ({ page }) => {
  const email = unique('usage');
  await signIn(page, email);
  const { id, hash } = await issuedKey(page.request, 'gpt-4o');
  await bill(hash, 2.5);

  await page.goto(`/requests/${id}`);
  const bar = page.getByRole('progressbar', { name: 'Spend of the GPT-4o key against its budget' });
  await expect(bar).toHaveAttribute('aria-valuetext', '$2.50 of $10.00 spent');
  await expect(bar).toHaveAttribute('aria-valuemax', '10');
  const usage = page.getByTestId('key-usage');
  await expect(usage).toContainText('Budget resets');
  await expect(usage).toContainText('(every 30d)');
  await expect(usage).toContainText('Up to 60 requests and 1,000 tokens a minute.');
  await expect(usage).toContainText('Key expires');

  // The snippet: the gateway's public URL and the model, the key only as an environment variable,
  // even beside the one-time reveal.
  const snippet = page.getByTestId('snippet-code');
  await expect(snippet).toContainText("curl 'https://llm.example.com/v1/chat/completions'");
  await expect(snippet).toContainText('$LLM_API_KEY');
  await page.getByRole('tab', { name: 'Python (openai)' }).click();
  await expect(snippet).toContainText('OpenAI(base_url="https://llm.example.com/v1", api_key=os.environ["LLM_API_KEY"])');
  await expect(snippet).toContainText('model="gpt-4o"');
  await page.getByRole('tab', { name: 'Node (openai)' }).click();
  await expect(snippet).toContainText("baseURL: \"https://llm.example.com/v1\", apiKey: process.env.LLM_API_KEY");
  await page.getByRole('tab', { name: 'curl' }).click();
  await page.getByRole('button', { name: 'Reveal key' }).click();
  const key = (await page.getByTestId('revealed-key').textContent()) ?? '';
  expect(key).toMatch(/^sk-kp-/);
  await expect(snippet).not.toContainText(key);
  await accessible(page);
  await page.screenshot({ path: 'test-results/screenshots/usage.png', fullPage: true });

  // My requests: the same at a glance, a mini bar on the row of the issued key.
  await page.goto('/requests');
  await expect(page.locator(`li[data-request="${id}"]`).getByRole('progressbar')).toHaveAttribute('aria-valuetext', '$2.50 of $10.00 spent');
  await accessible(page);
  await page.screenshot({ path: 'test-results/screenshots/usage-my-requests.png', fullPage: true });
});

test('the signed offboarding webhook revokes every key of the person, refuses bad input naming the field, and is idempotent', async ({ page }) => {
  const email = unique('leaver');
  await signIn(page, email);
  const keys = [await issuedKey(page.request, 'gpt-4o'), await issuedKey(page.request, 'anthropic/claude-3')];
  const api = page.request;

  const bad = await api.post('/api/webhooks/offboarding', signedWebhook('offboarding', { email: 'nobody', reason: 'left' }));
  expect(bad.status()).toBe(422);
  expect(await bad.json()).toMatchObject({ error: { field: 'email' } });
  const noReason = await api.post('/api/webhooks/offboarding', signedWebhook('offboarding', { email }));
  expect(await noReason.json()).toMatchObject({ error: { field: 'reason' } });
  const unsigned = await api.post('/api/webhooks/offboarding', { data: JSON.stringify({ email, reason: 'left' }), headers: { 'content-type': 'application/json' } });
  expect(unsigned.status()).toBe(401);
  expect(await unsigned.json()).toMatchObject({ error: { field: 'x-keyportal-signature' } });
  expect(await liveKeysOf(keys.map((k) => k.hash))).toBe(2);

  const call = signedWebhook('offboarding', { email, reason: 'left the company', actor: 'hr-bot' });
  const res = await api.post('/api/webhooks/offboarding', call);
  expect(res.status()).toBe(200);
  expect(await res.json()).toMatchObject({ changed: true, revoked: expect.arrayContaining(keys.map((k) => k.id)) });
  await expect.poll(() => liveKeysOf(keys.map((k) => k.hash)), { timeout: 20_000 }).toBe(0);
  const mails = await waitForMail(email, /was revoked/, 2);
  expect(mails).toHaveLength(2);
  expect(mails[0]?.text).toContain('Reason: Offboarded: left the company (hr-bot, via workday)');
  // The same call again (to the other replica): nothing more happens.
  const again = await api.post(`${env().clusterReplicaUrl}/api/webhooks/offboarding`, call);
  expect(await again.json()).toMatchObject({ changed: false, revoked: [] });
});

test('an approver revokes all keys of a person from the queue, after confirming', async ({ browser }) => {
  const leaver = await personPage(browser);
  const email = unique('offboarded');
  await signIn(leaver, email);
  const keys = [await issuedKey(leaver.request, 'gpt-4o'), await issuedKey(leaver.request, 'gpt-4o-mini')];

  // Not an approver: refused, whatever the page would show.
  const self = await leaver.request.post('/api/offboarding', json({ email, reason: 'me' }));
  expect(self.status()).toBe(403);

  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com', '/approvals');
  await approver.goto('/approvals');
  await approver.getByLabel('Requester').fill(email);
  // Another site cannot make an approver's browser do it.
  expect((await approver.request.post('/api/offboarding', json({ email, reason: 'x' }, 'https://evil.example.com'))).status()).toBe(403);
  const row = approver.locator(`tr[data-request="${keys[0]?.id}"]`);
  await row.getByRole('button', { name: `Revoke all keys of ${email}` }).click();
  const dialog = approver.getByRole('dialog');
  await expect(dialog).toContainText(`Revoke all keys of ${email}?`);
  await expect(approver.getByTestId('offboard-preview')).toContainText('This revokes 2 issued keys and closes 0 open requests');
  await accessible(approver);
  await approver.screenshot({ path: 'test-results/screenshots/offboard-confirm.png' });
  await dialog.getByLabel('Reason').fill('Offboarded: contract ended');
  await dialog.getByRole('button', { name: 'Confirm: revoke all' }).click();
  await expect(approver.getByTestId('action-result')).toContainText(`${email}: 2 keys revoked, 0 open requests closed.`);
  await expect.poll(() => liveKeysOf(keys.map((k) => k.hash)), { timeout: 20_000 }).toBe(0);
  expect(await waitForMail(email, /was revoked/, 2)).toHaveLength(2);
});

test('someone offboarded loses the session they hold at once, cannot sign in again, and is let back in by an approver', async ({ browser }) => {
  const leaver = await personPage(browser);
  const email = unique('gone');
  await signIn(leaver, email);
  await issuedKey(leaver.request, 'gpt-4o-mini');

  const res = await leaver.request.post('/api/webhooks/offboarding', signedWebhook('offboarding', { email, reason: 'left the company' }));
  expect(await res.json()).toMatchObject({ recorded: true, changed: true });

  // The very next use of the open session: signed out, and the API refuses.
  await leaver.goto('/requests');
  await expect(leaver).toHaveURL(/\/signin/);
  expect((await leaver.request.post('/api/requests', json({ model: 'gpt-4o' }))).status()).toBe(401);
  // Signing in again is refused, saying why.
  await leaver.getByLabel('Email').fill(email);
  await leaver.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(leaver).toHaveURL(/error=Offboarded/);
  await expect(leaver.getByRole('alert').filter({ hasText: 'withdrawn' })).toContainText('Your access to API keys was withdrawn');
  await accessible(leaver);
  await leaver.screenshot({ path: 'test-results/screenshots/offboarded-sign-in.png' });
  expect(await kubectl('get', 'configmaps', '-l', 'app.kubernetes.io/component=offboarding', '-o', 'jsonpath={.items[*].data.email}')).toContain(email);

  // An approver lets them back in, saying why; they sign in and request again.
  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com', '/approvals');
  await approver.goto('/approvals');
  const row = approver.getByTestId('offboarded-row').filter({ hasText: email });
  await expect(row).toContainText('left the company');
  await row.getByRole('button', { name: `Let back in ${email}` }).click();
  await approver.getByRole('dialog').getByLabel('Reason').fill('Rehired');
  await accessible(approver);
  await approver.screenshot({ path: 'test-results/screenshots/offboarded-let-back-in.png' });
  await approver.getByRole('button', { name: 'Confirm: let back in' }).click();
  await expect(approver.getByRole('status').filter({ hasText: 'may sign in and request keys again' })).toBeVisible();
  await expect(row).toContainText('Let back in');
  await signIn(leaver, email);
  expect((await leaver.request.post('/api/requests', json({ model: 'gpt-4o' }))).status()).toBe(201);
});
