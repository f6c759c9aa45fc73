'use client';

import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { useRef, useState } from 'react';
import type { TopUpView } from '@/lib/portal/top-up';
import type { RequestView } from '@/lib/portal/view';
import { StateBadge } from '../../_components/state-badge';
import { Time } from '../../_components/time';
import { useJson } from '../../_components/use-json';
import { useBringForward } from '../../_components/use-bring-forward';
import { useCreateRequest } from '../../_components/use-create-request';

const usd = (n: number): string => `$${n.toLocaleString('en-US', { maximumFractionDigits: 2 })}`;

/**
 * Budget on a key's status page: its top-ups (asked, applied, put back) and, for the requester of
 * an issued key, a form asking for more: how much, until when (empty: for good), and why. It goes
 * through approval like any request. The spend alert email links here with `?topup=1`.
 */
export function TopUpPanel({ r, own }: { r: RequestView; own: boolean }) {
  const asked = useSearchParams().get('topup') === '1';
  const [amount, setAmount] = useState('');
  const [until, setUntil] = useState('');
  const [reason, setReason] = useState('');
  const { busy, problem, create } = useCreateRequest();
  const first = useRef<HTMLInputElement>(null);

  const history = useJson<{ topUps: TopUpView[] }>(`/api/requests/${r.id}/top-ups`, r.state)?.topUps;

  useBringForward(asked, first, history);

  const open = history?.find((t) => ['pending', 'in-review', 'approved'].includes(t.state));
  const canAsk = own && r.state === 'issued' && history !== undefined && !open;
  if (!canAsk && !history?.length) return null;

  function ask(e: React.FormEvent) {
    e.preventDefault();
    void create(`/api/requests/${r.id}/top-ups`, { amount: Number(amount), reason, ...(until ? { until } : {}) });
  }

  return (
    <section className="mt-8 rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="top-up-title" data-testid="top-ups">
      <h2 id="top-up-title" className="text-lg font-semibold">
        Budget top-ups
      </h2>
      {history && history.length > 0 && (
        <ol className="mt-3 space-y-2 text-sm" aria-label="Top-ups of this key" data-testid="top-up-history">
          {history.map((t) => (
            <li key={t.id} className="flex flex-wrap items-center gap-2 rounded-md bg-slate-50 p-2 ring-1 ring-slate-200">
              <Link href={`/requests/${t.id}`} className="font-mono underline">
                {t.id}
              </Link>
              <StateBadge state={t.state} />
              <span>
                {usd(t.amount)}
                {t.until ? <> until <Time iso={t.until} /></> : ' for good'}
              </span>
              {t.from !== undefined && t.to !== undefined && (
                <span className="text-slate-700">
                  budget {usd(t.from)} → {usd(t.to)}
                  {t.back !== undefined && <>, back to {usd(t.back)}</>}
                </span>
              )}
            </li>
          ))}
        </ol>
      )}
      {open && own && (
        <p className="mt-3 text-sm text-slate-700">
          A top-up is on its way:{' '}
          <Link href={`/requests/${open.id}`} className="font-mono underline">
            {open.id}
          </Link>
          . Ask for another once it is decided.
        </p>
      )}
      {canAsk && (
        <form onSubmit={ask} className="mt-3 grid gap-3 text-sm sm:grid-cols-2">
          <p className="text-slate-700 sm:col-span-2">Need more budget? Ask for a top-up; it goes through approval like any request.</p>
          <label className="flex flex-col gap-1">
            <span className="font-medium">Amount (USD)</span>
            <input ref={first} name="amount" type="number" min="0.01" step="0.01" required value={amount} onChange={(e) => setAmount(e.target.value)} className="rounded-md border border-slate-300 px-2 py-1.5" />
          </label>
          <label className="flex flex-col gap-1">
            <span className="font-medium">Until (empty: for good)</span>
            <input name="until" type="date" value={until} onChange={(e) => setUntil(e.target.value)} className="rounded-md border border-slate-300 px-2 py-1.5" />
          </label>
          <label className="flex flex-col gap-1 sm:col-span-2">
            <span className="font-medium">Why</span>
            <textarea name="reason" required maxLength={1000} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} className="rounded-md border border-slate-300 px-2 py-1.5" />
          </label>
          <div className="sm:col-span-2">
            <button type="submit" disabled={busy} className={`rounded-md bg-slate-900 px-3 py-2 font-medium text-white hover:bg-slate-800 disabled:opacity-60 ${asked ? 'ring-4 ring-amber-300' : ''}`}>
              {busy ? 'Asking…' : 'Ask for a top-up'}
            </button>
          </div>
        </form>
      )}
      {problem && (
        <p role="alert" className="mt-2 text-sm text-rose-800">
          {problem}
        </p>
      )}
    </section>
  );
}
