'use client';

import type { UsageView } from '@/lib/portal/usage';
import { MAX_USAGE_BATCH } from '@/lib/validations/usage-batch';
import { usePoll } from '../_components/use-poll';
import { UsageBar } from '../_components/usage-bar';

type Batch = Record<string, UsageView>;
const pick = (json: unknown): Batch | undefined => {
  const usage = (json as { usage?: unknown } | undefined)?.usage;
  return usage && typeof usage === 'object' ? (usage as Batch) : undefined;
};
const EMPTY: Batch = {};

/**
 * Usage of the issued keys on the page shown, in one call a minute (the portal caches each key's
 * answer for that long and bounds its calls to the gateway): a person with a thousand requests
 * costs a page's worth of lookups, not a thousand.
 */
export function useUsageGlance(issuedIds: readonly string[]): Batch {
  // The batch endpoint answers at most MAX_USAGE_BATCH ids; a page bigger than that shows the first ones.
  const ids = [...issuedIds].sort().slice(0, MAX_USAGE_BATCH).join(',');
  const { data } = usePoll(`/api/requests/usage?ids=${ids}`, EMPTY, pick, 60_000, ids.length > 0);
  return ids.length > 0 ? data : EMPTY;
}

/** The mini bar of one row of "My requests". */
export function UsageGlance({ usage, modelTitle }: { usage: UsageView | undefined; modelTitle: string }) {
  if (!usage) return null;
  if (!usage.available) return <span className="text-xs text-slate-600">Usage unavailable</span>;
  return <UsageBar compact usage={usage} label={`Spend of the ${modelTitle} key against its budget`} />;
}
