import { type Policy, standing } from '../approval/policy';
import { type KeyRequest, holdsGatewayFinalizer, holdsTopUpFinalizer } from '../domain/key-request';
import { type ChatPlanSettings, chatStep } from './chat-plan';
import { topUpStep } from './top-up-plan';
import { reviewDeadline } from '../approval/deadline';
import type { RetryInfo } from '../domain/retry';
import { type State, canEditLabel } from '../domain/states';

/** What the planner needs to know beyond the request itself. */
export interface PlanSettings {
  /** Model ids in the catalog. */
  catalog: ReadonlySet<string>;
  /** Approvers emailed when a request waits for review. */
  reviewNotify: readonly string[];
  /** A mint retried this long since its first failure ends failed. */
  giveUpAfterSeconds: number;
  keyDelivery: 'email' | 'portal';
  /** Portal delivery: a key not revealed this long after it was issued is taken back. */
  revealWindowSeconds: number;
  /** How long a replica's claim on sending an email stands before another may send it. */
  notifyClaimSeconds: number;
  /** A kubectl denial waits this long for a following `kubectl annotate … reason=`. */
  kubectlGraceSeconds: number;
  /** Days before expiry on which the requester is reminded, most first ([7, 3, 1]); [] for none. */
  reminderDays: readonly number[];
  /** The approval policy of a model (lib/approval/policy.ts); without it, reviews are the portal's business alone. */
  policyOf?: (model: string) => Policy;
  /** Chat (Slack) is configured: the messages a request is owed follow its own step (lib/loop/chat-plan.ts). */
  chat?: ChatPlanSettings;
  /** approvals.reviewTimeoutDays: a request in review this long is denied; 0 or absent, never. */
  reviewTimeoutDays?: number;
}

/** Emails go out once per state; these are the states that send one, and to whom. */
export type Notice = { state: 'in-review'; to: 'approvers' } | { state: 'issued' | 'denied' | 'failed' | 'expired' | 'revoked'; to: 'requester' };

/**
 * The one next step a request needs, read from the request alone. The reconciler executes it;
 * every step is safe to repeat after a crash at any point, because its effects are recorded on
 * the request (or found at the gateway) before the step is considered done.
 */
export type Step =
  /** Nothing to do until the request changes. */
  | { kind: 'done' }
  /** Nothing to do for `ms` (a retry is due, another replica holds a claim, a grace period, an expiry). */
  | { kind: 'wait'; ms: number; why: 'retry' | 'claim' | 'kubectl-grace' | 'expiry' | 'reveal-window' | 'reminder' | 'chat' | 'review-deadline' }
  /** pending: close a duplicate, check the catalog, run the plugin chain, record the decision. */
  | { kind: 'decide' }
  /** in-review, and the reviews on record already decide it under the policy (it changed since they were given): record the decision. */
  | { kind: 'settle-review'; outcome: 'approved' | 'denied' }
  /** in-review past approvals.reviewTimeoutDays: denied by keyportal, and the requester told. */
  | { kind: 'review-timeout'; days: number }
  /** A request stored before `keyportal.dev/observed` existed: record its state as accepted (and guard a key it may hold). */
  | { kind: 'adopt' }
  /** An administrator's label edit along the label-edit table: record it as their decision, then act on it. */
  | { kind: 'accept-label-edit'; from: State; to: State }
  /** A label edit the table refuses: put the accepted state back, with a Warning Event; nothing else happens. */
  | { kind: 'revert-label-edit'; from: State; to: State }
  /** A key may exist at the gateway but the finalizer that guards it is missing (older request, removed by hand): add it. */
  | { kind: 'guard-key' }
  /** The Secret was deleted while it guarded a key: delete the key at the gateway, tell the requester, then let the Secret go. */
  | { kind: 'finalize'; notice?: Notice }
  /** approved, and the gateway has failed for longer than the retry budget: end failed. */
  | { kind: 'give-up-mint'; since: string; error: string }
  /** approved, but the model left the catalog: end failed. */
  | { kind: 'fail-not-in-catalog' }
  /** approved without a key: generate one and store it with the email's claim (before the gateway hears of it), then mint. */
  | { kind: 'store-key' }
  /** approved with a stored key and no live claim: claim, register it at the gateway unless it exists, email, then issued + notified in one write. */
  | { kind: 'mint' }
  /** issued past its expiry. */
  | { kind: 'expire' }
  /** issued by portal delivery and never revealed within the window: take it back. */
  | { kind: 'reveal-window-passed' }
  /** The key was delivered (or the request ended): remove it from the Secret, keep its hash. */
  | { kind: 'erase-key' }
  /**
   * Delete the key at the gateway (by alias; repeatable). Revoked or expired: then email (the
   * requester hears once the key is really gone). Denied or failed, already told: then erase it.
   */
  | { kind: 'delete-at-gateway'; notice?: Notice }
  /** An email is owed for the current state. */
  | { kind: 'notify'; notice: Notice }
  /** issued: the expiry reminder `days` before expiry is due (the latest due one, if several are). */
  | { kind: 'remind'; days: number }
  /** A top-up, approved: record the key's budget before and after, set it at the gateway, then issued (applied). */
  | { kind: 'apply-top-up' }
  /** A top-up that ended (a temporary one's end, or revoked): record where the budget goes back to, set it, then expired or the email. */
  | { kind: 'put-back-top-up'; notice?: Notice; deleting?: true }
  /** A chat message owed (post or update the review message, a direct message): lib/loop/chat-plan.ts. */
  | { kind: 'chat'; what: string };

