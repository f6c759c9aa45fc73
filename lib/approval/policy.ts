import type { ApproverSpecConfig, PolicyConfig } from '../config/policy-schema';
import type { ApprovalsConfig, ModelConfig } from '../config/schema';
import { normalizeEmail } from '../domain/key-request';
import type { LimitChanges, Review } from '../domain/review';
import { matchesEmail, matchesModel } from './patterns';

/**
 * Approval policies as data (Teleport's review thresholds, Entra PIM's stages): which tier a
 * model is in, who may review each stage, and what the reviews so far add up to. Everything
 * here is a pure function of the policy and the reviews, so the portal, the webhook, Slack and
 * the loop reach the same answer, and a table of cases tests it (tests/unit/policy.test.ts).
 */

export interface Stage {
  name: string;
  approvers: ApproverSpecConfig;
  required: number;
}

export interface Policy {
  name: string;
  stages: Stage[];
  denyWins: boolean;
  justification: { required: boolean; minLength: number };
  /** The most a key of this tier may have as its budget, top-ups included (USD); absent: lib/budget/ceiling.ts decides. */
  maxBudget?: number;
}

/** In a stage's webhooks: any caller of the approval webhook (the default policy's, as before policies). */
export const ANY_WEBHOOK = '*';

/** The name of the policy that the absence of policies means: one approval from an approver. */
export const DEFAULT_POLICY = 'default';

function resolve(name: string, p: PolicyConfig, fallback: ApproverSpecConfig): Policy {
  const stages: Stage[] = p.stages.length
    ? p.stages.map((s) => ({ name: s.name, approvers: s.approvers, required: s.required ?? p.required }))
    : [{ name: 'approvers', approvers: p.approvers ?? fallback, required: p.required }];
  return { name, stages, denyWins: p.denyWins, justification: p.justification, ...(p.maxBudget !== undefined ? { maxBudget: p.maxBudget } : {}) };
}

/** The policy of a model: its own `policy`, else the first `policyFor` glob that matches it, else the default. */
export function policyFor(approvals: ApprovalsConfig, model: Pick<ModelConfig, 'id' | 'policy'> | undefined, modelId: string): Policy {
  // The default: approvals.approvers, and every signed webhook caller, as before there were policies.
  const fallback: ApproverSpecConfig = { emails: approvals.approvers.emails, groups: approvals.approvers.groups, manager: false, webhooks: [ANY_WEBHOOK] };
  const name = model?.policy ?? approvals.policyFor.find((p) => matchesModel(modelId, p.models) !== undefined)?.policy ?? approvals.defaultPolicy;
  const config = name ? approvals.policies[name] : undefined;
  if (name && config) return resolve(name, config, fallback);
  return resolve(DEFAULT_POLICY, { required: 1, stages: [], denyWins: true, justification: { required: false, minLength: 10 } }, fallback);
}

/** Who wants to review: a signed-in person (with the groups of their session), or a webhook caller. */
export type Reviewer = { kind: 'person'; email: string; groups: readonly string[] } | { kind: 'webhook'; client: string };

/** A delegation in force: `delegate` reviews for `approver`, whose groups were recorded when they delegated. */
export interface Delegation {
  approver: string;
  groups: readonly string[];
  delegate: string;
  until: string;
}

/** What the request says of its requester, for "manager" and four-eyes rules. */
export interface ReviewSubject {
  email: string;
  /** The requester's manager, as recorded on the request. */
  manager?: string;
}

function inSpec(spec: ApproverSpecConfig, who: { email: string; groups: readonly string[] }, subject: ReviewSubject): boolean {
  if (matchesEmail(who.email, spec.emails)) return true;
  if (who.groups.some((g) => spec.groups.includes(g))) return true;
  return spec.manager && subject.manager !== undefined && normalizeEmail(subject.manager) === normalizeEmail(who.email);
}

/** The identities a review uses up: the person, and the approver they stood in for. */
const identities = (r: Pick<Review, 'by' | 'for'>): string[] => [r.by, ...(r.for ? [r.for] : [])].map((x) => x.toLowerCase());

export type Eligibility = { ok: true; as?: string } | { ok: false; why: string };

/**
 * Whether `reviewer` may review `stage` of this request now, directly or as a delegate. Nobody
 * reviews their own request, nor stands in for its requester; one person counts once, across
 * stages and whether they acted directly or for someone; a delegation is used as given, never
 * passed on (a delegate's own delegations do not count).
 */
export function canReview(
  stage: Stage,
  reviewer: Reviewer,
  subject: ReviewSubject,
  reviews: readonly Review[],
  delegations: readonly Delegation[] = [],
  now = Date.now(),
  options: { allowSelf?: boolean } = {},
): Eligibility {
  if (reviewer.kind === 'webhook') {
    const named = stage.approvers.webhooks.includes(reviewer.client) || stage.approvers.webhooks.includes(ANY_WEBHOOK);
    return named ? { ok: true } : { ok: false, why: `this stage (${stage.name}) takes no decision from webhook caller ${reviewer.client}` };
  }
  const me = normalizeEmail(reviewer.email);
  if (me === normalizeEmail(subject.email) && !options.allowSelf) return { ok: false, why: 'nobody reviews their own request: another approver must (four eyes)' };
  const used = new Set(reviews.flatMap(identities));
  if (used.has(me)) return { ok: false, why: 'you have already reviewed this request: one person counts once' };
  if (inSpec(stage.approvers, reviewer, subject)) return { ok: true };
  for (const d of delegations) {
    if (normalizeEmail(d.delegate) !== me || Date.parse(d.until) <= now) continue;
    const approver = normalizeEmail(d.approver);
    if (approver === normalizeEmail(subject.email) || used.has(approver)) continue;
    if (inSpec(stage.approvers, { email: approver, groups: d.groups }, subject)) return { ok: true, as: approver };
  }
  const manager = stage.approvers.manager && !subject.manager ? ' (and no manager is on record for this requester)' : '';
  return { ok: false, why: `you are not one of those who approve this stage (${stage.name})${manager}` };
}

