'use client';

import { useState } from 'react';
import type { DelegationState } from '@/lib/portal/delegation';
import type { DelegationRecord } from '@/lib/people/types';
import { postJson } from '../_components/api';
import { Time } from '../_components/time';

/** Name a delegate until a date, end it, and see who delegated to you. */
export function DelegationForm({ initial }: { initial: DelegationState }) {
  const [state, setState] = useState(initial);
  const [delegate, setDelegate] = useState('');
  const [until, setUntil] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();

  async function save() {
    setBusy(true);
    const res = await postJson<{ delegation: DelegationRecord }>('/api/delegation', { delegate, until }, 'PUT');
    setBusy(false);
    if (!res.ok) return setMessage({ ok: false, text: res.message });
    setState({ ...state, mine: res.data.delegation });
    setMessage({ ok: true, text: `${res.data.delegation.delegate} reviews for you until ${res.data.delegation.until}.` });
  }

  async function end() {
    setBusy(true);
    const res = await postJson<{ ended: boolean }>('/api/delegation', {}, 'DELETE');
    setBusy(false);
    if (!res.ok) return setMessage({ ok: false, text: res.message });
    const { mine: _, ...rest } = state;
    setState(rest);
    setMessage({ ok: true, text: 'Your delegation ended: you review for yourself again.' });
  }

  return (
    <>
      <div aria-live="polite" className="mt-4 min-h-6">
        {message && (
          <p role={message.ok ? 'status' : 'alert'} className={`rounded-md p-3 text-sm ${message.ok ? 'bg-emerald-50 text-emerald-950' : 'bg-rose-50 text-rose-900'}`}>
            {message.text}
          </p>
        )}
      </div>
      {state.mine ? (
        <section className="mt-4 rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="mine-title" data-testid="my-delegation">
          <h2 id="mine-title" className="font-semibold">
            Your delegation
          </h2>
          <p className="mt-1 text-sm text-slate-800">
            {state.mine.delegate} reviews for you until <Time iso={state.mine.until} />.
          </p>
          <button type="button" disabled={busy} onClick={() => void end()} className="mt-3 rounded-md border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-50">
            End it now
          </button>
        </section>
      ) : null}
      <form
        className="mt-4 grid gap-3 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-[1fr_max-content_max-content] sm:items-end"
        aria-label="Name a delegate"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <div>
          <label htmlFor="delegate" className="block text-sm font-medium text-slate-800">
            Delegate&apos;s email
          </label>
          <input id="delegate" type="email" required value={delegate} onChange={(e) => setDelegate(e.target.value)} className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2 text-sm" />
        </div>
        <div>
          <label htmlFor="until" className="block text-sm font-medium text-slate-800">
            Until (end of day, UTC)
          </label>
          <input id="until" type="date" required value={until} onChange={(e) => setUntil(e.target.value)} className="mt-1 rounded-md border border-slate-300 px-3 py-2 text-sm" />
        </div>
        <button type="submit" disabled={busy} className="rounded-md bg-slate-900 px-3 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-60">
          {state.mine ? 'Replace delegation' : 'Delegate'}
        </button>
      </form>
      <section className="mt-8" aria-labelledby="to-me-title">
        <h2 id="to-me-title" className="text-lg font-semibold">
          You review for
        </h2>
        {state.toMe.length === 0 ? (
          <p className="mt-2 text-sm text-slate-700">Nobody has delegated to you.</p>
        ) : (
          <ul className="mt-2 space-y-1 text-sm" data-testid="delegated-to-me">
            {state.toMe.map((d) => (
              <li key={d.approver}>
                {d.approver}, until <Time iso={d.until} />
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
