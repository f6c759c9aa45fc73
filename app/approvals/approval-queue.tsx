'use client';

import Link from 'next/link';
import { useState } from 'react';
import { QUEUE_ORDER } from '@/lib/domain/state-names';
import type { ListPage } from '@/lib/portal/view';
import { ActionResult } from '../_components/action-result';
import { ReviewsList } from '../_components/reviews-list';
import { Pager, formatCount, useCursorTrail } from '../_components/pager';
import { TopUpMarker } from '../_components/top-up-marker';
import { StateBadge } from '../_components/state-badge';
import { Time } from '../_components/time';
import { useFollow } from '../_components/use-follow';
import { type Action, DecideButtons, DecisionDialog, type TierLimits } from './decision-dialog';
import { OffboardPerson } from './offboard-person';
const pick = (json: unknown): ListPage | undefined => (Array.isArray((json as Partial<ListPage>).requests) ? (json as ListPage) : undefined);

export function ApprovalQueue({ initial, pageSize, models, limits }: { initial: ListPage; pageSize: number; models: Array<{ id: string; title: string }>; limits: TierLimits }) {
  const [state, setState] = useState('all');
  const [model, setModel] = useState('');
  const [requester, setRequester] = useState('');
  // The page shown follows the queue (held reads); another filter starts again from the first page.
  const trail = useCursorTrail();
  const query = new URLSearchParams({ state, model, requester, limit: String(pageSize), ...(trail.cursor ? { cursor: trail.cursor } : {}) });
  const { data, error, loading } = useFollow(`/api/approvals?${query}`, initial, pick);
  const filter = (set: (value: string) => void) => (value: string) => {
    set(value);
    trail.reset();
  };
  const everyState = Object.values(data.counts).reduce((n, c) => n + c, 0);
  const [action, setAction] = useState<Action>();
  const [result, setResult] = useState<{ ok: boolean; message: string }>();

  const select = 'mt-1 w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm';
  return (
    <>
      <form className="mt-6 grid gap-3 sm:grid-cols-3" onSubmit={(e) => e.preventDefault()} aria-label="Filter the queue">
        <div>
          <label htmlFor="filter-state" className="block text-sm font-medium text-slate-800">
            State
          </label>
          <select id="filter-state" value={state} onChange={(e) => filter(setState)(e.target.value)} className={select}>
            <option value="all">All states ({formatCount(everyState)})</option>
            {QUEUE_ORDER.map((s) => (
              <option key={s} value={s}>
                {s} ({formatCount(data.counts[s])})
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="filter-model" className="block text-sm font-medium text-slate-800">
            Model
          </label>
          <select id="filter-model" value={model} onChange={(e) => filter(setModel)(e.target.value)} className={select}>
            <option value="">All models</option>
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.title}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="filter-requester" className="block text-sm font-medium text-slate-800">
            Requester
          </label>
          <input id="filter-requester" type="search" value={requester} onChange={(e) => filter(setRequester)(e.target.value)} placeholder="part of an email" className={select} />
        </div>
      </form>
      <ActionResult result={result} error={error} testId="action-result" />
      {data.total === 0 ? (
        <p className="mt-4 text-slate-700">Nothing matches these filters.</p>
      ) : (
        <div aria-busy={loading} className={`mt-2 overflow-x-auto rounded-lg border border-slate-200 bg-white ${loading ? 'opacity-60' : ''}`}>
          <table className="min-w-full text-left text-sm">
            <thead className="bg-slate-100 text-slate-800">
              <tr>
                <th scope="col" className="px-3 py-2 font-semibold">Requester</th>
                <th scope="col" className="px-3 py-2 font-semibold">Model</th>
                <th scope="col" className="px-3 py-2 font-semibold">State</th>
                <th scope="col" className="px-3 py-2 font-semibold">Requested</th>
                <th scope="col" className="px-3 py-2 font-semibold">Reason</th>
                <th scope="col" className="px-3 py-2 font-semibold">Actions</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-200">
              {data.requests.map((r) => (
                <tr key={r.id} data-request={r.id}>
                  <td className="px-3 py-2">{r.email}</td>
                  <td className="px-3 py-2">
                    <Link href={`/requests/${r.id}`} className="underline underline-offset-2">
                      {r.modelTitle}
                    </Link>
                    {r.renews && (
                      <span data-testid="renewal-marker" title={`renews request ${r.renews}`} className="ml-2 rounded bg-indigo-100 px-1.5 py-0.5 text-xs font-medium text-indigo-900 ring-1 ring-inset ring-indigo-300">
                        renewal
                      </span>
                    )}
                    <TopUpMarker r={r} />
                  </td>
                  <td className="px-3 py-2">
                    <StateBadge state={r.state} />
                  </td>
                  <td className="whitespace-nowrap px-3 py-2">
                    <Time iso={r.createdAt} />
                  </td>
                  <td className="max-w-xs px-3 py-2 text-slate-700">
                    {r.reason}
                    {r.justification && <p className="mt-1 whitespace-pre-line text-xs text-slate-800">Justification: {r.justification}</p>}
                    <div className="mt-1">
                      <ReviewsList r={r} compact />
                    </div>
                  </td>
                  <td className="whitespace-nowrap px-3 py-2">
                    {(r.state === 'in-review' || r.state === 'pending') && (
                      <DecideButtons request={r} onPick={setAction} />
                    )}
                    {r.state === 'issued' && (
                      <button type="button" onClick={() => setAction({ kind: 'revoke', request: r })} className="rounded-md bg-slate-700 px-2.5 py-1 text-white hover:bg-slate-800">
                        Revoke<span className="sr-only"> the key of {r.email} for {r.modelTitle}</span>
                      </button>
                    )}
                    {['pending', 'in-review', 'approved', 'issued'].includes(r.state) && <span className="ml-2 inline-block"><OffboardPerson email={r.email} onDone={setResult} /></span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(data.total > 0 || trail.index > 0) && (
        <Pager
          label="Queue pages"
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
      {action && (
        <DecisionDialog
          action={action}
          tier={limits[action.request.model]}
          onClose={(outcome) => {
            setAction(undefined);
            if (outcome) setResult(outcome);
          }}
        />
      )}
    </>
  );
}
