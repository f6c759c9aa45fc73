import type { KeyRequest } from '../domain/key-request';
import type { RetryInfo } from '../domain/retry';
import type { State } from '../domain/states';
import type { Notice, Step } from './plan';

/** What the top-up table needs from plan.ts: its shared rules for emails, claims and retries. */
export interface TopUpPlanHelpers {
  notifyStep(r: KeyRequest, notice: Notice): Step;
  retryWait(r: KeyRequest, step: RetryInfo['step']): number;
  kubectlGrace(r: KeyRequest): number;
  giveUpAfterSeconds: number;
}

/**
 * The steps of a top-up where they differ from a key's (lib/domain/top-up.ts): `approved` applies
 * the budget at the gateway instead of minting; `issued` (applied) waits for a temporary one's
 * end and puts it back; `revoked` puts it back before telling the requester. Undefined where a
 * top-up goes as a key request does (pending, in-review, denied, failed).
 */
export function topUpStep(r: KeyRequest, now: number, h: TopUpPlanHelpers): Step | undefined {
  const state: State = r.state;
  switch (state) {
    case 'approved': {
      if (r.retry?.step === 'budget' && r.retry.since && now - Date.parse(r.retry.since) >= h.giveUpAfterSeconds * 1000) {
        return { kind: 'give-up-mint', since: r.retry.since, error: r.retry.error };
      }
      const retry = h.retryWait(r, 'budget');
      return retry > 0 ? { kind: 'wait', ms: retry, why: 'retry' } : { kind: 'apply-top-up' };
    }
    case 'issued': {
      if (r.notified !== 'issued') return h.notifyStep(r, { state: 'issued', to: 'requester' });
      if (!r.topUp?.until) return { kind: 'done' };
      const left = Date.parse(r.topUp.until) - now;
      if (left > 0) return { kind: 'wait', ms: left, why: 'expiry' };
      const retry = h.retryWait(r, 'budget');
      return retry > 0 ? { kind: 'wait', ms: retry, why: 'retry' } : { kind: 'put-back-top-up' };
    }
    case 'revoked': {
      if (r.notified === 'revoked') return { kind: 'done' };
      const grace = h.kubectlGrace(r);
      if (grace > 0) return { kind: 'wait', ms: grace, why: 'kubectl-grace' };
      const retry = h.retryWait(r, 'budget');
      if (retry > 0) return { kind: 'wait', ms: retry, why: 'retry' };
      const next = h.notifyStep(r, { state: 'revoked', to: 'requester' });
      // Putting back is repeatable (an absolute budget), so it is done again on every attempt at
      // the email, as a revoked key is deleted again before its email.
      return next.kind === 'notify' && r.budgetMove ? { kind: 'put-back-top-up', notice: next.notice } : next;
    }
    case 'expired':
      // Put back before it was marked expired: only the email is left (no key to delete).
      return r.notified === 'expired' ? { kind: 'done' } : h.notifyStep(r, { state: 'expired', to: 'requester' });
    default:
      return undefined;
  }
}
