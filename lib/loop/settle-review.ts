import { describePolicy, type Policy } from '../approval/policy';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import { reviewerName } from '../domain/review';
import { countDecision } from '../metrics/record';
import type { LabelEditDeps } from './label-edits';

/**
 * A request in review whose reviews already decide it: the policy changed after they were given
 * (fewer approvals required, a stage dropped), or a replica with the older policy wrote the last
 * one. The loop records what the reviews add up to now, so nothing waits on a review nobody owes.
 */
export async function settleReview(d: LabelEditDeps, r: KeyRequest, outcome: 'approved' | 'denied', policy: Policy): Promise<void> {
  const reviews = r.reviews ?? [];
  const by = outcome === 'approved' ? reviews.filter((x) => x.decision === 'approve') : reviews.filter((x) => x.decision === 'deny').slice(-1);
  const reason = `${outcome === 'approved' ? 'Approved' : 'Denied'} by ${by.map(reviewerName).join(', ') || 'the reviews on record'} under the ${policy.name} policy (${describePolicy(policy)})`;
  await d.write(r, { state: outcome, decision: outcome, decidedBy: 'policy', decidedAt: rfc3339(d.clock()), reason }, { type: 'Normal', reason: outcome === 'approved' ? 'Approved' : 'Denied', message: reason.slice(0, 500) });
  countDecision('policy', outcome === 'approved' ? 'approve' : 'deny');
}