export type Standing =
  | { outcome: 'approved'; changes?: LimitChanges; override?: Review }
  | { outcome: 'denied'; by: Review }
  | { outcome: 'waiting'; stage: Stage; stageIndex: number; approvals: number; required: number; nobodyCanApprove?: string };

/** The most restrictive of every approving review's changes: each limit the lowest any approver set. */
export function mergedChanges(reviews: readonly Review[]): LimitChanges | undefined {
  let out: LimitChanges = {};
  for (const r of reviews) if (r.decision === 'approve' && r.changes) out = limitedBy(out, r.changes);
  return Object.keys(out).length ? out : undefined;
}

/**
 * Where a request in review stands: approved (every stage met), denied (a denial wins, or as many
 * denials as a stage needs approvals), or waiting on a stage. An override (kubectl, or the
 * webhook configured so) decides outright, the latest one counting.
 */
export function standing(policy: Policy, reviews: readonly Review[], subject: ReviewSubject): Standing {
  const override = [...reviews].reverse().find((r) => r.override);
  if (override) return override.decision === 'approve' ? { outcome: 'approved', override, ...withChanges(mergedChanges(reviews)) } : { outcome: 'denied', by: override };
  if (policy.denyWins) {
    const deny = reviews.find((r) => r.decision === 'deny');
    if (deny) return { outcome: 'denied', by: deny };
  }
  for (const [stageIndex, stage] of policy.stages.entries()) {
    const of = reviews.filter((r) => r.stage === stage.name);
    const approvals = new Set(of.filter((r) => r.decision === 'approve').map((r) => r.by.toLowerCase())).size;
    const denials = of.filter((r) => r.decision === 'deny');
    if (!policy.denyWins && denials.length >= stage.required) return { outcome: 'denied', by: denials[denials.length - 1] as Review };
    if (approvals >= stage.required) continue;
    const nobody = stage.approvers.manager && !subject.manager && !stage.approvers.emails.length && !stage.approvers.groups.length && !stage.approvers.webhooks.length;
    return { outcome: 'waiting', stage, stageIndex, approvals, required: stage.required, ...(nobody ? { nobodyCanApprove: 'no manager is on record for this requester, and only their manager may approve this stage: an administrator decides with kubectl' } : {}) };
  }
  return { outcome: 'approved', ...withChanges(mergedChanges(reviews)) };
}

const withChanges = (changes: LimitChanges | undefined) => (changes ? { changes } : {});

/** "1 of 2 approvals, waiting for the platform team" */
export function describeStanding(policy: Policy, s: Standing): string {
  if (s.outcome === 'approved') return 'approved';
  if (s.outcome === 'denied') return `denied by ${s.by.by}`;
  const where = policy.stages.length > 1 ? `, stage ${s.stageIndex + 1} of ${policy.stages.length}` : '';
  return `${s.approvals} of ${s.required} approval${s.required === 1 ? '' : 's'}, waiting for ${s.stage.name}${where}${s.nobodyCanApprove ? `: ${s.nobodyCanApprove}` : ''}`;
}

/** "2 approvals (platform)", or "1 from manager, then 1 from platform": what a policy asks. */
export function describePolicy(p: Policy): string {
  const [only] = p.stages;
  if (p.stages.length === 1 && only) return `${only.required} approval${only.required === 1 ? '' : 's'} (${only.name})`;
  return p.stages.map((s) => `${s.required} from ${s.name}`).join(', then ');
}

/**
 * The limits a key is minted with: the model's, each lowered where approvers approved with
 * changes. Never raised, even if the catalog was lowered after the review: the lower one wins.
 */
export function limitedBy<L extends Partial<Record<keyof LimitChanges, number | string>>>(limits: L, changes: LimitChanges | undefined): L {
  if (!changes) return limits;
  const out: Record<string, number | string> = { ...(limits as Record<string, number | string>) };
  for (const [k, v] of Object.entries(changes) as Array<[keyof LimitChanges, number | string]>) {
    const current = out[k];
    if (k === 'duration') {
      if (current === undefined || durationSeconds(v as string) < durationSeconds(current as string)) out[k] = v;
    } else if (current === undefined || (v as number) < (current as number)) out[k] = v;
  }
  return out as L;
}

/** Seconds of a LiteLLM duration ("30d", "12h", "1mo" as 30 days). */
export function durationSeconds(d: string): number {
  const m = /^(\d+)(s|m|h|d|w|mo)$/.exec(d);
  if (!m) return Number.POSITIVE_INFINITY;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, mo: 2_592_000 }[m[2] as 's'];
  return Number(m[1]) * unit;
}
