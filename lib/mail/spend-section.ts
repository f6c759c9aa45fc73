import type { SpendFigures } from '../budget/spend-figures';
import type { KeyRequest } from '../domain/key-request';
import { describeTopUp, usd } from '../domain/top-up';
import { html } from './html';
import type { Section } from './reviews';

const orUnknown = (n: number | null): string => (n === null ? 'unknown' : usd(n));

/** The figures an approver weighs, as lines: what is known, and "unknown" for what the gateway could not say. */
export function spendLines(s: SpendFigures, modelTitle: string): string[] {
  const keys = s.liveKeys.length ? `${s.liveKeys.length} (${s.liveKeys.map((k) => k.model).join(', ')})` : 'none';
  const typical = s.typicalMonthly === null ? 'unknown' : `${usd(s.typicalMonthly)} (median of ${s.typicalOver} current key${s.typicalOver === 1 ? '' : 's'})`;
  return [`Spent by their keys in the last 30 days: ${orUnknown(s.last30Days)}`, `Their live keys: ${keys}`, `A ${modelTitle} key typically costs a month here: ${typical}`];
}

/** The spend figures in the approvers' email. */
export function spendSection(s: SpendFigures | undefined, modelTitle: string): Section {
  if (!s) return { text: [], html: html`` };
  const lines = spendLines(s, modelTitle);
  return {
    text: ['', 'Spend:', ...lines.map((l) => `- ${l}`)],
    html: html`
      <p>Spend:</p>
      <ul>
        ${lines.map((l) => html`<li>${l}</li>`)}
      </ul>
    `,
  };
}

/** "a@b asked for a top-up of $20 on their gpt-4o key (request …, key …)." */
export const topUpLine = (r: KeyRequest): string =>
  `${r.email} asked for ${r.topUp ? describeTopUp(r.topUp) : 'a top-up'} on their ${r.model} key (request ${r.id}, key ${r.topsUp ?? '?'}).`;
