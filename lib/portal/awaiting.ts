import { canReview, standing } from '../approval/policy';
import type { User } from '../auth/roles';
import type { KeyRequest } from '../domain/key-request';
import type { SpendFigureService, SpendFigures } from '../budget/spend-figures';
import { RequestNotFoundError } from '../store/errors';
import { PortalError, requestNotFound } from './errors';
import { type PortalDeps, reviewDeps } from './requests';
import { DecidedError, NotInReviewError, policyOf, previewReview, submitReview } from './reviews';
import { type RequestView, toView } from './view';

/**
 * What waits for this person: requests in review whose current stage they may approve now, as an
 * approver, as the requester's manager, or as someone's delegate. Managers and delegates need not
 * be approvers to see these (and only these).
 */

/** In-review requests looked at per call: a queue longer than this is a backlog to fix, not a page to render. */
const SCAN_LIMIT = 2000;
/** Shown at most (the rest: after these are done). */
export const AWAITING_SHOWN = 100;

export interface Awaiting {
  requests: RequestView[];
  /** How many wait for this person, over all (up to what was scanned). */
  total: number;
  /** Money beside each request shown, by id (lib/budget/spend-figures.ts), when the portal has figures. */
  spend?: Record<string, SpendFigures>;
}

async function inReview(deps: PortalDeps): Promise<KeyRequest[]> {
  const out: KeyRequest[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.query({ state: 'in-review', order: 'queue', limit: 500, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && out.length < SCAN_LIMIT);
  return out;
}

/** Whether this person may review the request's current stage now. */
function awaits(deps: PortalDeps, user: User, r: KeyRequest, delegations: Parameters<typeof canReview>[4]): boolean {
  const policy = policyOf(deps.config, r);
  const subject = { email: r.email, ...(r.manager ? { manager: r.manager } : {}) };
  const now = standing(policy, r.reviews ?? [], subject);
  if (now.outcome !== 'waiting') return false;
  const reviewer = { kind: 'person' as const, email: user.email, groups: user.groups };
  return canReview(now.stage, reviewer, subject, r.reviews ?? [], delegations, Date.now(), { allowSelf: deps.config.approvals.allowSelfApproval }).ok;
}

export async function listAwaiting(deps: PortalDeps, user: User, spend?: SpendFigureService): Promise<Awaiting> {
  const delegations = deps.people ? await deps.people.delegationsTo(user.email) : [];
  const mine = (await inReview(deps)).filter((r) => awaits(deps, user, r, delegations));
  const shown = mine.slice(0, AWAITING_SHOWN);
  // The service reuses each requester's and model's figures: a full page costs a few gateway calls.
  const figures = spend ? Object.fromEntries(await Promise.all(shown.map(async (r) => [r.id, await spend.figures(r)] as const))) : undefined;
  return { requests: shown.map((r) => toView(r, deps.config, 'approver')), total: mine.length, ...(figures ? { spend: figures } : {}) };
}

export interface BulkItem {
  id: string;
  ok: boolean;
  /** What it does (preview) or did: "approves it: the key is minted", "records your approval: 1 of 2 …", or why not. */
  says: string;
  state?: string;
}

/**
 * One approval for several requests. `preview` says what each would do and changes nothing; the
 * confirmation then applies each on its own (one refused does not stop the others), and says
 * what each did. Only what this person may review is touched: anything else answers why not.
 */
export async function bulkApprove(deps: PortalDeps, user: User, input: { ids: string[]; reason?: string; preview: boolean }): Promise<BulkItem[]> {
  deps.limits?.check('decide', user.email);
  const reviewer = { kind: 'person' as const, email: user.email, groups: user.groups };
  const rd = reviewDeps(deps);
  const out: BulkItem[] = [];
  for (const id of [...new Set(input.ids)]) {
    const review = { reviewer, decision: 'approve' as const, ...(input.reason ? { reason: input.reason } : {}) };
    try {
      if (input.preview) {
        const p = await previewReview(rd, id, review);
        const visible = p.ok || user.approver;
        out.push({ id, ok: p.ok, says: visible ? p.says : requestNotFound(id).message, ...(visible ? { state: p.request.state } : {}) });
        continue;
      }
      const { request, progress } = await submitReview(rd, id, { ...review, now: deps.clock ?? (() => new Date()) });
      out.push({ id, ok: true, says: progress === 'approved' ? `approved: ${request.topsUp ? 'the top-up is applied' : 'the key is minted'}` : `your approval is recorded: ${progress}`, state: request.state });
    } catch (err) {
      out.push({ id, ok: false, says: whyNot(err, id, user) });
    }
  }
  return out;
}

function whyNot(err: unknown, id: string, user: User): string {
  if (err instanceof RequestNotFoundError) return requestNotFound(id).message;
  // Someone who is no approver learns nothing of a request they may not review.
  if (!user.approver && (err instanceof DecidedError || (err instanceof PortalError && err.code === 'not_your_stage'))) return requestNotFound(id).message;
  if (err instanceof NotInReviewError || err instanceof DecidedError || err instanceof PortalError) return err.message;
  throw err;
}
