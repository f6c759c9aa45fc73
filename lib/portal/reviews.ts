import { type Policy, type Reviewer, type Standing, canReview, describeStanding, durationSeconds, policyFor, standing } from '../approval/policy';
import type { Config } from '../config';
import type { ModelConfig } from '../config/schema';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import { type LimitChanges, MAX_REVIEWS, type Review, reviewerName } from '../domain/review';
import { countDecision } from '../metrics/record';
import type { PeopleStore } from '../people/types';
import { ConflictError } from '../store/errors';
import { retryOnConflict } from '../store/retry-on-conflict';
import type { RequestChange, RequestStore } from '../store/types';
import { PortalError, badInput, beyondPolicy, conflict } from './errors';

/**
 * One review of a request held for review, from any way in (the portal, the signed webhook,
 * Slack): checked against the model's policy (lib/approval/policy.ts), appended to the reviews
 * the request keeps, and, when the policy says the reviews now decide it, the decision written
 * in the same write. Every write carries the version read: of two reviewers at once both are
 * kept (the second re-reads and appends), and exactly one write moves the request on, so exactly
 * one mint follows.
 */

export interface ReviewDeps {
  store: RequestStore;
  config: { readonly models: readonly ModelConfig[]; readonly approvals: Config['approvals'] };
  /** Delegations ("X for Y"); none without. */
  people?: PeopleStore;
}

export interface ReviewInput {
  reviewer: Reviewer;
  decision: 'approve' | 'deny';
  reason?: string;
  /** Approve with changes: a smaller key than the tier's. */
  changes?: LimitChanges;
  /** The webhook configured to decide outright (approvals.webhook: override). */
  override?: boolean;
  /** Given in Slack rather than the portal. */
  via?: 'slack';
  now: () => Date;
}

export interface ReviewOutcome {
  request: KeyRequest;
  /** False: this reviewer's same decision was already on record (a replay), nothing happened twice. */
  changed: boolean;
  /** "1 of 2 approvals, waiting for the platform team", or "approved". */
  progress: string;
}

/** A decision on a request the plugin chain has not looked at yet. */
export class NotInReviewError extends Error {
  override readonly name = 'NotInReviewError';
  constructor(readonly request: KeyRequest) {
    super(`request ${request.id} is still pending: the approval plugins decide first; a person decides only what they hold for review`);
  }
}

/** The request was already decided the other way (or has ended). */
export class DecidedError extends Error {
  override readonly name = 'DecidedError';
  constructor(readonly request: KeyRequest) {
    super(`request ${request.id} is already ${request.state}${request.decidedBy ? ` (by ${request.decidedBy})` : ''}`);
  }
}

export const policyOf = (config: ReviewDeps['config'], r: Pick<KeyRequest, 'model'>): Policy =>
  policyFor(config.approvals, config.models.find((m) => m.id === r.model), r.model);

const nameOf = (reviewer: Reviewer): string => (reviewer.kind === 'webhook' ? `webhook:${reviewer.client}` : reviewer.email);
const deciderOf = (reviewer: Reviewer): string => (reviewer.kind === 'webhook' ? `webhook:${reviewer.client}` : `user:${reviewer.email}`);

/** Approve with changes, never above the tier: each limit at most the model's (400 naming the field). */
export function checkChanges(config: ReviewDeps['config'], model: string, changes: LimitChanges): void {
  const limits = config.models.find((m) => m.id === model)?.limits ?? {};
  for (const key of ['max_budget', 'rpm_limit', 'tpm_limit'] as const) {
    const asked = changes[key];
    const tier = limits[key];
    if (asked !== undefined && tier !== undefined && asked > tier) throw beyondPolicy(`changes.${key}`, `${asked} is above the tier's ${tier}: approve with changes only lowers a limit`);
  }
  if (changes.duration && limits.duration && durationSeconds(changes.duration) > durationSeconds(limits.duration)) {
    throw beyondPolicy('changes.duration', `${changes.duration} is longer than the tier's ${limits.duration}: approve with changes only shortens a key's life`);
  }
}

