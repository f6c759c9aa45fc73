import { CHAT_METHODS, type ChatMethod, type ChatOutcome, type DecisionOutcome, deciderLabel } from './labels';
import { type AuditGauges, type LoopGauges, metrics } from './registry';

// What the loop and the portal call when something worth counting happened. Each takes the
// values as stored (decided-by, timestamps) and reduces them to fixed labels here, so no caller
// can hand a free-form string to a label by mistake.

/** A decision written to a request: by the plugin chain, a person, the webhook, kubectl or the loop. */
export function countDecision(decidedBy: string | undefined, outcome: DecisionOutcome): void {
  metrics().decisions.inc({ decider: deciderLabel(decidedBy), outcome });
}

/** A key issued: the time from the request's creation, once per request (the write that won). */
export function observeIssued(createdAt: string, issuedAt: Date): void {
  const created = Date.parse(createdAt);
  if (Number.isNaN(created)) return;
  metrics().issueDuration.observe(Math.max(0, (issuedAt.getTime() - created) / 1000));
}

/** The loop scheduled another attempt (a backoff after a gateway, mail or reconcile failure). */
export function countRetry(): void {
  metrics().retries.inc();
}

/** Kubernetes Events dropped (their queue was full, or the loop stopped before it drained). */
export function countEventsDropped(count: number): void {
  metrics().eventsDropped.inc(count);
}

/** An administrator's label edit the table refuses was put back. */
export function countIllegalEdit(): void {
  metrics().illegalEdits.inc();
}

/** What the last gateway sweep found: orphans (deleted or only reported) and issued requests missing their key. */
export function recordSweep(orphans: number, action: 'deleted' | 'reported', missing: number): void {
  const m = metrics();
  m.gatewayOrphans.set({ action }, orphans);
  m.gatewayOrphans.set({ action: action === 'deleted' ? 'reported' : 'deleted' }, 0);
  m.gatewayMissing.set(missing);
}

/** Shows an audit shipper's backlog at every scrape until the returned function is called. */
export function observeAudit(shipper: AuditGauges): () => void {
  const { audits } = metrics().sources;
  audits.add(shipper);
  return () => void audits.delete(shipper);
}

/** Records shipped to the audit sink, or a batch it did not take. */
export function countAuditShipped(records: number, failed: boolean): void {
  if (failed) metrics().auditFailures.inc();
  else metrics().auditShipped.inc(records);
}

/** Shows how many status reads the web server holds open, at every scrape. */
export function observeHeldReads(held: { readonly waiting: number }): void {
  metrics().sources.held = held;
}

/** Shows a loop's queue and leadership at every scrape until the returned function is called. */
export function observeLoop(loop: LoopGauges): () => void {
  const { loops } = metrics().sources;
  loops.add(loop);
  return () => void loops.delete(loop);
}

/** A call to the chat Web API (lib/chat/slack-api.ts); a method outside the fixed set is not counted. */
export function countChatCall(method: string, outcome: ChatOutcome): void {
  if ((CHAT_METHODS as readonly string[]).includes(method)) metrics().chatCalls.inc({ method: method as ChatMethod, outcome });
}
