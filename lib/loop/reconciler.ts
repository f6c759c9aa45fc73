import type { ApprovalPlugin } from '../approval/types';
import { type Policy, policyFor } from '../approval/policy';
import { type ApprovalsConfig, type ModelConfig, approvalsSchema } from '../config/schema';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import { type RetryInfo, backoffSeconds } from '../domain/retry';
import type { Gateway } from '../gateway/types';
import type { Mailer } from '../mail/types';
import { countDecision, countRetry } from '../metrics/record';
import { ConflictError, RequestNotFoundError } from '../store/errors';
import type { RequestChange, RequestStore } from '../store/types';
import { type EventRecorder, type LoopEvent, mergeEvents } from './events';
import type { PeopleStore } from '../people/types';
import { type FailpointName, failpoint as envFailpoint } from './failpoints';
import { type IssueDeps, type Known, issue } from './issue';
import { type DecideDeps, decide, storeKey } from './decide';
import { type RevokeDeps, deleteAtGateway } from './revoke';
import { notify } from './send-notice';
import { type DeletionDeps, finalizeDeleted } from './deletion';
import type { GateDeps } from './gates';
import type { RateLimit } from '../domain/rate-limit';
import { type LabelEditDeps, acceptLabelEdit, adopt, guardKey, revertLabelEdit } from './label-edits';
import { type PlanSettings, type Step, plan } from './plan';
import { type NoticeDeps, noticeMessage, templateContext } from './notices';
import { type ReminderDeps, remind } from './reminders';
import { settleReview } from './settle-review';
import type { ChatPoster } from '../chat/types';
import { type ChatDeps, type ChatOutcome, chatDepsFor, doChat } from './chat';
import type { CardContext } from '../chat/cards';
import { type TopUpDeps, applyTopUp, putBackTopUp } from '../budget/top-up-steps';
import type { SpendFigureService } from '../budget/spend-figures';

export interface ReconcilerSettings {
  approvalsDefault: 'deny' | 'review';
  models: readonly ModelConfig[];
  keyDelivery: 'email' | 'portal';
  portalUrl: string;
  portalTitle: string;
  gatewayUrl: string;
  /** Approvers emailed when a request waits for review. */
  reviewNotify: readonly string[];
  retry: { initialSeconds: number; maxSeconds: number; giveUpAfterSeconds: number };
  /** How long a replica's claim on sending an email stands before another may send it. */
  notifyClaimSeconds: number;
  /** A kubectl denial waits this long for a following `kubectl annotate … reason=`. */
  kubectlGraceSeconds: number;
  /** Portal delivery: a key not revealed this long after it was issued is taken back. */
  revealWindowDays: number;
  /** Days before expiry on which the requester is reminded (config `loop.reminders`); none when absent. */
  reminderDays?: readonly number[];
  /** The per-person limit (config `portal.rateLimit`): a request that got past it anyway is closed before any plugin sees it. */
  rateLimit?: RateLimit;
  /** Approval policies (config `approvals`): who is told of a review, and reviews that already decide a request. */
  approvals?: ApprovalsConfig;
  /** Chat (Slack): whether requesters get direct messages. */
  chat?: { directMessages: boolean };
}

export interface ReconcilerDeps {
  store: RequestStore;
  gateway: Gateway;
  mailer: Mailer;
  events: EventRecorder;
  plugins: readonly ApprovalPlugin[];
  settings: ReconcilerSettings;
  /** Who left: their pending requests are denied before any plugin sees them. */
  people?: PeopleStore;
  clock?: () => Date;
  /** Crash points for the kill tests; by default KEYPORTAL_FAILPOINT names one. */
  failpoint?: (name: FailpointName) => void;
  /** Review messages and direct messages in chat (Slack); none without. */
  chat?: ChatPoster;
  /** Spend figures for the plugins and the approvers' email (lib/budget/spend-figures.ts); none without. */
  spend?: SpendFigureService;
}

export interface ReconcileResult {
  /** Look at the request again after this long (a retry, a claim, an expiry). */
  requeueAfterMs?: number;
}

/** One pass over a request: what it told, and the request as last written, for the Event. */
interface Pass {
  told: LoopEvent[];
  request?: KeyRequest;
}

/** Steps one pass may take before it is treated as a fight with another writer (and backs off). */
const MAX_STEPS = 12;

