import type { KeyRequest } from '../domain/key-request';
import { type SafeHtml, html } from './html';
import { justificationSection, reviewsSection } from './reviews';
import type { SpendFigures } from '../budget/spend-figures';
import { spendSection, topUpLine } from './spend-section';

/**
 * Every message the loop sends, as plain text and HTML. HTML is built with `html`, which escapes
 * whatever a user or admin typed (a reason, a model title); subjects are kept to one line.
 */

export interface TemplateContext {
  portalUrl: string;
  portalTitle: string;
  gatewayUrl: string;
  modelTitle: string;
  /** What the model's approval policy asks ("2 approvals: manager, then platform"), for approvers. */
  policy?: string;
  /** Money, for approvers (lib/budget/spend-figures.ts). */
  spend?: SpendFigures;
}

export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

/** Header injection is impossible through a subject with no CR, LF or other control characters. */
export function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 200);
}

/** An absolute link under the portal's public URL (which may or may not end in `/`). */
export const link = (base: string, p: string) => new URL(p, base.endsWith('/') ? base : `${base}/`).toString();

/** One message in both forms: the subject as a heading, the same text as plain lines. */
export function render(subject: string, text: string[], body: SafeHtml): Rendered {
  const title = oneLine(subject);
  const page = html`<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#0f172a;line-height:1.5"><h1 style="font-size:18px">${title}</h1>${body}</body></html>`;
  return { subject: title, text: `${text.join('\n')}\n`, html: page.value };
}

export function issuedMessage(r: KeyRequest, ctx: TemplateContext, delivery: { key: string } | { revealUrl: string }): Rendered {
  const subject = `Your API key for ${ctx.modelTitle} is ready`;
  const statusUrl = link(ctx.portalUrl, `requests/${r.id}`);
  const expiry = r.expiresAt ? `It expires at ${r.expiresAt}.` : 'It does not expire.';
  const reviews = reviewsSection(r);
  if ('key' in delivery) {
    return render(
      subject,
      [
        `Your request ${r.id} for ${r.model} was approved.`,
        '',
        `API key: ${delivery.key}`,
        `Gateway: ${ctx.gatewayUrl}`,
        expiry,
        ...reviews.text,
        '',
        'Keep the key secret: anyone holding it can spend your budget.',
        `Status: ${statusUrl}`,
      ],
      html`
        <p>
          Your request <code>${r.id}</code> for <strong>${r.model}</strong> was approved.
        </p>
        <p>
          API key: <code>${delivery.key}</code>
          <br>
          Gateway: <a href="${ctx.gatewayUrl}">${ctx.gatewayUrl}</a>
          <br>
          ${expiry}
        </p>
        ${reviews.html}
        <p>Keep the key secret: anyone holding it can spend your budget.</p>
        <p>
          <a href="${statusUrl}">See the request</a>
        </p>
      `,
    );
  }
  return render(
    subject,
    [
      `Your request ${r.id} for ${r.model} was approved.`,
      '',
      `Sign in to reveal your key (it is shown once): ${delivery.revealUrl}`,
      `Gateway: ${ctx.gatewayUrl}`,
      expiry,
      ...reviews.text,
    ],
    html`
      <p>
        Your request <code>${r.id}</code> for <strong>${r.model}</strong> was approved.
      </p>
      <p>
        <a href="${delivery.revealUrl}">Sign in to reveal your key</a> (it is shown once).
        <br>
        Gateway: <a href="${ctx.gatewayUrl}">${ctx.gatewayUrl}</a>
        <br>
        ${expiry}
      </p>
      ${reviews.html}
    `,
  );
}

const ENDINGS = {
  denied: { title: 'was denied', lead: 'Your request was denied.' },
  failed: { title: 'could not be completed', lead: 'Your request was approved, but the gateway refused to create the key.' },
  revoked: { title: 'was revoked', lead: 'Your API key was revoked and no longer works.' },
  expired: { title: 'has expired', lead: 'Your API key has expired and no longer works.' },
} as const;

export function endingMessage(state: keyof typeof ENDINGS, r: KeyRequest, ctx: TemplateContext): Rendered {
  const e = ENDINGS[state];
  const statusUrl = link(ctx.portalUrl, `requests/${r.id}`);
  const reason = r.reason ?? 'No reason was given.';
  const reviews = state === 'denied' ? reviewsSection(r) : reviewsSection({});
  return render(
    `Your ${ctx.modelTitle} key request ${e.title}`,
    [`${e.lead}`, '', `Request: ${r.id} (${r.model})`, `Reason: ${reason}`, ...reviews.text, '', `Status: ${statusUrl}`],
    html`
      <p>${e.lead}</p>
      <p>
        Request: <code>${r.id}</code> (${r.model})
        <br>
        Reason: ${reason}
      </p>
      ${reviews.html}
      <p>
        <a href="${statusUrl}">See the request</a>
      </p>
    `,
  );
}

export function reviewNotice(r: KeyRequest, ctx: TemplateContext): Rendered {
  const queueUrl = link(ctx.portalUrl, 'approvals');
  const reason = r.reason ?? 'A plugin held it for review.';
  const renewal = r.renews ? ` It renews request ${r.renews}, whose key keeps working until it expires.` : '';
  const why = justificationSection(r);
  const policy = ctx.policy ? `It needs ${ctx.policy}.` : undefined;
  const spend = spendSection(ctx.spend, ctx.modelTitle);
  const asked = r.topUp ? topUpLine(r) : `${r.email} asked for a key for ${r.model} (request ${r.id}).${renewal}`;
  return render(
    `${r.topUp ? 'Top-up' : r.renews ? 'Renewal' : 'Key request'} for ${ctx.modelTitle} waits for review`,
    [
      asked,
      `Why it waits: ${reason}`,
      ...why.text,
      ...spend.text,
      ...(policy ? [policy] : []),
      '',
      `Review it: ${queueUrl}`,
      `Or: kubectl label secret keyreq-${r.id} keyportal.dev/state=approved --overwrite`,
    ],
    html`
      <p>${asked}</p>
      <p>Why it waits: ${reason}</p>
      ${why.html}
      ${spend.html}
      ${policy ? html`<p>${policy}</p>` : ''}
      <p>
        <a href="${queueUrl}">Review it in ${ctx.portalTitle}</a>, or with
        <code>kubectl label secret keyreq-${r.id} keyportal.dev/state=approved --overwrite</code>
      </p>
    `,
  );
}
