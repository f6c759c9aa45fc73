'use client';

import Link from 'next/link';
import type { RequestView } from '@/lib/portal/view';
import { StateBadge } from '../_components/state-badge';
import { Time } from '../_components/time';
import { usePoll } from '../_components/use-poll';

const pick = (json: unknown) => (json as { requests?: RequestView[] }).requests;

export function MyRequests({ initial }: { initial: RequestView[] }) {
  const { data, error } = usePoll('/api/requests', initial, pick);
  if (data.length === 0) {
    return (
      <p className="mt-6 text-slate-700">
        You have no requests yet. <Link href="/" className="text-indigo-800 underline">Pick a model from the catalog.</Link>
      </p>
    );
  }
  return (
    <>
      {error && <p className="mt-4 text-sm text-amber-900">{error}</p>}
      <ul className="mt-6 divide-y divide-slate-200 rounded-lg border border-slate-200 bg-white" aria-live="polite">
        {data.map((r) => (
          <li key={r.id} className="flex flex-wrap items-center gap-x-4 gap-y-1 p-4" data-request={r.id}>
            <Link href={`/requests/${r.id}`} className="font-medium text-slate-900 underline-offset-2 hover:underline">
              {r.modelTitle}
            </Link>
            <StateBadge state={r.state} />
            <span className="text-sm text-slate-600">
              requested <Time iso={r.createdAt} />
            </span>
            {r.reason && <span className="w-full text-sm text-slate-700">{r.reason}</span>}
          </li>
        ))}
      </ul>
    </>
  );
}
