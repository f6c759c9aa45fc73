import { expect, test } from '@playwright/test';
import { accessible, requestThroughCatalog, shot, signIn, unique } from './helpers';

// The portal exactly as `npm run portal` runs it: local store, development keys, mail outbox.

test('a newcomer signs in, requests a model, watches it issued, reads the email and reveals the key once', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Request an API key' })).toBeVisible();
  // Featured models come first.
  const titles = await page.locator('li h2').allTextContents();
  expect(titles.slice(0, 3).sort()).toEqual(['Claude Sonnet 4', 'GPT-4o', 'GPT-4o mini']);
  await accessible(page);
  await shot(page, 'catalog-signed-out');

  await page.getByLabel('Search models').fill('mistral');
  await expect(page.locator('li h2')).toHaveText(['Mistral Large']);

  await page.goto('/signin');
  await accessible(page);
  await shot(page, 'signin');

  const email = unique('newcomer');
  await signIn(page, email);
  const id = await requestThroughCatalog(page, 'GPT-4o');
  // The loop issues it; the page changes without a reload.
  await expect(page.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 15_000 });
  await expect(page.getByText('whitelist answered approve')).toBeVisible();
  await accessible(page);
  await shot(page, 'request-issued');

  await page.getByRole('link', { name: 'Outbox' }).click();
  const message = page.getByTestId('outbox-message').filter({ hasText: 'Your API key for GPT-4o is ready' });
  await expect(message).toBeVisible();
  await expect(message).toContainText(`/requests/${id}`);
  await expect(message).not.toContainText('sk-');
  await accessible(page);
  await shot(page, 'outbox');

  await page.goto(`/requests/${id}`);
  await page.getByRole('button', { name: 'Reveal key' }).click();
  const key = (await page.getByTestId('revealed-key').textContent()) ?? '';
  expect(key).toMatch(/^sk-/);
  await shot(page, 'key-revealed');
  await page.reload();
  await expect(page.getByTestId('already-revealed')).toBeVisible();
  await expect(page.locator('body')).not.toContainText(key);

  await page.getByRole('link', { name: 'My requests' }).click();
  await expect(page.locator(`[data-request="${id}"]`)).toContainText('Issued');
  await accessible(page);
  await shot(page, 'my-requests');
});

test('on a phone the catalog fits the screen and a request is still two taps', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await signIn(page, unique('phone'));
  await page.goto('/');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await shot(page, 'catalog-phone');
  const id = await requestThroughCatalog(page, 'GPT-4o mini');
  expect(id).toMatch(/^[a-z2-7]{12}$/);
  await accessible(page);
  await context.close();
});
