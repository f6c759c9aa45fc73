import type { DigestLine } from '../loop/review-digest';
import { html } from './html';
import { type Rendered, link, render } from './templates';

const days = (since: string, now: number): string => {
  const d = Math.floor((now - Date.parse(since)) / 86_400_000);
  return d < 1 ? 'less than a day' : `${d} day${d === 1 ? '' : 's'}`;
};

/** The approvers' daily digest, or the escalation of it: one email listing every request that waits, how long, and until when. */
export function reviewDigestMessage(lines: readonly DigestLine[], o: { escalation: boolean; portalUrl: string; remindAfterHours: number; now?: number }): Rendered {
  const now = o.now ?? Date.now();
  const queue = link(o.portalUrl, 'approvals');
  const n = lines.length;
  const subject = o.escalation ? `Escalation: ${n} key request${n === 1 ? '' : 's'} still wait${n === 1 ? 's' : ''} for review` : `${n} key request${n === 1 ? '' : 's'} wait${n === 1 ? 's' : ''} for your review`;
  const lead = o.escalation ? 'These requests have waited for review longer than they should; their approvers were reminded.' : `These requests have waited for your review for more than ${o.remindAfterHours} hours.`;
  const text = lines.map((l) => `- ${l.requester}: ${l.modelTitle} (request ${l.id}), waiting ${days(l.waitingSince, now)}${l.deadline ? `, denied unless reviewed by ${l.deadline}` : ''}`);
  return render(subject, [lead, '', ...text, '', `Review them: ${queue}`], html`
    <p>${lead}</p>
    <ul>
      ${lines.map((l) => html`<li>${l.requester}: <strong>${l.modelTitle}</strong> (request <code>${l.id}</code>), waiting ${days(l.waitingSince, now)}${l.deadline ? html`, denied unless reviewed by ${l.deadline}` : ''}</li>`)}
    </ul>
    <p><a href="${queue}">Review them</a></p>
  `);
}