/**
 * Executes the plan (lib/loop/plan.ts) like a controller-runtime Reconcile: read the request,
 * ask `plan` for its one next step, do it, read again. Everything it knows comes from the
 * request, so calling it twice, on two replicas, or after a crash at any point does no harm.
 * A conflict means someone moved first: read again.
 */
export class Reconciler {
  private readonly clock: () => Date;
  private readonly failpoint: (name: FailpointName) => void;
  private readonly models: Map<string, ModelConfig>;
  private readonly planSettings: PlanSettings;
  private readonly issueDeps: IssueDeps;
  private readonly decideDeps: DecideDeps;
  private readonly revokeDeps: RevokeDeps;
  private readonly labelEditDeps: LabelEditDeps;
  private readonly deletionDeps: DeletionDeps;
  private readonly gateDeps: GateDeps;
  private readonly chatDeps: ChatDeps | undefined;
  private readonly topUpDeps: TopUpDeps;
  private readonly noticeDeps: NoticeDeps;
  /** The Events of each request's pass under way, written as one when it ends. */
  private readonly passes = new Map<string, Pass>();

  constructor(private readonly deps: ReconcilerDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.failpoint = deps.failpoint ?? envFailpoint;
    this.models = new Map(deps.settings.models.map((m) => [m.id, m]));
    const s = deps.settings;
    this.planSettings = {
      catalog: new Set(this.models.keys()),
      reviewNotify: s.reviewNotify,
      notifyClaimSeconds: s.notifyClaimSeconds,
      kubectlGraceSeconds: s.kubectlGraceSeconds,
      giveUpAfterSeconds: s.retry.giveUpAfterSeconds,
      keyDelivery: s.keyDelivery,
      revealWindowSeconds: s.revealWindowDays * 86_400,
      reminderDays: s.reminderDays ?? [],
      ...(s.approvals ? { reviewTimeoutDays: s.approvals.reviewTimeoutDays } : {}),
      ...(s.approvals ? { policyOf: (model: string) => this.policyOf(model) as Policy } : {}),
      ...(deps.chat ? { chat: { directMessages: s.chat?.directMessages ?? true, claimSeconds: s.notifyClaimSeconds } } : {}),
    };
    // What every step's deps share: the side effects, and how the reconciler writes, tells and retries.
    const effects = {
      store: deps.store,
      gateway: deps.gateway,
      mailer: deps.mailer,
      clock: this.clock,
      failpoint: this.failpoint,
      write: (r: KeyRequest, change: RequestChange, event?: LoopEvent) => this.write(r, change, event),
      tell: (r: KeyRequest, event: LoopEvent) => this.tell(r, event),
      retryLater: (r: KeyRequest, step: RetryInfo['step'], error: string, reason: string, extra?: RequestChange) => this.retryLater(r, step, error, reason, extra),
    };
    this.issueDeps = { ...effects, models: this.models, keyDelivery: s.keyDelivery, message: (r, notice, known) => noticeMessage(this.noticeDeps, r, notice, known) };
    this.gateDeps = { store: deps.store, catalog: this.planSettings.catalog, clock: this.clock, ...(deps.people ? { people: deps.people } : {}), ...(s.rateLimit ? { rateLimit: s.rateLimit } : {}) };
    this.labelEditDeps = { clock: this.clock, write: effects.write };
    this.noticeDeps = { store: deps.store, models: this.models, settings: s, policyOf: (model) => this.policyOf(model), ...(deps.spend ? { spend: deps.spend } : {}) };
    const spend = deps.spend;
    this.decideDeps = {
      ...effects,
      plugins: deps.plugins,
      approvalsDefault: s.approvalsDefault,
      gates: this.gateDeps,
      spendForPlugins: spend && deps.plugins.some((p) => p.wantsSpend) ? (r: KeyRequest) => spend.figures(r) : undefined,
      issue: this.issueDeps,
    };
    this.revokeDeps = { ...effects, notices: this.noticeDeps, keyDelivery: s.keyDelivery };
    this.topUpDeps = { ...this.labelEditDeps, store: deps.store, gateway: deps.gateway, retryLater: effects.retryLater, notify: (r, notice) => notify(this.revokeDeps, r, notice, {}) };
    const cards: CardContext = { store: deps.store, models: this.models, approvals: s.approvals ?? approvalsSchema.parse({}), portalUrl: s.portalUrl };
    this.chatDeps = deps.chat && chatDepsFor(deps.chat, cards, { store: deps.store, clock: this.clock, retry: s.retry, channelOf: (r) => this.policyChannel(r.model), tell: effects.tell });
    this.deletionDeps = { ...effects, giveUpAfterSeconds: s.retry.giveUpAfterSeconds, message: (r, notice) => noticeMessage(this.noticeDeps, r, notice, {}) };
  }

