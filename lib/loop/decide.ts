import { runChain } from '../approval/chain';
import type { ApprovalPlugin } from '../approval/types';
import type { SpendFigures } from '../budget/spend-figures';
import { type KeyRequest, rfc3339 } from '../domain/key-request';
import type { Gateway } from '../gateway/types';
import { countDecision } from '../metrics/record';
import type { RequestChange, RequestStore } from '../store/types';
import type { LoopEvent } from './events';
import type { FailpointName } from './failpoints';
import { type GateDeps, closedBeforeChain } from './gates';
import { type IssueDeps, type Known, issue, keyWithClaim } from './issue';
import type { ChatOutcome } from './chat';
import { pluginView } from './plugin-view';

/** What deciding a pending request needs from the reconciler. */
export interface DecideDeps {
  store: RequestStore;
  gateway: Pick<Gateway, 'newKey'>;
  plugins: readonly ApprovalPlugin[];
  /** What the chain ends in when every plugin says continue (config `approvals.default`). */
  approvalsDefault: 'deny' | 'review';
  gates: GateDeps;
  /** The spend figures, asked of the gateway only when a plugin of the chain reads them. */
  spendForPlugins: ((r: KeyRequest) => Promise<SpendFigures>) | undefined;
  clock: () => Date;
  failpoint: (name: FailpointName) => void;
  write(r: KeyRequest, change: RequestChange, event?: LoopEvent): Promise<void>;
  tell(r: KeyRequest, event: LoopEvent): void;
  issue: IssueDeps;
}

/** What an in-review request's reason starts with: shown to people, never parsed. */
const HELD_PREFIX = 'Held for review: ';

/** pending: close a duplicate, check the catalog, run the plugin chain, record the decision. */
export async function decide(d: DecideDeps, r: KeyRequest, signal: AbortSignal, known: Known): Promise<ChatOutcome> {
  const now = rfc3339(d.clock());
  const closed = await closedBeforeChain(d.gates, r);
  if (closed && 'settleMs' in closed) return { requeueAfterMs: closed.settleMs };
  if (closed) {
    await d.write(r, { state: 'denied', decision: 'denied', decidedBy: closed.decidedBy, decidedAt: now, reason: closed.reason }, closed.event);
    return countDecision(closed.decidedBy, 'deny');
  }
  const result = await runChain(d.plugins, await pluginView(d.store, r, d.spendForPlugins), { fallback: d.approvalsDefault, signal });
  const summary = result.trace.map((t) => `${t.plugin}=${t.outcome}`).join(', ') || 'no plugins';
  // The identity provider's word on the manager stands; a plugin fills it in when there is none.
  const manager = result.manager && !r.manager ? { manager: result.manager } : {};
  if (result.outcome === 'review') {
    await d.write(r, { state: 'in-review', reason: `${HELD_PREFIX}${result.reason}`, trace: result.trace, reviewSince: now, ...manager }, { type: 'Normal', reason: 'HeldForReview', message: `held for review by ${result.decidedBy} (${summary}): ${result.reason}` });
    return countDecision(result.decidedBy, 'review');
  }
  const state = result.outcome === 'approve' ? 'approved' : 'denied';
  const change: RequestChange = { state, decision: state, decidedBy: result.decidedBy, decidedAt: now, reason: result.reason, trace: result.trace, ...manager };
  // An approval stores the key value (and the claim on its email) in the same write: still
  // before the gateway hears of it (exactly-once holds), one write fewer.
  // A top-up has no key of its own: its budget is applied by the next step.
  if (state === 'approved' && !r.topsUp) Object.assign(change, keyWithClaim(d.gateway.newKey(), d.clock()));
  const decided = await d.store.update(r, change);
  d.tell(decided, { type: 'Normal', reason: state === 'approved' ? 'Approved' : 'Denied', message: `${state} by ${result.decidedBy} (${summary}): ${result.reason}` });
  countDecision(result.decidedBy, result.outcome);
  // Only once the write won: a rival whose write won instead stored its own key.
  if (change.key) await issueStored(d, decided, change.key, signal, known);
}

/**
 * approved, no key: the key value (and the claim on its email) is stored first, so a crash or a
 * rival replica can only ever register this one value; then on to the gateway.
 */
export async function storeKey(d: DecideDeps, r: KeyRequest, signal: AbortSignal, known: Known): Promise<void> {
  const value = d.gateway.newKey();
  await issueStored(d, await d.store.update(r, keyWithClaim(value, d.clock())), value, signal, known);
}

/** The key (and the claim on its email) is stored: this pass holds the claim, so it goes on to the gateway rather than wait it out. */
async function issueStored(d: DecideDeps, stored: KeyRequest, value: string, signal: AbortSignal, known: Known): Promise<void> {
  known.key = { id: stored.id, value };
  d.failpoint('after-key-stored');
  await issue(d.issue, stored, signal, known, true);
}
