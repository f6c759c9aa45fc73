import type { ApprovalPlugin } from '../approval/types';
import { runChain } from '../approval/chain';
import type { ModelConfig } from '../config/schema';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import { type RetryInfo, backoffSeconds } from '../domain/retry';
import { type State, isLive } from '../domain/states';
import { type Gateway, GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError } from '../gateway/types';
import { type Rendered, type TemplateContext, endingMessage, issuedMessage, reviewNotice } from '../mail/templates';
import { type Mailer, MailUnavailableError } from '../mail/types';
import { ConflictError, RequestNotFoundError } from '../store/errors';
import type { RequestChange } from '../store/secret-codec';
import { oldestFirst } from '../store/ordering';
import type { RequestStore } from '../store/types';
import type { EventRecorder, LoopEvent } from './events';
import { failpoint } from './failpoints';

export interface ReconcilerSettings {
  approvalsDefault: 'deny' | 'review';
  models: readonly ModelConfig[];
  keyDelivery: 'email' | 'portal';
  portalUrl: string;
  portalTitle: string;
  gatewayUrl: string;
  /** Approvers emailed when a request waits for review. */
  reviewNotify: readonly string[];
  retry: { initialSeconds: number; maxSeconds: number };
  /** How long a replica's claim on sending an email stands before another may send it. */
  notifyClaimSeconds: number;
  /** A kubectl denial waits this long for a following `kubectl annotate … reason=`. */
  kubectlGraceSeconds: number;
}

export interface ReconcilerDeps {
  store: RequestStore;
  gateway: Gateway;
  mailer: Mailer;
  events: EventRecorder;
  plugins: readonly ApprovalPlugin[];
  settings: ReconcilerSettings;
  clock?: () => Date;
}

export interface ReconcileResult {
  /** Look at the request again after this long (a retry, a claim, an expiry). */
  requeueAfterMs?: number;
}

/** One step done, state moved on: look again now. Or: nothing more until `requeueAfterMs`. */
type StepResult = { next: true } | { next: false; requeueAfterMs?: number };
const NEXT: StepResult = { next: true };
const DONE: StepResult = { next: false };
const later = (ms: number): StepResult => ({ next: false, requeueAfterMs: Math.max(0, Math.ceil(ms)) });

const MAX_STEPS = 12;

/** Within one reconcile pass: the key it stored itself, so it is not read back from the API. */
interface Known {
  key?: { id: string; value: string };
}
const HELD_PREFIX = 'Held for review: ';

/**
 * Looks at one request and takes the steps its state needs next, like a controller-runtime
 * Reconcile: everything it knows comes from the Secret, so calling it twice, on two replicas,
 * or after a crash at any point does no harm. A conflict means someone moved first: read again.
 */
export class Reconciler {
  private readonly clock: () => Date;
  private readonly models: Map<string, ModelConfig>;

  constructor(private readonly deps: ReconcilerDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.models = new Map(deps.settings.models.map((m) => [m.id, m]));
  }

  async reconcile(id: string, signal: AbortSignal): Promise<ReconcileResult> {
    // What this pass wrote and so need not read back: the key it stored.
    const known: Known = {};
    for (let i = 0; i < MAX_STEPS && !signal.aborted; i++) {
      let request: KeyRequest;
      try {
        request = await this.deps.store.get(id);
      } catch (err) {
        if (err instanceof RequestNotFoundError) return {};
        throw err;
      }
      let result: StepResult;
      try {
        result = await this.step(request, signal, known);
      } catch (err) {
        if (err instanceof ConflictError) continue;
        throw err;
      }
      if (!result.next) return result.requeueAfterMs === undefined ? {} : { requeueAfterMs: result.requeueAfterMs };
    }
    if (signal.aborted) return {};
    // Every step moves the request on; one that keeps needing steps is a bug or a fight with
    // another writer, and goes through the loop's error backoff rather than round again at once.
    throw new Error(`request ${id} still needed work after ${MAX_STEPS} steps`);
  }

  private step(r: KeyRequest, signal: AbortSignal, known: Known): Promise<StepResult> {
    switch (r.state) {
      case 'pending':
        return this.decide(r, signal, known);
      case 'in-review':
        return this.notify(r, 'in-review', this.deps.settings.reviewNotify, () => reviewNotice(r, this.context(r)));
      case 'approved':
        return this.mint(r, signal, known);
      case 'issued':
        return this.issued(r, known);
      case 'denied':
      case 'failed':
      case 'expired':
        return this.ending(r, r.state);
      case 'revoked':
        return this.revoke(r, signal);
    }
  }