  private policyChannel(model: string): string | undefined {
    const name = this.policyOf(model)?.name;
    return name ? this.deps.settings.approvals?.policies[name]?.slackChannel : undefined;
  }

  private policyOf(model: string): Policy | undefined {
    const { approvals } = this.deps.settings;
    return approvals ? policyFor(approvals, this.models.get(model), model) : undefined;
  }

  /** The step a request needs now (for tests and the status of a request). */
  plan(r: KeyRequest): Step {
    return plan(r, this.clock().getTime(), this.planSettings);
  }

  /** The loop has a step to take on this request now (not done, not waiting for a time). */
  busy(r: KeyRequest): boolean {
    const { kind } = this.plan(r);
    return kind !== 'done' && kind !== 'wait';
  }

  async reconcile(id: string, signal: AbortSignal): Promise<ReconcileResult> {
    const pass: Pass = { told: [] };
    this.passes.set(id, pass);
    try {
      return await this.steps(id, signal);
    } finally {
      if (this.passes.get(id) === pass) this.passes.delete(id);
      const event = mergeEvents(pass.told);
      if (pass.request && event) this.deps.events.record(pass.request, event).catch(() => undefined);
    }
  }

  private async steps(id: string, signal: AbortSignal): Promise<ReconcileResult> {
    const known: Known = {};
    for (let i = 0; i < MAX_STEPS && !signal.aborted; i++) {
      let request: KeyRequest;
      try {
        request = await this.deps.store.get(id);
      } catch (err) {
        if (err instanceof RequestNotFoundError) return {};
        throw err;
      }
      const step = this.plan(request);
      if (step.kind === 'done') return {};
      if (step.kind === 'wait') return { requeueAfterMs: Math.max(1, Math.ceil(step.ms)) };
      try {
        const later = await this.execute(step, request, signal, known);
        if (later) return later;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    if (signal.aborted) return {};
    // Every step moves the request on; one that keeps needing steps is a bug or a fight with
    // another writer, and goes through the loop's error backoff rather than round again at once.
    throw new Error(`request ${id} still needed work after ${MAX_STEPS} steps`);
  }

  private execute(step: Exclude<Step, { kind: 'done' | 'wait' }>, r: KeyRequest, signal: AbortSignal, known: Known): Promise<ChatOutcome> {
    switch (step.kind) {
      case 'decide':
        return decide(this.decideDeps, r, signal, known);
      case 'settle-review':
        return settleReview(this.labelEditDeps, r, step.outcome, this.policyOf(r.model) as Policy);
      case 'review-timeout': {
        const reason = `Not reviewed within ${step.days} day${step.days === 1 ? '' : 's'}. Request it again if you still need it.`;
        countDecision('keyportal', 'deny');
        return this.write(r, { state: 'denied', decision: 'denied', decidedBy: 'keyportal', decidedAt: rfc3339(this.clock()), reason }, { type: 'Normal', reason: 'ReviewTimedOut', message: `not reviewed within ${step.days} days: denied` });
      }
      case 'adopt':
        return adopt(this.labelEditDeps, r);
      case 'accept-label-edit':
        return acceptLabelEdit(this.labelEditDeps, r, step.from, step.to);
      case 'revert-label-edit':
        return revertLabelEdit(this.labelEditDeps, r, step.from, step.to);
      case 'guard-key':
        return guardKey(this.labelEditDeps, r);
      case 'finalize':
        return finalizeDeleted(this.deletionDeps, r, step.notice, signal);
      case 'give-up-mint': {
        const reason = `The gateway kept failing since ${step.since}; gave up. Last error: ${step.error}`;
        return this.write(r, { state: 'failed', reason, retry: null }, { type: 'Warning', reason: 'GaveUp', message: reason.slice(0, 500) });
      }
      case 'fail-not-in-catalog':
        return this.write(r, { state: 'failed', reason: `model ${r.model} is no longer in the catalog`, retry: null }, { type: 'Warning', reason: 'MintFailed', message: `not minted: model ${r.model} is no longer in the catalog` });
      case 'store-key':
        return storeKey(this.decideDeps, r, signal, known);
      case 'mint':
        return issue(this.issueDeps, r, signal, known, false);
      case 'expire':
        return this.write(r, { state: 'expired', reason: `The key expired at ${r.expiresAt ?? 'its expiry'}` }, { type: 'Normal', reason: 'Expired', message: 'key expired' });
      case 'reveal-window-passed':
        return this.revokeUncollected(r);
      case 'erase-key':
        // Delivered: from now on only the hash stands for the key (the gateway is asked by it).
        return this.write(r, { key: null }, { type: 'Normal', reason: 'KeyErased', message: 'the key was delivered and removed from the Secret; its SHA-256 remains' });
      case 'delete-at-gateway':
        return deleteAtGateway(this.revokeDeps, r, step.notice, signal, known);
      case 'notify':
        return notify(this.revokeDeps, r, step.notice, known);
      case 'remind':
        return remind(this.reminderDeps, r, step.days);
      case 'apply-top-up':
        return applyTopUp(this.topUpDeps, r, signal);
      case 'put-back-top-up':
        return putBackTopUp(this.topUpDeps, r, step.notice, signal, step.deleting);
      case 'chat':
        return this.chatDeps ? doChat(this.chatDeps, r, step.what, signal) : Promise.resolve();
    }
  }

  private get reminderDeps(): ReminderDeps {
    const { store, mailer, events } = this.deps;
    return {
      store,
      mailer,
      events,
      clock: this.clock,
      failpoint: this.failpoint,
      context: (r) => templateContext(this.noticeDeps, r),
      retryLater: (r, error, extra) => this.retryLater(r, 'notify', error, 'EmailFailed', extra),
    };
  }

  private async revokeUncollected(r: KeyRequest): Promise<void> {
    const days = this.deps.settings.revealWindowDays;
    const reason = `The key was not revealed within ${days} day${days === 1 ? '' : 's'} of being issued, so it was deleted at the gateway. Request the model again if you still need it.`;
    await this.write(r, { state: 'revoked', decision: 'revoked', decidedBy: 'keyportal', decidedAt: rfc3339(this.clock()), reason }, { type: 'Normal', reason: 'NotCollected', message: `not revealed within ${days} days: revoking` });
    countDecision('keyportal', 'revoke');
  }

  private async retryLater(r: KeyRequest, step: RetryInfo['step'], error: string, reason: string, extra: RequestChange = {}): Promise<void> {
    const same = r.retry?.step === step;
    const attempt = (same ? (r.retry?.attempt ?? 0) : 0) + 1;
    const since = (same ? r.retry?.since : undefined) ?? rfc3339(this.clock());
    const { initialSeconds, maxSeconds } = this.deps.settings.retry;
    const delayMs = backoffSeconds(attempt, initialSeconds, maxSeconds) * 1000;
    // Stored times have whole seconds: round up, or a sub-second backoff would be no wait at all.
    const at = rfc3339(new Date(Math.ceil((this.clock().getTime() + delayMs) / 1000) * 1000));
    await this.write(r, { ...extra, retry: { step, attempt, at, since, error: error.slice(0, 500) } }, { type: 'Warning', reason, message: `${error.slice(0, 300)}; attempt ${attempt}, next at ${at}` });
    countRetry();
  }

  private async write(r: KeyRequest, change: RequestChange, event?: LoopEvent): Promise<void> {
    const updated = await this.deps.store.update(r, change);
    if (event) this.tell(updated, event);
  }

  /**
   * An Event never fails a step, so no step waits an API round trip for one. Within a pass the
   * Events wait for its end and go out as one (mergeEvents); outside one (the sweeps), at once.
   */
  private tell(r: KeyRequest, event: LoopEvent): void {
    const pass = this.passes.get(r.id);
    if (pass) {
      pass.told.push(event);
      pass.request = r;
      return;
    }
    this.deps.events.record(r, event).catch(() => undefined);
  }

}
