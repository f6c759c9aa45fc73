import { expect, test } from '@playwright/test';
import { accessible, requestThroughCatalog, signIn, unique } from './helpers';

// Renewal from the status page, on the embedded portal: one click, the plugin chain, the chain shown.

test('a requester renews an issued key from its status page and sees the renewal chain both ways', async ({ page }) => {
  await signIn(page, unique('renewer'));
  const oldId = await requestThroughCatalog(page, 'GPT-4o');
  await expect(page.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 15_000 });

  // The reminder email's link: the status page with the renew button brought forward and focused.
  await page.goto(`/requests/${oldId}?renew=1`);
  const renew = page.getByRole('button', { name: 'Renew key' });
  await expect(renew).toBeFocused();
  await renew.click();

  // A new request for the same model, through the chain like any other (the whitelist approves it).
  await page.waitForURL((url) => /\/requests\/[a-z2-7]{12}$/.test(url.pathname) && !url.pathname.endsWith(oldId));
  const newId = new URL(page.url()).pathname.split('/').pop() as string;
  await expect(page.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 15_000 });
  await expect(page.getByText('whitelist answered approve')).toBeVisible();
  const chain = page.getByTestId('renewal-chain');
  await expect(chain).toContainText('Renews');
  await expect(chain.getByRole('link', { name: oldId })).toBeVisible();
  // The old key keeps working: still issued beside the new one.
  await expect(chain.locator('li').first().locator('[data-state]')).toHaveAttribute('data-state', 'issued');
  await accessible(page);
  await page.screenshot({ path: 'test-results/screenshots/renewal.png', fullPage: true });

  // From the old request: renewed by the new one, and no second renewal offered.
  await chain.getByRole('link', { name: oldId }).click();
  await page.waitForURL(new RegExp(`/requests/${oldId}$`));
  await expect(page.getByTestId('renewal-chain')).toContainText('Renewed by');
  await expect(page.getByTestId('renewal-chain').getByRole('link', { name: newId })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Renew key' })).toHaveCount(0);
  await expect(page.getByTestId('renewal')).toContainText(`Renewed: the new key is on request ${newId}`);
  await accessible(page);
});