  // pending: run the plugin chain and record its decision and trace.
  private async decide(r: KeyRequest, signal: AbortSignal, known: Known): Promise<StepResult> {
    const now = rfc3339(this.clock());
    const older = await this.olderLiveTwin(r);
    if (older) {
      // Two replicas each let one of two simultaneous requests for the same model through: the
      // older one counts, everywhere, and this one is closed before any plugin sees it.
      await this.write(r, { state: 'denied', decidedBy: 'duplicate', decidedAt: now, reason: `You already have request ${older.id} for ${r.model}; this duplicate was closed.` }, {
        type: 'Normal',
        reason: 'Denied',
        message: `denied: a duplicate of keyreq-${older.id}`,
      });
      return NEXT;
    }
    if (!this.models.has(r.model)) {
      await this.write(r, { state: 'denied', decidedBy: 'catalog', decidedAt: now, reason: `model ${r.model} is not in the catalog` }, {
        type: 'Warning',
        reason: 'Denied',
        message: `denied: model ${r.model} is not in the catalog`,
      });
      return NEXT;
    }
    const result = await runChain(this.deps.plugins, r, { fallback: this.deps.settings.approvalsDefault, signal });
    const summary = result.trace.map((t) => `${t.plugin}=${t.outcome}`).join(', ') || 'no plugins';
    if (result.outcome === 'review') {
      await this.write(r, { state: 'in-review', reason: `${HELD_PREFIX}${result.reason}`, trace: result.trace }, {
        type: 'Normal',
        reason: 'HeldForReview',
        message: `held for review by ${result.decidedBy} (${summary}): ${result.reason}`,
      });
    } else {
      const state = result.outcome === 'approve' ? 'approved' : 'denied';
      const change: RequestChange = { state, decidedBy: result.decidedBy, decidedAt: now, reason: result.reason, trace: result.trace };
      // An approval stores the key value in the same write: still before the gateway hears of
      // it (exactly-once holds), one write fewer.
      if (state === 'approved') change.key = this.deps.gateway.newKey();
      await this.write(r, change, {
        type: 'Normal',
        reason: state === 'approved' ? 'Approved' : 'Denied',
        message: `${state} by ${result.decidedBy} (${summary}): ${result.reason}`,
      });
      // Only once the write won: a rival whose write won instead stored its own key.
      if (change.key) {
        known.key = { id: r.id, value: change.key };
        failpoint('after-key-stored');
      }
    }
    return NEXT;
  }

  /**
   * A decision with no decider recorded was made by a label edit (kubectl). Record that, and
   * replace a "held for review" reason that no longer explains anything.
   */
  private async recordKubectlDecision(r: KeyRequest): Promise<boolean> {
    const decidedNow = r.state === 'approved' || r.state === 'denied';
    const recorded = r.decidedAt && r.decidedBy && !(r.reason ?? '').startsWith(HELD_PREFIX);
    if (!decidedNow || recorded) return false;
    const change: RequestChange = { decidedBy: 'kubectl', decidedAt: rfc3339(this.clock()) };
    if (!r.reason || r.reason.startsWith(HELD_PREFIX)) change.reason = `${r.state === 'approved' ? 'Approved' : 'Denied'} by an administrator`;
    await this.write(r, change, { type: 'Normal', reason: r.state === 'approved' ? 'Approved' : 'Denied', message: `${r.state} with kubectl` });
    return true;
  }

