import { mergedChanges } from '../approval/policy';
import type { KeyRequest } from '../domain/key-request';
import { describeChanges, describeReview } from '../domain/review';
import { type SafeHtml, html } from './html';

/**
 * The part of a message that says who reviewed a request and what they changed, and why the
 * requester asked: the same lines as text and as HTML (escaped, like everything a person typed).
 */
export interface Section {
  text: string[];
  html: SafeHtml;
}

const empty: Section = { text: [], html: html`` };

/** Who reviewed, and the smaller key approvers chose, for the requester's "ready" or "denied" email. */
export function reviewsSection(r: Pick<KeyRequest, 'reviews'>): Section {
  const reviews = r.reviews ?? [];
  if (!reviews.length) return empty;
  const changes = mergedChanges(reviews);
  const lines = reviews.map(describeReview);
  const changed = changes ? `Your key was approved with changes: ${describeChanges(changes)}.` : undefined;
  return {
    text: ['', 'Reviews:', ...lines.map((l) => `- ${l}`), ...(changed ? ['', changed] : [])],
    html: html`
      <p>Reviews:</p>
      <ul>
        ${lines.map((l) => html`<li>${l}</li>`)}
      </ul>
      ${changed ? html`<p><strong>${changed}</strong></p>` : ''}
    `,
  };
}

/** The requester's justification, for approvers. */
export function justificationSection(r: Pick<KeyRequest, 'justification'>): Section {
  if (!r.justification) return empty;
  return { text: [`Justification: ${r.justification}`], html: html`<p style="white-space:pre-line">Justification: ${r.justification}</p>` };
}
