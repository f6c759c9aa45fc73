import { expect, test } from '@playwright/test';
import { env, requestThroughCatalog, shot, signIn } from './helpers';

// Slack through the portal's real route: the running server posts the review message to the
// Slack double, the double signs the approver's click as Slack does and POSTs it to
// /api/slack/interactions (Next's route, its after()), and the decision reaches the browser.

interface Posted {
  ts: string;
  text: string;
  blocks: unknown[];
  metadata: { event_payload?: { request_id?: string } } | null;
}

async function slack<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`${env().slackUrl}${path}`, init);
  expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
  return (await res.json()) as T;
}

test('an approver approves from Slack: the message loses its buttons, the requester sees the key issued and gets a direct message without it', async ({ page }) => {
  await signIn(page, 'slack-requester@example.com');
  const id = await requestThroughCatalog(page, 'Experimental');
  await expect(page.locator('[data-state]').first()).toHaveAttribute('data-state', 'in-review');

  let message: Posted | undefined;
  await expect
    .poll(async () => {
      message = (await slack<Posted[]>('/_test/messages?channel=CREVIEW')).find((m) => m.metadata?.event_payload?.request_id === id);
      return message !== undefined;
    }, { timeout: 20_000, message: 'the review message in #key-reviews' })
    .toBe(true);
  expect(JSON.stringify(message?.blocks)).toContain('keyportal_approve');
  expect(JSON.stringify(message?.blocks)).toContain('slack-requester@example.com');

  const click = await slack<{ status: number }>('/_test/click', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'UAPPROVER', channel: 'CREVIEW', messageTs: message?.ts, actionId: 'keyportal_approve', value: id }),
  });
  expect(click.status).toBe(200);

  await page.reload();
  await expect(page.locator('[data-state]').first()).toHaveAttribute('data-state', 'issued', { timeout: 20_000 });
  await expect(page.getByText('Approved by approver@example.com (approvers) in Slack')).toBeVisible();
  await shot(page, 'slack-approved-issued');

  await expect
    .poll(async () => {
      const now = (await slack<Posted[]>('/_test/messages?channel=CREVIEW')).find((m) => m.ts === message?.ts);
      return JSON.stringify(now?.blocks ?? []);
    }, { timeout: 20_000, message: 'the message updated, buttons gone' })
    .not.toContain('keyportal_approve');
  // One direct message: issued, with the status page's link.
  await expect.poll(async () => (await slack<Posted[]>('/_test/dms?user=USLACKREQ')).length, { timeout: 20_000 }).toBe(1);
  const dm = JSON.stringify((await slack<Posted[]>('/_test/dms?user=USLACKREQ'))[0]);
  expect(dm).toContain(`/requests/${id}`);
  expect(dm).not.toMatch(/sk-[A-Za-z0-9_-]{8,}/);
});