const DAY_MS = 86_400_000;

/**
 * Where an issued request stands with its expiry reminders: the one due now (`due`, in days
 * before expiry) and when the next one falls due. A reminder is owed once its moment has come,
 * it is later than the last one sent (`reminded`), and its moment came after the key was issued
 * (the "is ready" email already told the expiry). Of several due at once (the loop was down),
 * only the latest is sent: one email saying "in 1 day", not three.
 */
export function reminderSchedule(r: Pick<KeyRequest, 'expiresAt' | 'issuedAt' | 'reminded'>, now: number, days: readonly number[]): { due?: number; nextAt?: number } {
  if (!r.expiresAt) return {};
  const expires = Date.parse(r.expiresAt);
  const issued = r.issuedAt ? Date.parse(r.issuedAt) : Number.NEGATIVE_INFINITY;
  const open = days.filter((d) => d < (r.reminded ?? Number.POSITIVE_INFINITY) && expires - d * DAY_MS > issued);
  const due = open.filter((d) => expires - d * DAY_MS <= now);
  const later = open.filter((d) => expires - d * DAY_MS > now).map((d) => expires - d * DAY_MS);
  return {
    ...(due.length ? { due: Math.min(...due) } : {}),
    ...(later.length ? { nextAt: Math.min(...later) } : {}),
  };
}

/** The reminder due now, unless a replica holds a live claim on one or a failed send waits for its retry. */
function remindStep(r: KeyRequest, days: number, now: number, s: PlanSettings): Step {
  const retry = retryWait(r, 'notify', now);
  if (retry > 0) return { kind: 'wait', ms: retry, why: 'retry' };
  const claim = r.notifying?.reminder !== undefined ? claimWait(r, 'issued', now, s.notifyClaimSeconds * 1000) : 0;
  if (claim > 0) return { kind: 'wait', ms: claim, why: 'claim' };
  return { kind: 'remind', days };
}

/** Milliseconds until a stored retry of `step` is due; 0 when none waits. */
function retryWait(r: KeyRequest, step: RetryInfo['step'], now: number): number {
  if (r.retry?.step !== step) return 0;
  return Math.max(0, Date.parse(r.retry.at) - now);
}

/** Milliseconds another replica's claim on this state's email still stands; 0 if none. */
function claimWait(r: KeyRequest, state: State, now: number, ttlMs: number): number {
  const claim = r.notifying;
  if (!claim || claim.state !== state) return 0;
  const at = Date.parse(claim.at);
  if (Number.isNaN(at)) return 0;
  return Math.max(0, at + ttlMs - now);
}

function notifyStep(r: KeyRequest, notice: Notice, now: number, s: PlanSettings): Step {
  if (r.notified === notice.state) return { kind: 'done' };
  const retry = retryWait(r, 'notify', now);
  if (retry > 0) return { kind: 'wait', ms: retry, why: 'retry' };
  const claim = claimWait(r, notice.state, now, s.notifyClaimSeconds * 1000);
  if (claim > 0) return { kind: 'wait', ms: claim, why: 'claim' };
  return { kind: 'notify', notice };
}

/**
 * Whether a key of this request may exist at the gateway: stored on the Secret (about to be
 * minted, or not yet delivered), issued, or ended but not yet deleted there. Such a request
 * carries the gateway-key finalizer.
 */