/** What a review would do now, without doing it: the bulk approval's confirmation. */
export async function previewReview(deps: ReviewDeps, id: string, input: Omit<ReviewInput, 'now'> & { now?: () => Date }): Promise<{ request: KeyRequest; ok: boolean; says: string }> {
  const r = await deps.store.get(id);
  if (r.state !== 'in-review') return { request: r, ok: false, says: `is ${r.state}: nothing to review` };
  try {
    const { after } = await judge(deps, r, { ...input, now: input.now ?? (() => new Date()) });
    return { request: r, ok: true, says: after.outcome === 'approved' ? `approves it: ${r.topsUp ? 'the top-up is applied' : 'the key is minted'}` : after.outcome === 'denied' ? 'denies it' : `records your approval: ${describeStanding(policyOf(deps.config, r), after)}` };
  } catch (err) {
    if (err instanceof PortalError) return { request: r, ok: false, says: err.message };
    throw err;
  }
}

/** Checks a review against the policy; the review and where the request would stand with it. */
async function judge(deps: ReviewDeps, r: KeyRequest, input: ReviewInput): Promise<{ review: Review; reviews: Review[]; after: Standing; policy: Policy }> {
  const policy = policyOf(deps.config, r);
  const reviews = r.reviews ?? [];
  const subject = { email: r.email, ...(r.manager ? { manager: r.manager } : {}) };
  const now = input.now();
  const before = standing(policy, reviews, subject);
  if (before.outcome !== 'waiting') throw conflict(`request ${r.id} is being decided (${before.outcome}); look again in a moment`);
  if (reviews.length >= MAX_REVIEWS) throw conflict(`request ${r.id} has ${MAX_REVIEWS} reviews already; an administrator decides it with kubectl`);
  const delegations = input.reviewer.kind === 'person' && deps.people ? await deps.people.delegationsTo(input.reviewer.email) : [];
  let as: string | undefined;
  if (!input.override) {
    const may = canReview(before.stage, input.reviewer, subject, reviews, delegations, now.getTime(), { allowSelf: deps.config.approvals.allowSelfApproval });
    if (!may.ok) throw new PortalError(403, may.why.startsWith('nobody reviews their own') ? 'own_request' : 'not_your_stage', may.why);
    as = may.as;
  }
  if (input.changes) {
    if (input.decision !== 'approve') throw badInput('changes', 'only an approval comes with changes');
    checkChanges(deps.config, r.model, input.changes);
  }
  const review: Review = {
    by: nameOf(input.reviewer),
    ...(as ? { for: as } : {}),
    decision: input.decision,
    ...(input.reason ? { reason: input.reason } : {}),
    stage: before.stage.name,
    at: rfc3339(now),
    ...(input.changes && Object.keys(input.changes).length ? { changes: input.changes } : {}),
    ...(input.override ? { override: true } : {}),
    ...(input.via ? { via: input.via } : {}),
  };
  const all = [...reviews, review];
  return { review, reviews: all, after: standing(policy, all, subject), policy };
}

/** The write a review makes: the reviews, and the decision when they now decide the request. */
function changeFor(review: Review, reviews: Review[], after: Standing, decidedBy: string, now: Date): RequestChange {
  const change: RequestChange = { reviews };
  if (after.outcome === 'waiting') return change;
  const state = after.outcome === 'approved' ? 'approved' : 'denied';
  const approvers = reviews.filter((x) => x.decision === 'approve').map(reviewerName);
  const reason = review.reason ?? (state === 'approved' ? `Approved by ${approvers.join(', ')}` : 'Denied');
  return { ...change, state, decision: state, decidedBy, decidedAt: rfc3339(now), reason };
}

export async function submitReview(deps: ReviewDeps, id: string, input: ReviewInput): Promise<ReviewOutcome> {
  return retryOnConflict(async () => {
    const r = await deps.store.get(id);
    if (r.state === 'pending') throw new NotInReviewError(r);
    if (r.state !== 'in-review') {
      const same = input.decision === 'approve' ? ['approved', 'issued'].includes(r.state) : r.state === 'denied';
      const mine = (r.reviews ?? []).some((x) => x.by === nameOf(input.reviewer) && x.decision === input.decision);
      // The same decision again (a replay, a retry after a timeout): answered, not repeated.
      if (same && (mine || input.reviewer.kind === 'webhook')) return { request: r, changed: false, progress: r.state };
      throw new DecidedError(r);
    }
    const { review, reviews, after, policy } = await judge(deps, r, input);
    const request = await deps.store.update(r, changeFor(review, reviews, after, deciderOf(input.reviewer), input.now()));
    if (after.outcome !== 'waiting') countDecision(deciderOf(input.reviewer), after.outcome === 'approved' ? 'approve' : 'deny');
    return { request, changed: true, progress: describeStanding(policy, after) };
  }).catch((err: unknown) => {
    if (err instanceof ConflictError) throw conflict(`request ${id} keeps changing; try again`);
    throw err;
  });
}
