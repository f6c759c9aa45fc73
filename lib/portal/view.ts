import type { TraceEntry } from '../domain/trace';
import type { Config } from '../config';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import type { State } from '../domain/states';
import { describeStanding, mergedChanges, policyFor, standing } from '../approval/policy';
import type { LimitChanges, Review } from '../domain/review';
import { reviewDeadline } from '../approval/deadline';

/** A request as the browser and API clients see it: never the key, never internal claims. */
export interface RequestView {
  id: string;
  email: string;
  model: string;
  modelTitle: string;
  state: State;
  createdAt: string;
  decidedAt?: string;
  decidedBy?: string;
  reason?: string;
  trace: TraceEntry[];
  /** Set while the loop waits to retry a step (gateway or SMTP down). */
  waiting?: { step: string; attempt: number; until: string; error: string };
  /** The requester has been emailed about the current state. */
  emailed: boolean;
  delivery: 'email' | 'portal';
  /** Portal delivery: the key can be shown (once) to its requester. */
  revealable: boolean;
  revealedAt?: string;
  expiresAt?: string;
  /** The request this one renews: approvers see a renewal as one. */
  renews?: string;
  /** Why the requester asks, when the model's policy wanted to know. */
  justification?: string;
  /** The model's approval policy and the reviews so far: "1 of 2 approvals, waiting for the platform team". */
  review: {
    policy: string;
    /** While in review: where it stands. */
    progress?: string;
    /** The stage it waits on, while in review. */
    stage?: string;
    /** While in review: since when it waits, and when it is denied unless reviewed (approvals.reviewTimeoutDays). */
    since?: string;
    deadline?: string;
    reviews: Review[];
  };
  /** Approved with changes: the limits the key was minted with instead of the tier's. */
  changes?: LimitChanges;
  /** The budget the requester chose within the tier (a renewal sized from use), minted instead of the model's. */
  budget?: number;
  /** A top-up (lib/domain/top-up.ts): the key it adds to, how much, until when, and the budget around it. */
  topUp?: { of: string; amount: number; until?: string; from?: number; to?: number; back?: number };
}

/** One page of a listing (GET /api/approvals, GET /api/requests), with what the page around it needs. */
export interface ListPage {
  requests: RequestView[];
  /** Present when more rows follow; pass it as `cursor` for the next page. */
  nextCursor?: string;
  /** Rows matching the whole query, over all pages. */
  total: number;
  /** Rows per state matching every filter but the state one: the queue's state tabs. */
  counts: Record<State, number>;
}

/**
 * Who reads the view: approvers get every detail (the gateway's error, the plugin endpoint that
 * failed); a requester gets what they can act on, without the internal host names, addresses and
 * URLs that errors carry (the logs and the approvers keep those).
 */
export type Audience = 'requester' | 'approver';

const RETRY_IN_WORDS: Record<string, string> = {
  mint: 'The key could not be created at the gateway yet; it is tried again automatically.',
  notify: 'The email could not be sent yet; it is tried again automatically.',
  revoke: 'The key could not be deleted at the gateway yet; it is tried again automatically.',
  budget: 'The key\'s budget could not be changed at the gateway yet; it is tried again automatically.',
};

/** Removes URLs, IP addresses, host:port pairs and the host after a resolver error from a message. */
export function withoutAddresses(text: string): string {
  return text
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)"'<>]+/gi, '[address withheld]')
    .replace(/\b(ENOTFOUND|EAI_AGAIN)\s+\S+/g, '$1 [address withheld]')
    .replace(/\[?[0-9a-f:]*:[0-9a-f:]+\]?:\d{1,5}\b/gi, '[address withheld]')
    .replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?\b/g, '[address withheld]')
    .replace(/\b[a-z0-9-]+(\.[a-z0-9-]+)+:\d{1,5}\b/gi, '[address withheld]');
}

function forRequester(t: TraceEntry): TraceEntry {
  if (!t.failed) return t;
  return { ...t, reason: `the ${t.plugin} check could not be made, so it answered "${t.outcome}" as configured` };
}

export function toView(r: KeyRequest, config: Pick<Config, 'models' | 'mail' | 'approvals'>, audience: Audience = 'requester'): RequestView {
  const title = config.models.find((m) => m.id === r.model)?.title ?? r.model;
  const delivery = config.mail.keyDelivery;
  const approver = audience === 'approver';
  const reason = r.reason === undefined ? undefined : approver ? r.reason : withoutAddresses(r.reason);
  const changes = r.reviews ? mergedChanges(r.reviews) : undefined;
  return {
    id: r.id,
    email: r.email,
    model: r.model,
    modelTitle: title,
    state: r.state,
    createdAt: r.createdAt,
    ...(r.decidedAt ? { decidedAt: r.decidedAt } : {}),
    ...(r.decidedBy ? { decidedBy: r.decidedBy } : {}),
    ...(reason ? { reason } : {}),
    trace: approver ? (r.trace ?? []) : (r.trace ?? []).map(forRequester),
    ...(r.retry ? { waiting: { step: r.retry.step, attempt: r.retry.attempt, until: r.retry.at, error: approver ? r.retry.error : (RETRY_IN_WORDS[r.retry.step] ?? 'A step failed; it is tried again automatically.') } } : {}),
    emailed: r.notified === r.state,
    delivery,
    revealable: delivery === 'portal' && r.state === 'issued' && r.hasKey && !r.revealedAt,
    ...(r.revealedAt ? { revealedAt: r.revealedAt } : {}),
    ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
    ...(r.renews ? { renews: r.renews } : {}),
    ...(r.justification ? { justification: r.justification } : {}),
    review: reviewOf(r, config),
    ...(changes ? { changes } : {}),
    ...(r.budget !== undefined ? { budget: r.budget } : {}),
    ...(r.topsUp && r.topUp ? { topUp: { of: r.topsUp, ...r.topUp, ...(r.budgetMove ?? {}) } } : {}),
  };
}

function reviewOf(r: KeyRequest, config: Pick<Config, 'models' | 'approvals'>): RequestView['review'] {
  const policy = policyFor(config.approvals, config.models.find((m) => m.id === r.model), r.model);
  const reviews = r.reviews ?? [];
  if (r.state !== 'in-review') return { policy: policy.name, reviews };
  const s = standing(policy, reviews, { email: r.email, ...(r.manager ? { manager: r.manager } : {}) });
  const deadline = reviewDeadline(r, config.approvals.reviewTimeoutDays);
  const when = { since: r.reviewSince ?? r.createdAt, ...(deadline !== undefined ? { deadline: rfc3339(new Date(deadline)) } : {}) };
  return { policy: policy.name, progress: describeStanding(policy, s), ...(s.outcome === 'waiting' ? { stage: s.stage.name } : {}), reviews, ...when };
}
