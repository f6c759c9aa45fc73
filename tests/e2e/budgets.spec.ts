import { expect, test } from '@playwright/test';
import { MASTER_KEY } from '../helpers/portal';
import { accessible, env, kubectl, personPage, shot, signIn, unique, waitForMail } from './helpers';

// Issue 25 against the production build on the real test cluster: a requester near the end of a
// budget asks for a top-up on the key's page, the approver sees what it costs beside it, and the
// gateway's budget goes up. Spend is billed through the LiteLLM double's test control, as
// completions would bill it (daily rows and the key's running spend).

const json = (data: unknown) => ({ data: JSON.stringify(data), headers: { 'content-type': 'application/json', origin: env().clusterUrl } });
const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);

async function bill(token: string, usd: number, date: string): Promise<void> {
  const res = await fetch(`${env().gatewayUrl}/_test/spend`, { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ token, usd, date }) });
  expect(res.status).toBe(200);
}

async function budgetAt(token: string): Promise<number | null> {
  const res = await fetch(`${env().gatewayUrl}/key/info?key=${token}`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
  return ((await res.json()) as { info: { max_budget: number | null } }).info.max_budget;
}

test('a requester asks for a top-up from the key\'s page; the approver sees the spend beside it and approves; the budget goes up', async ({ browser }) => {
  const email = unique('topup');
  const requester = await personPage(browser);
  await signIn(requester, email);
  const created = await requester.request.post('/api/requests', json({ model: 'gpt-4o' }));
  expect(created.status()).toBe(201);
  const key = ((await created.json()) as { request: { id: string } }).request.id;
  await expect.poll(async () => kubectl('get', 'secret', `keyreq-${key}`, '-o', 'jsonpath={.metadata.labels.keyportal\\.dev/state}'), { timeout: 20_000 }).toBe('issued');
  const token = await kubectl('get', 'secret', `keyreq-${key}`, '-o', 'jsonpath={.metadata.annotations.keyportal\\.dev/key-sha256}');
  await bill(token, 3, day(2));
  await bill(token, 6, day(0));

  // The key's page: $9 of $10 spent, and the form asking for more.
  await requester.goto(`/requests/${key}?topup=1`);
  await expect(requester.getByRole('progressbar', { name: 'Spend of the GPT-4o key against its budget' })).toHaveAttribute('aria-valuetext', '$9.00 of $10.00 spent');
  const panel = requester.getByTestId('top-ups');
  await expect(panel.getByLabel('Amount (USD)')).toBeFocused();
  // More than the tier allows is refused, naming the field.
  await panel.getByLabel('Amount (USD)').fill('50');
  await panel.getByLabel('Why').fill('The quarterly evaluation needs another run.');
  await panel.getByRole('button', { name: 'Ask for a top-up' }).click();
  await expect(panel.getByRole('alert')).toContainText('amount: at most $10 more');
  await panel.getByLabel('Amount (USD)').fill('5');
  await panel.getByLabel('Until (empty: for good)').fill(day(-14));
  await accessible(requester);
  await shot(requester, 'top-up-ask');
  await panel.getByRole('button', { name: 'Ask for a top-up' }).click();
  await expect(requester).not.toHaveURL(new RegExp(`/requests/${key}`));
  const topUp = new URL(requester.url()).pathname.split('/').pop() ?? '';
  await expect(requester.getByTestId('top-up-summary')).toContainText(`A top-up of $5 until`);
  await expect(requester.getByTestId('top-up-summary')).toContainText(key);
  await expect(requester.locator('[data-state]').first()).toHaveAttribute('data-state', 'in-review', { timeout: 20_000 });
  // The review deadline (approvals.reviewTimeoutDays, 14 by default), told to the requester.
  await expect(requester.getByTestId('review-deadline')).toContainText('If nobody reviews it by');
  expect(await kubectl('get', 'secret', `keyreq-${topUp}`, '-o', 'jsonpath={.metadata.labels.keyportal\\.dev/kind}')).toBe('top-up');

  // The approver: the top-up, what the requester spent in 30 days, their keys, what a GPT-4o key costs here.
  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com', '/approvals');
  await approver.goto('/approvals');
  const row = approver.locator(`tr[data-awaiting="${topUp}"]`);
  await expect(row.getByTestId('top-up-ask')).toContainText(`Top-up of $5 until ${day(-14)} on key ${key}`);
  const figures = row.getByTestId('spend-figures');
  await expect(figures).toContainText('Spent in 30 days: $9');
  await expect(figures).toContainText('Live keys: gpt-4o');
  await expect(figures).toContainText(/Typical GPT-4o key: (\$[\d.,]+ a month \(\d+ keys?\)|unknown)/);
  await accessible(approver);
  await shot(approver, 'top-up-approver-spend');
  await row.getByRole('button', { name: /^Approve/ }).click();
  await approver.getByRole('dialog').getByRole('button', { name: 'Confirm: Approve' }).click();
  await expect(approver.getByTestId('awaiting-result')).toContainText('approved');

  // Applied: $15 at the gateway, the requester told, the key's page shows it in the history.
  await expect.poll(() => budgetAt(token), { timeout: 20_000 }).toBe(15);
  await expect(requester.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 20_000 });
  const [mail] = await waitForMail(email, /Your GPT-4o top-up was applied/);
  expect(mail?.text).toContain("The key's budget went from $10 to $15.");
  await requester.goto(`/requests/${key}`);
  await expect(requester.getByTestId('top-up-history')).toContainText('budget $10 → $15');
  // In "My requests" the top-up is marked as one, beside its key.
  await requester.goto('/requests');
  await expect(requester.locator(`li[data-request="${topUp}"]`).getByTestId('top-up-marker')).toHaveText('top-up $5');
  await expect(requester.locator(`li[data-request="${key}"]`).getByTestId('top-up-marker')).toHaveCount(0);
  await requester.goto(`/requests/${key}`);
  await shot(requester, 'top-up-history');
});
