import type { User } from '../auth/roles';
import type { KeyRequest } from '../domain/key-request';
import type { UsageCache, UsageLookup } from '../gateway/usage-cache';
import type { KeyUsage } from '../gateway/usage';
import { MAX_USAGE_BATCH } from '../validations/usage-batch';
import { PortalError } from './errors';
import { type PortalDeps, readVisible } from './requests';

/** A key's usage as the browser sees it: figures, or why there are none. Never the key or its hash. */
export type UsageView =
  | ({ available: true; checkedAt: string } & KeyUsage)
  | { available: false; why: 'gateway-unavailable' | 'unknown-at-gateway'; message: string; checkedAt: string };

export interface UsageDeps extends PortalDeps {
  usage: UsageCache;
}

/** Store reads and cache lookups in flight for one batch; the cache bounds gateway calls on top of this. */
const BATCH_CONCURRENCY = 8;

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function toUsageView(l: UsageLookup): UsageView {
  const checkedAt = iso(l.checkedAt);
  if (l.kind === 'ok') return { available: true, checkedAt, ...l.usage };
  if (l.kind === 'unknown') return { available: false, why: 'unknown-at-gateway', message: 'Usage unavailable: the gateway does not know this key.', checkedAt };
  return { available: false, why: 'gateway-unavailable', message: 'Usage unavailable: the gateway cannot be reached right now.', checkedAt };
}

/** Only an issued key that was minted (its hash recorded) has usage to show. */
const hasUsage = (r: KeyRequest): r is KeyRequest & { keySha256: string } => r.state === 'issued' && Boolean(r.keySha256);

/** One request's usage, for its requester or an approver; null when it holds no issued key. */
export async function usageOf(deps: UsageDeps, user: User, id: string): Promise<UsageView | null> {
  const r = await readVisible(deps, user, id);
  if (!hasUsage(r)) return null;
  return toUsageView(await deps.usage.get(r.keySha256));
}

/**
 * Usage of several requests at once ("My requests": the issued keys on the page shown). Ids the
 * user may not see, or that hold no issued key, are left out rather than refused, so one
 * request revoked between two polls does not fail the whole batch.
 */
export async function usageOfMany(deps: UsageDeps, user: User, ids: readonly string[]): Promise<Record<string, UsageView>> {
  if (ids.length > MAX_USAGE_BATCH) throw new PortalError(422, 'invalid', `ids: at most ${MAX_USAGE_BATCH} ids per call`, { field: 'ids' });
  const out: Record<string, UsageView> = {};
  const queue = [...new Set(ids)];
  const worker = async (): Promise<void> => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      try {
        const view = await usageOf(deps, user, id);
        if (view) out[id] = view;
      } catch (err) {
        if (!(err instanceof PortalError && err.status === 404)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, queue.length) }, worker));
  return out;
}
