import { type KeyRequest, acceptedState } from '../domain/key-request';
import type { State } from '../domain/states';
import type { TopUp } from '../domain/top-up';
import type { RequestChange } from '../store/types';
import type { AuditFact, AuditType } from './record';

/** What a write knows of the request it changes (lib/store/write.ts ReadRequest). */
export type AuditedRead = Pick<
  KeyRequest,
  'id' | 'email' | 'model' | 'state' | 'observed' | 'reviews' | 'notified' | 'reminded' | 'hasKey' | 'keySha256' | 'budgetMove' | 'topsUp' | 'revealedAt'
>;

/** Who acted, as a channel: the audit trail's `via`. */
export function viaOf(decidedBy: string | undefined): string {
  if (!decidedBy) return 'keyportal';
  if (decidedBy === 'kubectl') return 'kubectl';
  if (decidedBy.startsWith('webhook:')) return 'webhook';
  if (decidedBy.startsWith('plugin:')) return 'plugin';
  if (decidedBy.startsWith('user:')) return 'portal';
  if (decidedBy === 'policy') return 'policy';
  return 'keyportal';
}

const STATE_RECORD: Partial<Record<State, AuditType>> = {
  'in-review': 'request.held',
  approved: 'request.approved',
  denied: 'request.denied',
  failed: 'request.failed',
  revoked: 'request.revoked',
  expired: 'request.expired',
  issued: 'key.minted',
};

export function createdFact(input: { email: string; model: string; renews?: string; justification?: string; manager?: string; topsUp?: string; topUp?: TopUp; budget?: number }): AuditFact {
  const data: Record<string, unknown> = { requester: input.email, model: input.model };
  for (const k of ['renews', 'justification', 'manager', 'topsUp', 'topUp', 'budget'] as const) if (input[k] !== undefined) data[k] = input[k];
  return { type: 'request.created', data };
}

/**
 * Every fact a write states, read off the change itself, so that no caller can change a request
 * without its record: a state entered (or an administrator's label edit accepted or put back),
 * each plugin's answer, each new review, an email sent, a reminder, a reveal, the key erased, a
 * top-up's budget moved; plus what the caller states that no field shows (`change.audit`).
 * Never a key: the minted key's record names its alias and the first 12 hex of its SHA-256.
 */
export function factsOf(read: AuditedRead, change: RequestChange): AuditFact[] {
  const who = { requester: read.email, model: read.model };
  const facts: AuditFact[] = [];
  if (change.trace && change.trace.length) {
    for (const t of change.trace) facts.push({ type: 'plugin.answered', data: { ...who, plugin: t.plugin, answer: t.outcome, reason: t.reason, ms: Math.round(t.ms), ...(t.failed ? { failed: true } : {}) } });
  }
  for (const r of change.reviews ?? []) {
    if (read.reviews?.some((o) => o.at === r.at && o.by === r.by && o.stage === r.stage)) continue;
    const via = r.via ?? (r.by === 'kubectl' ? 'kubectl' : r.by.startsWith('webhook:') ? 'webhook' : 'portal');
    facts.push({ type: 'review.given', data: { ...who, by: r.by, ...(r.for ? { for: r.for } : {}), decision: r.decision, stage: r.stage, via, ...(r.reason ? { reason: r.reason } : {}), ...(r.changes ? { changes: r.changes } : {}), ...(r.override ? { override: true } : {}) } });
  }
  const accepted = acceptedState(read);
  if (change.state !== undefined && change.state === accepted && read.state !== accepted) {
    facts.push({ type: 'edit.refused', data: { ...who, label: read.state, kept: accepted } });
  } else {
    const target = change.state ?? change.acceptState;
    const type = target !== undefined && target !== accepted ? STATE_RECORD[target] : undefined;
    if (type) {
      const by = change.decidedBy ?? (change.acceptState !== undefined ? 'kubectl' : 'keyportal');
      const data: Record<string, unknown> = { ...who, from: accepted, by, via: viaOf(by) };
      if (change.reason !== undefined) data.reason = change.reason;
      if (target === 'issued' && !read.topsUp) {
        data.alias = `keyportal-${read.id}`;
        const sha = change.keySha256 ?? read.keySha256;
        if (sha) data.keySha256Prefix = sha.slice(0, 12);
        if (change.expiresAt) data.expiresAt = change.expiresAt;
      }
      if (target === 'issued' && read.topsUp) data.topsUp = read.topsUp;
      facts.push({ type: target === 'issued' && read.topsUp ? 'request.approved' : type, data: { ...data, ...(change.auditData ?? {}) } });
    }
  }
  // What the caller states happened before what the write records last (an email about it).
  for (const fact of change.audit ?? []) facts.push({ type: fact.type, data: { ...who, ...fact.data } });
  if (change.notified !== undefined && change.notified !== read.notified) facts.push({ type: 'request.emailed', data: { ...who, about: change.notified } });
  if (change.reminded !== undefined && change.reminded !== read.reminded) facts.push({ type: 'request.reminded', data: { ...who, daysBefore: change.reminded } });
  if (change.revealedAt !== undefined && change.revealedAt !== read.revealedAt) facts.push({ type: 'key.revealed', data: { ...who, by: read.email, at: change.revealedAt } });
  if (change.key === null && read.hasKey) facts.push({ type: 'key.erased', data: { ...who, why: 'removed from the Secret: only its SHA-256 stays' } });
  if (change.budgetMove) {
    const before = read.budgetMove;
    if (!before || before.back !== change.budgetMove.back || before.to !== change.budgetMove.to) facts.push({ type: 'budget.changed', data: { ...who, key: read.topsUp, move: change.budgetMove } });
  }
  return facts;
}
