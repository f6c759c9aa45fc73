import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import AxeBuilder from '@axe-core/playwright';
import { type APIRequestContext, type Browser, type Page, expect, test } from '@playwright/test';
import { type SignedEndpoint, signatureHeader } from '@/lib/crypto/signature';
import { E2E_ENV_FILE, type E2eEnv, WEBHOOK_SECRET } from './env';

export const env = (): E2eEnv => JSON.parse(readFileSync(E2E_ENV_FILE, 'utf8')) as E2eEnv;

/** A fresh address per test run, so reruns against a kept cluster never see old requests. */
export const unique = (name: string): string => `${name}.${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}@example.com`;

export async function signIn(page: Page, email: string, then = '/'): Promise<void> {
  await page.goto(`/signin?callbackUrl=${encodeURIComponent(then)}`);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByTestId('signed-in-as')).toHaveText(email);
}

/** A full-page screenshot kept under test-results/screenshots and attached to the report. */
export async function shot(page: Page, name: string): Promise<void> {
  const file = path.resolve(import.meta.dirname, `../../test-results/screenshots/${test.info().project.name}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await test.info().attach(name, { path: file, contentType: 'image/png' });
}

/** axe-core on the page as it stands: no serious or critical violation. */
export async function accessible(page: Page): Promise<void> {
  // After a client-side navigation Next sets the new <title> a moment later; axe takes one
  // snapshot. A page that never gets a title still fails here, after the wait.
  await expect(page).toHaveTitle(/\S/);
  const { violations } = await new AxeBuilder({ page }).analyze();
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);
}

export interface Mail {
  to: string[];
  subject: string;
  text: string;
  html: string;
}

/** Messages the real SMTP server received for `to`. */
export function mailTo(to: string): Mail[] {
  const dir = env().mailDir;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Mail)
    .filter((m) => m.to.includes(to));
}

export async function waitForMail(to: string, subject: RegExp, count = 1): Promise<Mail[]> {
  await expect.poll(() => mailTo(to).filter((m) => subject.test(m.subject)).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(count);
  return mailTo(to).filter((m) => subject.test(m.subject));
}

const run = promisify(execFile);

export async function kubectl(...args: string[]): Promise<string> {
  const e = env();
  const { stdout } = await run(e.kubectl, ['--kubeconfig', e.kubeconfig, '-n', e.namespace, ...args], { timeout: 30_000 });
  return stdout;
}

/** The Secret's resourceVersion, to prove a refused call changed nothing. */
export const version = (id: string): Promise<string> => kubectl('get', 'secret', `keyreq-${id}`, '-o', 'jsonpath={.metadata.resourceVersion}');
/**
 * The audit shipper is done with the request: the audit cursor (lib/audit/cursor.ts) covers the
 * Secret's version, so every record it holds reached the sink and nothing of the audit writes it.
 */
export async function auditShipped(id: string): Promise<boolean> {
  const through = await kubectl('get', 'configmap', 'keyportal-audit-cursor', '-o', 'jsonpath={.data.shippedThrough}').catch(() => '');
  return /^[0-9]+$/.test(through) && BigInt(await version(id)) <= BigInt(through);
}

/** A webhook call signed as an HR system signs it, for `endpoint` (signatures name theirs). */
export function signedWebhook(endpoint: SignedEndpoint, body: unknown, secret = WEBHOOK_SECRET, at = new Date()): { data: string; headers: Record<string, string> } {
  const data = JSON.stringify(body);
  return { data, headers: { 'content-type': 'application/json', 'x-keyportal-signature': signatureHeader(secret, endpoint, data, at) } };
}

/** Requests a model through the catalog: two clicks, then the status page. Returns the request id. */
export async function requestThroughCatalog(page: Page, modelTitle: string): Promise<string> {
  await page.goto('/');
  const card = page.locator('li', { has: page.getByRole('heading', { name: modelTitle, exact: true }) });
  await card.getByRole('button', { name: /^Request key/ }).click();
  await card.getByRole('button', { name: 'Submit request' }).click();
  await page.waitForURL(/\/requests\/[a-z2-7]{12}$/);
  return page.url().split('/').pop() as string;
}

/** A second signed-in person in the same test: a context of their own, so cookies never mix. */
export async function personPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  return context.newPage();
}

/** The production sign-in: through the test OpenID Connect provider's own login and consent pages. */
export async function signInWithSso(page: Page, login: string): Promise<void> {
  await page.goto('/signin');
  await page.getByRole('button', { name: 'Sign in with Test SSO' }).click();
  // The identity provider's own login and consent pages.
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

/**
 * In review, and the loop has finished with it (approvers emailed, its audit records shipped and
 * under the audit cursor): nothing else will write it.
 */
export async function settledInReview(api: APIRequestContext, id: string): Promise<void> {
  await expect
    .poll(async () => {
      const { request } = (await (await api.get(`/api/requests/${id}`)).json()) as { request: { state: string; emailed: boolean } };
      return `${request.state} ${request.emailed} ${(await auditShipped(id)) ? 'shipped' : 'waiting'}`;
    })
    .toBe('in-review true shipped');
}
