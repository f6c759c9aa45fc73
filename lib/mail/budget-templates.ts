import type { KeyRequest } from '../domain/key-request';
import type { State } from '../domain/states';
import { describeTopUp, usd } from '../domain/top-up';
import type { KeyUsage } from '../gateway/usage';
import { html } from './html';
import { type Rendered, type TemplateContext, link, render } from './templates';

/** The emails of a top-up's life (lib/domain/top-up.ts): applied, denied, failed, ended, taken back. */
export function topUpMessage(state: State, r: KeyRequest, ctx: TemplateContext): Rendered {
  const keyUrl = link(ctx.portalUrl, `requests/${r.topsUp ?? r.id}`);
  const what = r.topUp ? describeTopUp(r.topUp) : 'a top-up';
  const move = r.budgetMove;
  const reason = r.reason ?? 'No reason was given.';
  const lines: Record<string, { title: string; lead: string; detail?: string }> = {
    issued: {
      title: 'was applied',
      lead: `Your ${what} for ${r.model} was approved and applied.`,
      ...(move ? { detail: `The key's budget went from ${usd(move.from)} to ${usd(move.to)}.${r.topUp?.until ? ` It goes back down by ${usd(r.topUp.amount)} on ${r.topUp.until}.` : ''}` } : {}),
    },
    denied: { title: 'was denied', lead: `Your ${what} for ${r.model} was denied.`, detail: `Reason: ${reason}` },
    failed: { title: 'could not be applied', lead: `Your ${what} for ${r.model} was approved, but could not be applied.`, detail: `Reason: ${reason}` },
    expired: { title: 'has ended', lead: `Your ${what} for ${r.model} has ended.`, detail: reason },
    revoked: {
      title: 'was taken back',
      lead: `Your ${what} for ${r.model} was taken back.`,
      detail: `Reason: ${reason}${move?.back !== undefined ? ` The key's budget is ${usd(move.back)}.` : ''}`,
    },
  };
  const m = lines[state] ?? { title: `is ${state}`, lead: `Your ${what} for ${r.model} is ${state}.` };
  return render(
    `Your ${ctx.modelTitle} top-up ${m.title}`,
    [m.lead, ...(m.detail ? [m.detail] : []), '', `Top-up: ${r.id}`, `The key: ${keyUrl}`],
    html`
      <p>${m.lead}</p>
      ${m.detail ? html`<p>${m.detail}</p>` : ''}
      <p>
        Top-up: <code>${r.id}</code>
        <br>
        <a href="${keyUrl}">See the key and its top-ups</a>
      </p>
    `,
  );
}

/** Told once per budget period: the key's spend reached the alert share of its budget. */
export function spendAlertMessage(r: KeyRequest, usage: KeyUsage, percent: number, ctx: TemplateContext): Rendered {
  const keyUrl = link(ctx.portalUrl, `requests/${r.id}?topup=1`);
  const budget = usage.maxBudget ?? 0;
  const reset = usage.budgetResetAt ? ` The budget resets at ${usage.budgetResetAt}.` : '';
  const lead = `Your ${ctx.modelTitle} key has spent ${usd(usage.spend)} of its ${usd(budget)} budget (${percent}%).${reset}`;
  return render(
    `Your ${ctx.modelTitle} key has used ${percent}% of its budget`,
    [lead, '', `If you need more, ask for a top-up: ${keyUrl}`],
    html`
      <p>${lead}</p>
      <p>
        If you need more, <a href="${keyUrl}">ask for a top-up</a>.
      </p>
    `,
  );
}

/** Once, when a key has not been used for `idleDays`: used again, it stays; else it goes `graceDays` later. */
export function idleWarningMessage(r: KeyRequest, idleDays: number, graceDays: number, ctx: TemplateContext): Rendered {
  const keyUrl = link(ctx.portalUrl, `requests/${r.id}`);
  const lead = `Your ${ctx.modelTitle} key (request ${r.id}) has not been used for ${idleDays} days.`;
  const what = `If you still need it, use it: it stays. Unused for another ${graceDays} days, it will be revoked.`;
  return render(`Your ${ctx.modelTitle} key has not been used for ${idleDays} days`, [lead, what, '', `The key: ${keyUrl}`], html`
    <p>${lead}</p>
    <p>${what}</p>
    <p><a href="${keyUrl}">See the key</a></p>
  `);
}
