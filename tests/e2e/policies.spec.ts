import { expect, test } from '@playwright/test';
import { accessible, kubectl, personPage, requestThroughCatalog, shot, signIn, signInWithSso, unique } from './helpers';

// Approval policies in the browser: the Frontier tier asks why, then the requester's manager
// (from the OIDC manager claim), then the platform team, who may approve a smaller key.

test('a Frontier request: the justification field, the manager, then the platform team approving a smaller key', async ({ browser }) => {
  const requester = await personPage(browser);
  await signInWithSso(requester, 'sso-report');
  await expect(requester.getByTestId('signed-in-as')).toHaveText('report@example.com');
  await requester.goto('/');
  const card = requester.locator('li', { has: requester.getByRole('heading', { name: 'Frontier', exact: true }) });
  await expect(card.getByTestId('approval-policy')).toHaveText('If it needs review: 1 from the manager, then 1 from the platform team.');
  await card.getByRole('button', { name: /^Request key/ }).click();
  const why = card.getByLabel('Why do you need this key?');
  // Too short: the browser holds the form back, nothing is stored.
  await why.fill('for stuff');
  await card.getByRole('button', { name: 'Submit request' }).click();
  expect(await why.evaluate((el) => (el as HTMLTextAreaElement).validity.tooShort)).toBe(true);
  await expect(requester).toHaveURL(/\/$/);
  await why.fill('Contract review <b>pilot</b> for the legal team\nuntil March');
  await accessible(requester);
  await shot(requester, 'justification-form');
  await card.getByRole('button', { name: 'Submit request' }).click();
  await requester.waitForURL(/\/requests\/[a-z2-7]{12}$/);
  const id = requester.url().split('/').pop() as string;
  await expect(requester.getByTestId('review-progress')).toHaveText('0 of 1 approval, waiting for the manager, stage 1 of 2');
  // Shown as typed, never as markup.
  await expect(requester.getByTestId('justification')).toHaveText('Contract review <b>pilot</b> for the legal team\nuntil March');
  await expect(requester.locator('[data-testid="justification"] b')).toHaveCount(0);
  await shot(requester, 'request-waiting-for-manager');

  // The manager is no approver: the approvals page shows them what waits for them, and only that.
  const boss = await personPage(browser);
  await signIn(boss, 'boss@example.com', '/approvals');
  await boss.goto('/approvals');
  const mine = boss.locator(`tr[data-awaiting="${id}"]`);
  await expect(mine).toContainText('Contract review <b>pilot</b>');
  await expect(boss.locator('tr[data-request]')).toHaveCount(0);
  await accessible(boss);
  await shot(boss, 'awaiting-manager');
  await mine.getByRole('button', { name: /^Approve/ }).click();
  await boss.getByRole('dialog').getByRole('button', { name: 'Confirm: Approve' }).click();
  await expect(boss.getByTestId('awaiting-result')).toContainText('is now in-review (0 of 1 approval, waiting for the platform team, stage 2 of 2)');
  await expect(requester.getByTestId('review-progress')).toHaveText('0 of 1 approval, waiting for the platform team, stage 2 of 2');

  // The platform team: the queue with stages, and approve with changes (a lower budget).
  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com', '/approvals');
  await approver.goto('/approvals');
  const row = approver.locator(`tr[data-awaiting="${id}"]`);
  await expect(row).toContainText(`Approved by boss@example.com (the manager)`);
  await row.getByRole('button', { name: /^Approve/ }).click();
  const dialog = approver.getByRole('dialog');
  await dialog.getByLabel('Approve with changes (a smaller key)').check();
  await dialog.getByLabel('Budget (USD)').fill('500');
  await dialog.getByRole('button', { name: 'Confirm: Approve with changes' }).click();
  await expect(dialog.getByRole('alert')).toContainText('changes.max_budget: 500 is above the tier\'s 50');
  await dialog.getByLabel('Budget (USD)').fill('5');
  await dialog.getByLabel('Lasts').fill('7d');
  await accessible(approver);
  await shot(approver, 'approve-with-changes');
  await dialog.getByRole('button', { name: 'Confirm: Approve with changes' }).click();
  await expect(approver.getByTestId('awaiting-result')).toContainText('is now approved');
  await expect(requester.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 20_000 });
  await expect(requester.getByTestId('approved-with-changes')).toHaveText('Approved with changes: budget 5, lasts 7d.');
  await shot(requester, 'issued-with-changes');
  const reviews = JSON.parse(await kubectl('get', 'secret', `keyreq-${id}`, '-o', 'jsonpath={.metadata.annotations.keyportal\\.dev/reviews}')) as Array<{ by: string; stage: string }>;
  expect(reviews.map((r) => [r.by, r.stage])).toEqual([
    ['boss@example.com', 'the manager'],
    ['approver@example.com', 'the platform team'],
  ]);
});

test('bulk approve: select several, see what each approval does, confirm once', async ({ browser }) => {
  const ids: string[] = [];
  for (const who of [unique('bulk-a'), unique('bulk-b')]) {
    const page = await personPage(browser);
    await signIn(page, who);
    ids.push(await requestThroughCatalog(page, 'Experimental'));
  }
  const approver = await personPage(browser);
  await signIn(approver, 'approver@example.com', '/approvals');
  await approver.goto('/approvals');
  for (const id of ids) {
    await expect(approver.locator(`tr[data-awaiting="${id}"]`)).toBeVisible();
    await approver.locator(`tr[data-awaiting="${id}"]`).getByRole('checkbox').check();
  }
  await approver.getByRole('button', { name: 'Approve selected (2)' }).click();
  const preview = approver.getByTestId('bulk-preview');
  for (const id of ids) await expect(preview).toContainText(`${id}: approves it: the key is minted`);
  await accessible(approver);
  await shot(approver, 'bulk-approve-preview');
  await approver.getByRole('dialog').getByRole('button', { name: 'Confirm: approve 2' }).click();
  await expect(approver.getByTestId('awaiting-result')).toHaveText('2 of 2 approved.');
  for (const id of ids) {
    await expect
      .poll(async () => kubectl('get', 'secret', `keyreq-${id}`, '-o', 'jsonpath={.metadata.labels.keyportal\\.dev/state}'), { timeout: 20_000 })
      .toBe('issued');
  }
});
