'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useMemo, useState } from 'react';
import type { CatalogModel } from '@/lib/portal/catalog';
import { postJson } from './api';
import { ModelIcon } from './model-icon';

export function Catalog({ models, signedIn }: { models: CatalogModel[]; signedIn: boolean }) {
  const [query, setQuery] = useState('');
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!q) return models;
    return models.filter((m) => `${m.title} ${m.id} ${m.description}`.toLowerCase().includes(q));
  }, [models, query]);
  return (
    <section aria-label="Models" className="mt-6">
      <label htmlFor="model-search" className="block text-sm font-medium text-slate-800">
        Search models
      </label>
      <input
        id="model-search"
        type="search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        placeholder="e.g. claude, gpt, mistral"
        className="mt-1 w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-slate-500 focus:outline-none focus:ring-2 focus:ring-slate-300 sm:max-w-sm"
      />
      <p className="sr-only" aria-live="polite">
        {shown.length} models shown
      </p>
      {shown.length === 0 && <p className="mt-6 text-slate-700">No model matches “{query}”.</p>}
      <ul className="mt-6 grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
        {shown.map((m) => (
          <ModelCard key={m.id} model={m} signedIn={signedIn} />
        ))}
      </ul>
    </section>
  );
}

function ModelCard({ model, signedIn }: { model: CatalogModel; signedIn: boolean }) {
  const router = useRouter();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<{ message: string; existing?: string }>();
  const [justification, setJustification] = useState('');
  const asks = model.justification;

  async function submit() {
    setBusy(true);
    setProblem(undefined);
    const res = await postJson<{ request: { id: string } }>('/api/requests', { model: model.id, ...(asks ? { justification } : {}) });
    setBusy(false);
    if (res.ok) {
      router.push(`/requests/${res.data.request.id}`);
      return;
    }
    const existing = (res.data as { request?: { id?: string } } | undefined)?.request?.id;
    setProblem({ message: res.message, ...(existing ? { existing } : {}) });
    // A justification the server found short stays open for editing; anything else starts over.
    if (!(asks && res.status === 422)) setConfirming(false);
  }

  return (
    <li className="flex flex-col rounded-lg border border-slate-200 bg-white p-4 shadow-sm" data-model={model.id}>
      <div className="flex items-start gap-3">
        <ModelIcon icon={model.icon} title={model.title} />
        <div className="min-w-0">
          <h2 className="font-semibold text-slate-900">{model.title}</h2>
          <p className="truncate font-mono text-xs text-slate-600">{model.id}</p>
        </div>
        {model.featured && <span className="ml-auto rounded-full bg-indigo-100 px-2 py-0.5 text-xs font-medium text-indigo-900">Featured</span>}
      </div>
      <p className="mt-3 flex-1 text-sm text-slate-700">{model.description}</p>
      {model.approval && (
        <p className="mt-2 text-xs text-slate-700" data-testid="approval-policy">
          If it needs review: {model.approval}.
        </p>
      )}
      {model.docsUrl && (
        <a href={model.docsUrl} className="mt-2 text-sm text-indigo-800 underline underline-offset-2" target="_blank" rel="noreferrer noopener">
          Documentation<span className="sr-only"> for {model.title}</span>
        </a>
      )}
      <div className="mt-4">
        {!signedIn ? (
          <Link href={`/signin?callbackUrl=${encodeURIComponent('/')}`} className="inline-block rounded-md bg-slate-900 px-3 py-2 text-sm font-medium text-white hover:bg-slate-700">
            Sign in to request
          </Link>
        ) : confirming ? (
          <form
            className="flex flex-wrap items-center gap-2"
            aria-label={`Confirm request for ${model.title}`}
            onSubmit={(e) => {
              e.preventDefault();
              void submit();
            }}
          >
            {asks && (
              <div className="w-full">
                <label htmlFor={`why-${model.id}`} className="block text-sm font-medium text-slate-800">
                  Why do you need this key?
                </label>
                <textarea
                  id={`why-${model.id}`}
                  value={justification}
                  required
                  minLength={asks.minLength}
                  maxLength={1000}
                  rows={3}
                  onChange={(e) => setJustification(e.target.value)}
                  aria-describedby={`why-${model.id}-hint`}
                  className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2 text-sm"
                />
                <p id={`why-${model.id}-hint`} className="text-xs text-slate-700">
                  Approvers read this. At least {asks.minLength} characters ({justification.trim().length} so far).
                </p>
              </div>
            )}
            <button type="submit" disabled={busy} className="rounded-md bg-emerald-700 px-3 py-2 text-sm font-medium text-white hover:bg-emerald-800 disabled:opacity-60">
              {busy ? 'Submitting…' : 'Submit request'}
            </button>
            <button type="button" disabled={busy} onClick={() => setConfirming(false)} className="rounded-md px-3 py-2 text-sm text-slate-800 hover:bg-slate-100">
              Cancel
            </button>
          </form>
        ) : (
          <button type="button" onClick={() => setConfirming(true)} className="rounded-md bg-slate-900 px-3 py-2 text-sm font-medium text-white hover:bg-slate-700">
            Request key<span className="sr-only"> for {model.title}</span>
          </button>
        )}
        {problem && (
          <p role="alert" className="mt-2 text-sm text-rose-800">
            {problem.message}
            {problem.existing && (
              <>
                {' '}
                <Link href={`/requests/${problem.existing}`} className="underline">
                  See that request
                </Link>
              </>
            )}
          </p>
        )}
      </div>
    </li>
  );
}