export function mayHoldGatewayKey(r: Pick<KeyRequest, 'state' | 'hasKey' | 'notified' | 'topsUp'>): boolean {
  if (r.hasKey) return true;
  // A top-up never has a key of its own: "issued" means its budget was applied to its key's.
  if (r.topsUp) return false;
  if (r.state === 'issued') return true;
  return (r.state === 'revoked' || r.state === 'expired') && r.notified !== r.state;
}

/**
 * An ended request that still has a key stored or still carries the finalizer: once its email
 * is out, the gateway is cleaned up (a crash may have registered the key before the request was
 * turned down), then the key and the finalizer go.
 */
function gatewayCleanup(r: KeyRequest, now: number): Step {
  if (!r.hasKey && !holdsGatewayFinalizer(r)) return { kind: 'done' };
  const retry = retryWait(r, 'revoke', now);
  return retry > 0 ? { kind: 'wait', ms: retry, why: 'retry' } : { kind: 'delete-at-gateway' };
}

/**
 * A deleted Secret that guards a key: the requester of an issued key (or of a revocation not yet
 * told) hears once that it is gone, after the gateway deleted it.
 */
function deletionStep(r: KeyRequest, now: number, s: PlanSettings): Step {
  if (!holdsGatewayFinalizer(r)) return { kind: 'done' };
  const retry = retryWait(r, 'revoke', now);
  if (retry > 0) return { kind: 'wait', ms: retry, why: 'retry' };
  const owed: Notice | undefined =
    r.state === 'issued' ? { state: 'revoked', to: 'requester' } : (r.state === 'revoked' || r.state === 'expired') && r.notified !== r.state ? { state: r.state, to: 'requester' } : undefined;
  if (!owed) return { kind: 'finalize' };
  const claim = claimWait(r, owed.state, now, s.notifyClaimSeconds * 1000);
  return claim > 0 ? { kind: 'wait', ms: claim, why: 'claim' } : { kind: 'finalize', notice: owed };
}

/** A deleted top-up that may still hold budget at the gateway: put back, then let the Secret go. */
function topUpDeletionStep(r: KeyRequest, now: number): Step {
  if (!holdsTopUpFinalizer(r)) return { kind: 'done' };
  const retry = retryWait(r, 'budget', now);
  return retry > 0 ? { kind: 'wait', ms: retry, why: 'retry' } : { kind: 'put-back-top-up', deleting: true };
}

/** Milliseconds left for a `kubectl annotate … reason=` that follows a kubectl label edit to land. */
function kubectlGrace(r: KeyRequest, now: number, s: PlanSettings): number {
  if (r.decidedBy !== 'kubectl' || !r.decidedAt) return 0;
  return Date.parse(r.decidedAt) + s.kubectlGraceSeconds * 1000 - now;
}

/**
 * The state → next step table. Pure: the same request, time and settings give the same step.
 * Before any state's own step: a deletion, a request from before `observed`, an administrator's
 * label edit (accepted or put back), and a key left unguarded. After it, once it is done or
 * waiting: the chat message owed, if any.
 */
export function plan(r: KeyRequest, now: number, s: PlanSettings): Step {
  const step = requestStep(r, now, s);
  if (!s.chat || r.deletingSince || (step.kind !== 'done' && step.kind !== 'wait')) return step;
  const chat = chatStep(r, now, s.chat);
  if (!chat) return step;
  if (chat.kind === 'chat' || step.kind === 'done') return chat;
  return chat.ms < step.ms ? chat : step;
}

