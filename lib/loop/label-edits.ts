import { type KeyRequest, reasonAnnotatedByHand, rfc3339 } from '../domain/key-request';
import { MAX_REVIEWS } from '../domain/review';
import { type State, labelEditsFrom } from '../domain/states';
import { log } from '../log';
import { countDecision, countIllegalEdit } from '../metrics/record';
import type { RequestChange } from '../store/types';
import type { LoopEvent } from './events';
import { mayHoldGatewayKey } from './plan';

/** What judging a label edit needs from the reconciler. */
export interface LabelEditDeps {
  clock: () => Date;
  write(r: KeyRequest, change: RequestChange, event: LoopEvent): Promise<void>;
}

const DECISION_OF: Partial<Record<State, { decision: 'approved' | 'denied' | 'revoked'; verb: string; outcome: 'approve' | 'deny' | 'revoke' }>> = {
  approved: { decision: 'approved', verb: 'Approved', outcome: 'approve' },
  denied: { decision: 'denied', verb: 'Denied', outcome: 'deny' },
  revoked: { decision: 'revoked', verb: 'Revoked', outcome: 'revoke' },
};

/**
 * `kubectl label … keyportal.dev/state=<to>` along the label-edit table: the administrator
 * decided. Recorded as theirs (`decided-by: kubectl`, `decision`), with the reason they annotated
 * before the label if they did (its fingerprint differs from the one our last write left),
 * otherwise "<Verb> by an administrator"; a reason annotated within the grace period after the
 * label still reaches the email (plan.ts waits for it). The state's own steps follow.
 */
export async function acceptLabelEdit(d: LabelEditDeps, r: KeyRequest, from: State, to: State): Promise<void> {
  const kind = DECISION_OF[to];
  if (!kind) throw new Error(`the label-edit table allows ${from} → ${to}, which records no decision`);
  const at = rfc3339(d.clock());
  const change: RequestChange = { acceptState: to, decision: kind.decision, decidedBy: 'kubectl', decidedAt: at };
  if (!reasonAnnotatedByHand(r)) change.reason = `${kind.verb} by an administrator`;
  // An approval or denial over the reviews is an override, and the reviews say so (the trace shows it).
  if ((from === 'in-review' || from === 'approved') && (to === 'approved' || to === 'denied') && (r.reviews?.length ?? 0) < MAX_REVIEWS) {
    const reason = reasonAnnotatedByHand(r) ? r.reason : undefined;
    change.reviews = [...(r.reviews ?? []), { by: 'kubectl', decision: to === 'approved' ? 'approve' : 'deny', stage: 'override', at, override: true, ...(reason ? { reason: reason.slice(0, 500) } : {}) }];
  }
  // A failed mint tried again starts a fresh retry budget.
  if (from === 'failed') change.retry = null;
  await d.write(r, change, { type: 'Normal', reason: kind.verb, message: `${kind.decision} with kubectl (was ${from})${change.reason ? '' : `: ${r.reason ?? ''}`}`.slice(0, 500) });
  countDecision('kubectl', kind.outcome);
}

/**
 * A label edit the table refuses (`issued → approved`, `denied → approved`, …): the accepted
 * state is put back, with a Warning Event that names the legal choices and a log line. Nothing
 * else happens: no key is minted or deleted, no email goes out.
 */
export async function revertLabelEdit(d: LabelEditDeps, r: KeyRequest, from: State, to: State): Promise<void> {
  const legal = labelEditsFrom(from);
  const choices = legal.length ? `from "${from}" an administrator may set ${legal.map((s) => `"${s}"`).join(' or ')}` : `"${from}" is final: request the model again instead`;
  const message = `the state label was changed from "${from}" to "${to}", which a label edit may not do; it was put back to "${from}" and nothing else changed (${choices})`;
  await d.write(r, { state: from }, { type: 'Warning', reason: 'IllegalTransition', message });
  log('warn', 'loop: an illegal label edit was put back', { request: r.id, from, to });
  countIllegalEdit();
}

/** A request stored before `keyportal.dev/observed`: its state is taken as accepted, and a key it may hold is guarded. */
export async function adopt(d: LabelEditDeps, r: KeyRequest): Promise<void> {
  const change: RequestChange = mayHoldGatewayKey(r) ? { gatewayFinalizer: true } : {};
  await d.write(r, change, { type: 'Normal', reason: 'Adopted', message: `state "${r.state}" recorded as the loop's${change.gatewayFinalizer ? '; its key at the gateway is now guarded by a finalizer' : ''}` });
}

/** A key may be live at the gateway and nothing guards it (the finalizer was removed by hand): put the finalizer back. */
export async function guardKey(d: LabelEditDeps, r: KeyRequest): Promise<void> {
  await d.write(r, { gatewayFinalizer: true }, { type: 'Warning', reason: 'FinalizerRestored', message: 'the finalizer keyportal.dev/gateway-key was missing while a key may be live at the gateway; put back, so deleting this Secret deletes the key first' });
}
