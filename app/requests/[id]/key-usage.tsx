'use client';

import type { UsageView } from '@/lib/portal/usage';
import { formatCount } from '../../_components/pager';
import { Time } from '../../_components/time';
import { UsageBar } from '../../_components/usage-bar';
import { usePoll } from '../../_components/use-poll';

type Answer = { usage: UsageView | null } | undefined;
const pick = (json: unknown): Answer => (json && typeof json === 'object' && 'usage' in json ? (json as { usage: UsageView | null }) : undefined);

/** Once a minute: the portal caches the gateway's answer for that long, so polling faster shows nothing new. */
const EVERY_MS = 60_000;

/** An issued key's spend against its budget, when the budget resets, its rate limits and expiry, from the gateway. */
export function KeyUsage({ id, modelTitle }: { id: string; modelTitle: string }) {
  const { data } = usePoll<Answer>(`/api/requests/${id}/usage`, undefined, pick, EVERY_MS);
  const usage = data?.usage;
  return (
    <section className="mt-6 rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="usage-title" data-testid="key-usage">
      <h2 id="usage-title" className="font-semibold text-slate-900">
        Usage
      </h2>
      {data === undefined ? (
        <p className="mt-2 text-sm text-slate-600">Asking the gateway…</p>
      ) : !usage ? (
        <p className="mt-2 text-sm text-slate-600">No usage to show for this key.</p>
      ) : !usage.available ? (
        <p className="mt-2 text-sm text-slate-700" role="status" data-testid="usage-unavailable">
          {usage.message}
        </p>
      ) : (
        <div className="mt-3 space-y-2 text-sm text-slate-800">
          <UsageBar usage={usage} label={`Spend of the ${modelTitle} key against its budget`} />
          <p>
            {usage.budgetResetAt ? (
              <>
                Budget resets <Time iso={usage.budgetResetAt} />
                {usage.budgetDuration && <> (every {usage.budgetDuration})</>}.
              </>
            ) : usage.maxBudget !== null ? (
              'The budget does not reset.'
            ) : null}{' '}
            {limits(usage.rpmLimit, usage.tpmLimit)}
          </p>
          {usage.expiresAt && (
            <p>
              Key expires <Time iso={usage.expiresAt} />.
            </p>
          )}
          <p className="text-xs text-slate-500">
            As the gateway reported at <Time iso={usage.checkedAt} />; refreshed every minute.
          </p>
        </div>
      )}
    </section>
  );
}

function limits(rpm: number | null, tpm: number | null): string {
  const parts = [rpm !== null ? `${formatCount(rpm)} requests` : '', tpm !== null ? `${formatCount(tpm)} tokens` : ''].filter(Boolean);
  return parts.length ? `Up to ${parts.join(' and ')} a minute.` : 'No rate limit.';
}
