import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { newRequestId, rfc3339 } from '@/lib/domain/key-request';
import { encodeNewRequest } from '@/lib/store/secret-codec';
import { nextAnswer } from '@/tests/helpers/raw-http';
import { accessible, env, requestThroughCatalog, shot, signIn, unique } from './helpers';

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

test('an approver moves to the next page of a long queue and back, with the keyboard', async ({ page }) => {
  // Sixty requests from one team, put in the store's folder the way an admin's hand edit would be
  // (each file whole, by rename); the loop holds them for review (no plugin decides Mistral).
  const team = `pager${Date.now().toString(36)}`;
  const dir = env().embeddedRequestsDir;
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 60; i++) {
    const secret = encodeNewRequest({ id: newRequestId(), email: `p${i}@${team}.example.com`, model: 'mistral/mistral-large', createdAt: rfc3339(new Date(Date.now() - i * 1000)) });
    secret.metadata.resourceVersion = '1';
    const tmp = path.join(dir, `.seed-${secret.metadata.name}`);
    writeFileSync(tmp, JSON.stringify(secret));
    renameSync(tmp, path.join(dir, `${secret.metadata.name}.json`));
  }

  await signIn(page, 'admin@example.com', '/approvals');
  await page.goto('/approvals');
  await page.getByLabel('Requester').fill(team);
  // The state filter counts what each state holds under the other filters.
  const option = (text: string) => page.getByLabel('State').locator('option', { hasText: text });
  await expect(option('in-review (60)')).toHaveCount(1, { timeout: 20_000 });
  await expect(option('All states (60)')).toHaveCount(1);
  const rows = page.locator('tr[data-request]');
  const position = page.getByTestId('page-position');
  await expect(position).toContainText('Showing 1–50 of 60');
  await expect(rows).toHaveCount(50);
  const onFirst = await rows.first().getAttribute('data-request');

  const next = page.getByRole('button', { name: 'Next page' });
  const previous = page.getByRole('button', { name: 'Previous page' });
  await expect(previous).toHaveAttribute('aria-disabled', 'true');
  await next.focus();
  await page.keyboard.press('Enter');
  await expect(position).toContainText('Showing 51–60 of 60');
  await expect(rows).toHaveCount(10);
  await expect(page.locator(`tr[data-request="${onFirst}"]`)).toHaveCount(0);
  // The last page: "Next page" cannot be used, but keeps the focus.
  await expect(next).toHaveAttribute('aria-disabled', 'true');
  await expect(next).toBeFocused();
  await accessible(page);
  await shot(page, 'approvals-second-page');

  await page.keyboard.press('Shift+Tab');
  await expect(previous).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(position).toContainText('Showing 1–50 of 60');
  await expect(rows).toHaveCount(50);
  await expect(rows.first()).toHaveAttribute('data-request', onFirst ?? '');

  // Another filter starts again from the first page.
  await next.click();
  await expect(position).toContainText('Showing 51–60 of 60');
  await page.getByLabel('State').selectOption('in-review');
  await expect(position).toContainText('Showing 1–50 of 60');
});

test("a proxy's pooled connection, idle longer than Node's 5 s, is still served", async () => {
  // ingress-nginx and AWS ALBs keep a connection to the portal 60 s and send on it without
  // asking; the portal must not be the side that closes it first (portal.keepAliveSeconds, 65).
  const { hostname, port } = new URL(env().embeddedUrl);
  const socket = net.connect(Number(port), hostname);
  try {
    socket.write(`GET /api/healthz HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
    const first = await nextAnswer(socket, 10_000);
    expect(first?.head).toMatch(/^HTTP\/1\.1 200 /);
    await new Promise((ok) => setTimeout(ok, 6_500));
    expect(socket.readyState, 'the portal closed an idle connection a proxy still holds').toBe('open');
    socket.write(`GET /api/healthz HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
    const second = await nextAnswer(socket, 10_000);
    expect(second?.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(second?.head).toMatch(/^keep-alive: timeout=65$/im);
  } finally {
    socket.destroy();
  }
});
