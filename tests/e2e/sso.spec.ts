import { expect, test } from '@playwright/test';
import { accessible, requestThroughCatalog, shot, signInWithSso } from './helpers';

// The production sign-in: OpenID Connect against a real provider (npm oidc-provider) on loopback.

test('a user signs in through OIDC: the email comes from the verified ID token, lower-cased', async ({ page }) => {
  await signInWithSso(page, 'sso-user');
  await expect(page.getByTestId('signed-in-as')).toHaveText('sso.user@example.com');
  await expect(page.getByRole('link', { name: 'Approvals' })).toHaveCount(0);
  const id = await requestThroughCatalog(page, 'GPT-4o mini');
  await expect(page.getByRole('main').getByText('sso.user@example.com')).toBeVisible();
  expect(id).toMatch(/^[a-z2-7]{12}$/);
});

test('membership of the approver group in the OIDC groups claim opens the queue', async ({ page }) => {
  await signInWithSso(page, 'sso-lead');
  await expect(page.getByTestId('signed-in-as')).toHaveText('lead@example.com');
  await page.getByRole('link', { name: 'Approvals' }).click();
  await expect(page.getByRole('heading', { name: 'Approvals' })).toBeVisible();
  await expect(page.getByTestId('not-an-approver')).toHaveCount(0);
  await accessible(page);
});

test('an identity whose email is not verified is refused, and says so', async ({ page }) => {
  await signInWithSso(page, 'sso-unverified');
  await expect(page).toHaveURL(/\/signin\?error=AccessDenied/);
  await expect(page.getByRole('main').getByRole('alert')).toHaveText('Your identity provider did not confirm an email address for you.');
  await expect(page.getByTestId('signed-in-as')).toHaveCount(0);
  await shot(page, 'signin-refused');
});