  // approved: store a key, register it at the gateway exactly once, then `issued` and email.
  private async mint(r: KeyRequest, signal: AbortSignal, known: Known): Promise<StepResult> {
    if (await this.recordKubectlDecision(r)) return NEXT;
    const wait = this.waitingFor(r, 'mint');
    if (wait > 0) return later(wait);
    const model = this.models.get(r.model);
    if (!model) {
      await this.write(r, { state: 'failed', reason: `model ${r.model} is no longer in the catalog`, retry: null }, {
        type: 'Warning',
        reason: 'MintFailed',
        message: `not minted: model ${r.model} is no longer in the catalog`,
      });
      return NEXT;
    }
    // 1. The key value is chosen and stored first, so a crash or a rival replica can only ever
    //    register this one value.
    if (!r.hasKey) {
      const value = this.deps.gateway.newKey();
      await this.deps.store.update(r, { key: value });
      known.key = { id: r.id, value };
      failpoint('after-key-stored');
      return NEXT;
    }
    const storedThisPass = known.key?.id === r.id;
    const key = storedThisPass ? known.key?.value : await this.deps.store.readKey(r.id);
    if (!key) return NEXT;
    // 2. Register it, unless a previous attempt already did. A key this pass stored itself has
    //    had no earlier attempt; a rival that raced us to it shows up as the alias conflict below.
    let expiresAt: string | undefined;
    try {
      if (storedThisPass || !(await this.deps.gateway.keyExists(key, signal))) {
        try {
          ({ expiresAt } = await this.deps.gateway.generateKey(
            { key, alias: `keyportal-${r.id}`, model: r.model, userId: r.email, requestId: r.id, limits: model.limits },
            signal,
          ));
        } catch (err) {
          if (!(err instanceof KeyAlreadyExistsError)) throw err;
          // Our alias is taken: by our own key (an earlier attempt, a rival replica) or not.
          if (!(await this.deps.gateway.keyExists(key, signal))) {
            throw new GatewayRefusedError(409, `the alias keyportal-${r.id} belongs to another key at the gateway`);
          }
        }
        failpoint('after-gateway-generate');
      }
    } catch (err) {
      if (err instanceof GatewayRefusedError) {
        await this.write(r, { state: 'failed', reason: `The gateway refused to create the key: ${err.message}`, retry: null }, {
          type: 'Warning',
          reason: 'GatewayRefused',
          message: `gateway refused (HTTP ${err.status}): ${err.message}`,
        });
        return NEXT;
      }
      if (err instanceof GatewayUnavailableError) return this.retryLater(r, 'mint', err.message, 'GatewayUnavailable');
      throw err;
    }
    // 3. Issued, with the claim on the requester's email taken in the same write.
    const change: RequestChange = { state: 'issued', retry: null, notifying: `issued ${rfc3339(this.clock())}` };
    if (expiresAt) change.expiresAt = expiresAt;
    const issued = await this.write(r, change, { type: 'Normal', reason: 'KeyMinted', message: `key keyportal-${r.id} minted at the gateway` });
    failpoint('after-issued');
    return this.send(issued, 'issued', [issued.email], await this.issuedMessage(issued, key));
  }

  private async issued(r: KeyRequest, known: Known): Promise<StepResult> {
    if (r.notified !== 'issued') {
      return this.notify(r, 'issued', [r.email], () => this.issuedMessage(r, known.key?.id === r.id ? known.key.value : undefined));
    }
    if (r.expiresAt) {
      const left = Date.parse(r.expiresAt) - this.clock().getTime();
      if (left <= 0) {
        await this.write(r, { state: 'expired', reason: `The key expired at ${r.expiresAt}` }, { type: 'Normal', reason: 'Expired', message: 'key expired' });
        return NEXT;
      }
      return later(left);
    }
    return DONE;
  }

  private async revoke(r: KeyRequest, signal: AbortSignal): Promise<StepResult> {
    if (r.notified === 'revoked') return DONE;
    const wait = this.waitingFor(r, 'revoke');
    if (wait > 0) return later(wait);
    if (r.hasKey) {
      const key = await this.deps.store.readKey(r.id);
      try {
        if (key) await this.deps.gateway.deleteKey(key, signal);
      } catch (err) {
        if (err instanceof GatewayUnavailableError) return this.retryLater(r, 'revoke', err.message, 'GatewayUnavailable');
        throw err;
      }
    }
    return this.ending(r, 'revoked');
  }

  private async ending(r: KeyRequest, state: 'denied' | 'failed' | 'expired' | 'revoked'): Promise<StepResult> {
    if (r.notified === state) return DONE;
    if (state === 'denied') {
      if (await this.recordKubectlDecision(r)) return NEXT;
      // Give `kubectl annotate … reason=` that follows `kubectl label … denied` time to land.
      if (r.decidedBy === 'kubectl' && r.decidedAt) {
        const wait = Date.parse(r.decidedAt) + this.deps.settings.kubectlGraceSeconds * 1000 - this.clock().getTime();
        if (wait > 0) return later(wait);
      }
    }
    return this.notify(r, state, [r.email], () => endingMessage(state, r, this.context(r)));
  }

