import type { LimitChanges, Review } from './review';

/** "ada@example.com", or "bob@example.com for carol@example.com". */
export const reviewerName = (r: Pick<Review, 'by' | 'for'>): string => (r.for ? `${r.by} for ${r.for}` : r.by);

/** In this order, whatever order the approver gave them in. */
const LIMIT_WORDS: Record<keyof LimitChanges, (v: number | string) => string> = {
  max_budget: (v) => `budget ${v}`,
  duration: (v) => `lasts ${v}`,
  rpm_limit: (v) => `${v} requests a minute`,
  tpm_limit: (v) => `${v} tokens a minute`,
};

/** "budget 5, lasts 7d" */
export function describeChanges(changes: LimitChanges): string {
  return (Object.keys(LIMIT_WORDS) as Array<keyof LimitChanges>)
    .filter((k) => changes[k] !== undefined)
    .map((k) => LIMIT_WORDS[k](changes[k] as number | string))
    .join(', ');
}

/** "Approved by bob@example.com for carol@example.com (platform): fine by me" */
export function describeReview(r: Review): string {
  const verb = r.override ? (r.decision === 'approve' ? 'Approved (administrator override)' : 'Denied (administrator override)') : r.decision === 'approve' ? 'Approved' : 'Denied';
  const changes = r.changes ? ` with changes: ${describeChanges(r.changes)}` : '';
  const where = r.via === 'slack' ? ' in Slack' : '';
  return `${verb} by ${reviewerName(r)} (${r.stage})${where}${changes}${r.reason ? `: ${r.reason}` : ''}`;
}