function requestStep(r: KeyRequest, now: number, s: PlanSettings): Step {
  if (r.deletingSince && r.topsUp) return topUpDeletionStep(r, now);
  if (r.deletingSince) return deletionStep(r, now, s);
  if (!r.observed) return { kind: 'adopt' };
  if (r.observed.state !== r.state) {
    const edge = { from: r.observed.state, to: r.state };
    return canEditLabel(edge.from, edge.to) ? { kind: 'accept-label-edit', ...edge } : { kind: 'revert-label-edit', ...edge };
  }
  if (mayHoldGatewayKey(r) && !holdsGatewayFinalizer(r)) return { kind: 'guard-key' };
  if (r.topsUp) {
    const own = topUpStep(r, now, {
      notifyStep: (x, notice) => notifyStep(x, notice, now, s),
      retryWait: (x, step) => retryWait(x, step, now),
      kubectlGrace: (x) => kubectlGrace(x, now, s),
      giveUpAfterSeconds: s.giveUpAfterSeconds,
    });
    if (own) return own;
  }
  switch (r.state) {
    case 'pending':
      return { kind: 'decide' };
    case 'in-review': {
      const settled = s.policyOf && r.reviews?.length ? standing(s.policyOf(r.model), r.reviews, { email: r.email, ...(r.manager ? { manager: r.manager } : {}) }) : undefined;
      if (settled && settled.outcome !== 'waiting') return { kind: 'settle-review', outcome: settled.outcome };
      const deadline = reviewDeadline(r, s.reviewTimeoutDays);
      if (deadline !== undefined && deadline <= now) return { kind: 'review-timeout', days: s.reviewTimeoutDays as number };
      const next = notifyStep(r, { state: 'in-review', to: 'approvers' }, now, s);
      return next.kind === 'done' && deadline !== undefined ? { kind: 'wait', ms: deadline - now, why: 'review-deadline' } : next;
    }
    case 'approved': {
      if (r.retry?.step === 'mint' && r.retry.since && now - Date.parse(r.retry.since) >= s.giveUpAfterSeconds * 1000) {
        return { kind: 'give-up-mint', since: r.retry.since, error: r.retry.error };
      }
      const retry = retryWait(r, 'mint', now);
      if (retry > 0) return { kind: 'wait', ms: retry, why: 'retry' };
      if (!s.catalog.has(r.model)) return { kind: 'fail-not-in-catalog' };
      if (!r.hasKey) return { kind: 'store-key' };
      // The "ready" email is claimed with the key: a live claim is a replica minting now (or one
      // that died doing so), whose email may already be out. Waited out, then taken over.
      const claim = claimWait(r, 'issued', now, s.notifyClaimSeconds * 1000);
      if (claim > 0) return { kind: 'wait', ms: claim, why: 'claim' };
      return { kind: 'mint' };
    }
    case 'issued': {
      if (r.notified !== 'issued') return notifyStep(r, { state: 'issued', to: 'requester' }, now, s);
      // Delivered: by email (the message went out) or on the reveal page (it was shown).
      if (r.hasKey && (s.keyDelivery === 'email' || r.revealedAt)) return { kind: 'erase-key' };
      const waits: Array<{ ms: number; why: 'expiry' | 'reveal-window' | 'reminder' }> = [];
      if (r.expiresAt) waits.push({ ms: Date.parse(r.expiresAt) - now, why: 'expiry' });
      if (s.keyDelivery === 'portal' && !r.revealedAt && r.issuedAt) waits.push({ ms: Date.parse(r.issuedAt) + s.revealWindowSeconds * 1000 - now, why: 'reveal-window' });
      // Ending the key comes before any reminder of its end.
      if (waits.some((w) => w.ms <= 0)) return r.expiresAt && Date.parse(r.expiresAt) <= now ? { kind: 'expire' } : { kind: 'reveal-window-passed' };
      const reminders = reminderSchedule(r, now, s.reminderDays);
      if (reminders.due !== undefined) return remindStep(r, reminders.due, now, s);
      if (reminders.nextAt !== undefined) waits.push({ ms: reminders.nextAt - now, why: 'reminder' });
      if (waits.length === 0) return { kind: 'done' };
      const next = waits.reduce((a, b) => (b.ms < a.ms ? b : a));
      return { kind: 'wait', ms: next.ms, why: next.why };
    }
    case 'revoked':
    case 'expired': {
      if (r.notified === r.state) return gatewayCleanup(r, now);
      if (r.state === 'revoked') {
        const grace = kubectlGrace(r, now, s);
        if (grace > 0) return { kind: 'wait', ms: grace, why: 'kubectl-grace' };
      }
      const retry = retryWait(r, 'revoke', now);
      if (retry > 0) return { kind: 'wait', ms: retry, why: 'retry' };
      // Deleting at the gateway is repeatable ("already gone" is fine), so it is done again on
      // every attempt at the email rather than recorded with a write of its own.
      const next = notifyStep(r, { state: r.state, to: 'requester' }, now, s);
      return next.kind === 'notify' ? { kind: 'delete-at-gateway', notice: next.notice } : next;
    }
    case 'denied': {
      if (r.notified === 'denied') return gatewayCleanup(r, now);
      const grace = kubectlGrace(r, now, s);
      if (grace > 0) return { kind: 'wait', ms: grace, why: 'kubectl-grace' };
      return notifyStep(r, { state: 'denied', to: 'requester' }, now, s);
    }
    case 'failed':
      if (r.notified === 'failed') return gatewayCleanup(r, now);
      return notifyStep(r, { state: 'failed', to: 'requester' }, now, s);
  }
}