  /**
   * Emails once per state: claim the send with the read resourceVersion (only one replica can
   * win that write), send, then record `notified`. A claim older than notifyClaimSeconds belongs
   * to a replica that died mid-send, and is taken over: a crash can cost a duplicate, never a loss.
   */
  private async notify(r: KeyRequest, state: State, to: readonly string[], message: () => Rendered | Promise<Rendered>): Promise<StepResult> {
    if (r.notified === state) return DONE;
    const wait = this.waitingFor(r, 'notify');
    if (wait > 0) return later(wait);
    const claimAge = this.claimAge(r, state);
    const ttl = this.deps.settings.notifyClaimSeconds * 1000;
    if (claimAge !== undefined && claimAge < ttl) return later(ttl - claimAge);
    if (to.length === 0) {
      await this.deps.store.update(r, { notified: state, notifying: null });
      return NEXT;
    }
    const claimed = await this.deps.store.update(r, { notifying: `${state} ${rfc3339(this.clock())}` });
    return this.send(claimed, state, to, await message());
  }

  private async send(r: KeyRequest, state: State, to: readonly string[], message: Rendered): Promise<StepResult> {
    try {
      await this.deps.mailer.send({ to: [...to], ...message });
    } catch (err) {
      if (err instanceof MailUnavailableError) return this.retryLater(r, 'notify', err.message, 'EmailFailed', { notifying: null });
      throw err;
    }
    failpoint('after-email-sent');
    await this.deps.events.record(r, { type: 'Normal', reason: 'EmailSent', message: `emailed ${to.length === 1 && to[0] === r.email ? 'the requester' : `${to.length} approver(s)`} about "${state}"` });
    // The email is out: record it even if the Secret moved meanwhile (an annotate, a label).
    let current = r;
    for (let i = 0; i < 5; i++) {
      try {
        await this.deps.store.update(current, { notified: state, notifying: null, retry: null });
        return NEXT;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        current = await this.deps.store.get(r.id);
        if (current.notified === state) return NEXT;
      }
    }
    return NEXT;
  }

  private async retryLater(r: KeyRequest, step: RetryInfo['step'], error: string, reason: string, extra: RequestChange = {}): Promise<StepResult> {
    const attempt = (r.retry?.step === step ? r.retry.attempt : 0) + 1;
    const { initialSeconds, maxSeconds } = this.deps.settings.retry;
    const delayMs = backoffSeconds(attempt, initialSeconds, maxSeconds) * 1000;
    const at = rfc3339(new Date(this.clock().getTime() + delayMs));
    await this.write(r, { ...extra, retry: { step, attempt, at, error: error.slice(0, 500) } }, {
      type: 'Warning',
      reason,
      message: `${error.slice(0, 300)}; attempt ${attempt}, next at ${at}`,
    });
    return later(delayMs);
  }

  /** Milliseconds until a stored retry of `step` is due; 0 if none waits. */
  private waitingFor(r: KeyRequest, step: RetryInfo['step']): number {
    if (r.retry?.step !== step) return 0;
    return Math.max(0, Date.parse(r.retry.at) - this.clock().getTime());
  }

  private claimAge(r: KeyRequest, state: State): number | undefined {
    if (!r.notifying) return undefined;
    const [claimedState, at] = r.notifying.split(' ');
    if (claimedState !== state || !at) return undefined;
    const t = Date.parse(at);
    return Number.isNaN(t) ? undefined : this.clock().getTime() - t;
  }

  private async write(r: KeyRequest, change: RequestChange, event: LoopEvent): Promise<KeyRequest> {
    const updated = await this.deps.store.update(r, change);
    await this.deps.events.record(updated, event);
    return updated;
  }

  private context(r: KeyRequest): TemplateContext {
    const s = this.deps.settings;
    return { portalUrl: s.portalUrl, portalTitle: s.portalTitle, gatewayUrl: s.gatewayUrl, modelTitle: this.models.get(r.model)?.title ?? r.model };
  }

  /** An older live request for the same email and model, if one exists. */
  private async olderLiveTwin(r: KeyRequest): Promise<KeyRequest | undefined> {
    const { items } = await this.deps.store.query({ email: r.email, model: r.model, limit: 500 });
    return items.filter((x) => x.id !== r.id && isLive(x.state) && oldestFirst(x, r) < 0).sort(oldestFirst)[0];
  }

  private async issuedMessage(r: KeyRequest, knownKey?: string): Promise<Rendered> {
    if (this.deps.settings.keyDelivery === 'email') {
      const key = knownKey ?? (await this.deps.store.readKey(r.id));
      if (key) return issuedMessage(r, this.context(r), { key });
    }
    const revealUrl = new URL(`requests/${r.id}`, this.deps.settings.portalUrl.endsWith('/') ? this.deps.settings.portalUrl : `${this.deps.settings.portalUrl}/`).toString();
    return issuedMessage(r, this.context(r), { revealUrl });
  }
}

