'use client';

import Link from 'next/link';
import type { ListPage } from '@/lib/portal/view';
import { Pager, useCursorTrail } from '../_components/pager';
import { TopUpMarker } from '../_components/top-up-marker';
import { StateBadge } from '../_components/state-badge';
import { Time } from '../_components/time';
import { useFollow } from '../_components/use-follow';
import { UsageGlance, useUsageGlance } from './usage-glance';

const pick = (json: unknown): ListPage | undefined => (Array.isArray((json as Partial<ListPage>).requests) ? (json as ListPage) : undefined);

export function MyRequests({ initial, pageSize }: { initial: ListPage; pageSize: number }) {
  // The page shown follows the person's requests: a held read answers when any of them changes.
  const trail = useCursorTrail();
  const query = new URLSearchParams({ limit: String(pageSize), ...(trail.cursor ? { cursor: trail.cursor } : {}) });
  const { data, error, loading } = useFollow(`/api/requests?${query}`, initial, pick);
  const usage = useUsageGlance(data.requests.filter((r) => r.state === 'issued' && !r.topUp).map((r) => r.id));
  if (data.total === 0 && trail.index === 0) {
    return (
      <p className="mt-6 text-slate-700">
        You have no requests yet. <Link href="/" className="text-indigo-800 underline">Pick a model from the catalog.</Link>
      </p>
    );
  }
  return (
    <>
      {error && <p className="mt-4 text-sm text-amber-900">{error}</p>}
      <ul aria-busy={loading} className={`mt-6 divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white ${loading ? 'opacity-60' : ''}`} aria-live="polite">
        {data.requests.map((r) => (
          <li key={r.id} className="flex flex-wrap items-center gap-x-4 gap-y-1 p-4" data-request={r.id}>
            <Link href={`/requests/${r.id}`} className="font-medium text-slate-900 underline-offset-2 hover:underline">
              {r.modelTitle}
            </Link>
            <TopUpMarker r={r} />
            <StateBadge state={r.state} />
            <span className="text-sm text-slate-600">
              requested <Time iso={r.createdAt} />
            </span>
            {r.state === 'issued' && !r.topUp && <UsageGlance usage={usage[r.id]} modelTitle={r.modelTitle} />}
            {r.reason && <span className="w-full text-sm text-slate-700">{r.reason}</span>}
          </li>
        ))}
      </ul>
      {/* Only someone with more than one page of requests needs to move between them. */}
      {(data.nextCursor !== undefined || trail.index > 0) && (
        <Pager
          label="Pages of my requests"
          index={trail.index}
          pageSize={pageSize}
          shown={data.requests.length}
          total={data.total}
          busy={loading}
          onNext={trail.next}
          onPrevious={trail.previous}
          {...(data.nextCursor ? { nextCursor: data.nextCursor } : {})}
        />
      )}
    </>
  );
}
