import type { KeyRequest } from '../domain/key-request';
import { html } from './html';
import { type Rendered, type TemplateContext, link, render } from './templates';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/**
 * The expiry as a person reads it. We do not know the requester's time zone, so the date is
 * spelled out in UTC and says so ("Tuesday 10 March 2026, 14:00 UTC"), with the RFC 3339 form
 * beside it for anyone who wants to convert it exactly.
 */
export function expiryInWords(iso: string): string {
  const at = new Date(iso);
  const date = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).format(at);
  const time = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hour: '2-digit', minute: '2-digit', hour12: false }).format(at);
  return `${date.replace(',', '')}, ${time} UTC`;
}

/**
 * "in 3 days" from the moment the email is written. The loop wakes a moment after a reminder
 * falls due (2.99 days left): whole days are rounded, and under a day it counts hours.
 */
export function timeLeftInWords(expiresAt: string, now: Date): string {
  const ms = Date.parse(expiresAt) - now.getTime();
  if (ms >= 0.95 * DAY_MS) {
    const days = Math.max(1, Math.round(ms / DAY_MS));
    return `in ${days} day${days === 1 ? '' : 's'}`;
  }
  const hours = Math.max(1, Math.round(ms / HOUR_MS));
  return `in about ${hours} hour${hours === 1 ? '' : 's'}`;
}

/** The link a reminder carries: the status page, with the renew button brought forward. */
export const renewUrl = (portalUrl: string, id: string): string => `${link(portalUrl, `requests/${id}`)}?renew=1`;

/**
 * "Your key expires in 3 days": the date in UTC, the time left, and a link to renew. The link
 * opens the status page, where one click renews: a link in an email must not act by itself,
 * since mail scanners open every link they see.
 */
export function reminderMessage(r: KeyRequest & { expiresAt: string }, ctx: TemplateContext, now: Date): Rendered {
  const when = expiryInWords(r.expiresAt);
  const left = timeLeftInWords(r.expiresAt, now);
  const renew = renewUrl(ctx.portalUrl, r.id);
  return render(
    `Your ${ctx.modelTitle} key expires ${left}`,
    [
      `Your API key for ${r.model} (request ${r.id}) expires on ${when} (${r.expiresAt}), ${left}.`,
      '',
      `Renew it with one click: ${renew}`,
      'The renewal goes through approval like any request. Your current key keeps working until it expires, so you can switch over at your own pace.',
    ],
    html`
      <p>
        Your API key for <strong>${r.model}</strong> (request <code>${r.id}</code>) expires on
        <strong>${when}</strong> (<code>${r.expiresAt}</code>), ${left}.
      </p>
      <p>
        <a href="${renew}">Renew it with one click</a>
      </p>
      <p>The renewal goes through approval like any request. Your current key keeps working until it expires, so you can switch over at your own pace.</p>
    `,
  );
}
