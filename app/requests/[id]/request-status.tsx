'use client';

import { useState } from 'react';
import { FINAL_STATES } from '@/lib/domain/state-names';
import type { RequestView } from '@/lib/portal/view';
import { postJson } from '../../_components/api';
import { StateBadge } from '../../_components/state-badge';
import { Time } from '../../_components/time';
import { useFollow } from '../../_components/use-follow';
import { ReviewsList } from '../../_components/reviews-list';
import { RenewalPanel } from './renewal-panel';
import { TopUpPanel } from './top-up-panel';
import { TopUpSummary } from './top-up-summary';
import { KeySnippet } from './key-snippet';
import { KeyUsage } from './key-usage';

const pick = (json: unknown) => (json as { request?: RequestView }).request;

const EXPLAIN: Record<string, string> = {
  pending: 'The approval plugins are looking at your request.',
  'in-review': 'A reviewer has to decide. You will get an email either way.',
  approved: 'Approved. Your key is being created.',
  issued: 'Your key is ready.',
  denied: 'Your request was denied.',
  failed: 'The gateway refused to create the key. An administrator can retry it.',
  revoked: 'This key was revoked and no longer works.',
  expired: 'This key has expired.',
};

/** A top-up's states say what happened to the budget, not to a key. */
const TOP_UP_EXPLAIN: Record<string, string> = {
  pending: 'The approval plugins are looking at your top-up.',
  'in-review': 'A reviewer has to decide. You will get an email either way.',
  approved: 'Approved. The budget is being raised at the gateway.',
  issued: 'Applied: the key\'s budget was raised.',
  denied: 'Your top-up was denied.',
  failed: 'The top-up could not be applied; the key\'s budget is unchanged.',
  revoked: 'This top-up was taken back; the key\'s budget went back down.',
  expired: 'This temporary top-up has ended; the key\'s budget went back down.',
};

export function RequestStatus({ initial, own, gatewayUrl }: { initial: RequestView; own: boolean; gatewayUrl?: string }) {
  const done = FINAL_STATES.includes(initial.state);
  const { data: r, error } = useFollow(`/api/requests/${initial.id}`, initial, pick, !done);
  return (
    <article aria-labelledby="request-title">
      <p className="text-sm text-slate-600">
        Request <span className="font-mono">{r.id}</span>
      </p>
      <h1 id="request-title" className="mt-1 flex flex-wrap items-center gap-3 text-2xl font-semibold tracking-tight">
        {r.modelTitle}
        <StateBadge state={r.state} />
      </h1>
      <p className="mt-3 text-slate-800" aria-live="polite" data-testid="state-explained">
        {r.topUp ? TOP_UP_EXPLAIN[r.state] : EXPLAIN[r.state]}
      </p>
      {r.topUp && <TopUpSummary r={r} />}
      {r.state === 'in-review' && r.review.deadline && (
        <p className="mt-2 text-sm text-slate-700" data-testid="review-deadline">
          If nobody reviews it by <Time iso={r.review.deadline} />, it is denied and you are told.
        </p>
      )}
      {error && <p className="mt-2 text-sm text-amber-900">{error}</p>}
      {r.waiting && (
        <p className="mt-3 rounded-md bg-amber-50 p-3 text-sm text-amber-950">
          Waiting to retry ({r.waiting.step}, attempt {r.waiting.attempt}): {r.waiting.error}. Next try at <Time iso={r.waiting.until} />.
        </p>
      )}
      <dl className="mt-6 grid grid-cols-1 gap-x-6 gap-y-3 rounded-lg border border-slate-200 bg-white p-4 text-sm sm:grid-cols-[max-content_1fr]">
        <dt className="font-medium text-slate-700">Model</dt>
        <dd className="font-mono">{r.model}</dd>
        <dt className="font-medium text-slate-700">Requested by</dt>
        <dd>{r.email}</dd>
        <dt className="font-medium text-slate-700">Requested</dt>
        <dd>
          <Time iso={r.createdAt} />
        </dd>
        {r.decidedAt && (
          <>
            <dt className="font-medium text-slate-700">Decided</dt>
            <dd>
              <Time iso={r.decidedAt} /> {r.decidedBy && <>by {r.decidedBy}</>}
            </dd>
          </>
        )}
        {r.reason && (
          <>
            <dt className="font-medium text-slate-700">Reason</dt>
            <dd data-testid="reason">{r.reason}</dd>
          </>
        )}
        {r.justification && (
          <>
            <dt className="font-medium text-slate-700">Justification</dt>
            <dd data-testid="justification" className="whitespace-pre-line">
              {r.justification}
            </dd>
          </>
        )}
        {r.expiresAt && (
          <>
            <dt className="font-medium text-slate-700">Key expires</dt>
            <dd>
              <Time iso={r.expiresAt} />
            </dd>
          </>
        )}
      </dl>
      {(r.review.progress || r.review.reviews.length > 0 || r.changes) && (
        <section className="mt-6" aria-labelledby="reviews-title">
          <h2 id="reviews-title" className="text-lg font-semibold">
            Reviews <span className="text-sm font-normal text-slate-600">({r.review.policy} policy)</span>
          </h2>
          <div className="mt-2 rounded-lg border border-slate-200 bg-white p-4">
            <ReviewsList r={r} />
          </div>
        </section>
      )}
      {r.state === 'issued' && own && !r.topUp && <KeyDelivery r={r} gatewayUrl={gatewayUrl} />}
      {r.state === 'issued' && own && !r.topUp && <KeySnippet gatewayUrl={gatewayUrl} model={r.model} />}
      {r.state === 'issued' && !r.topUp && <KeyUsage id={r.id} modelTitle={r.modelTitle} />}
      {r.trace.length > 0 && (
        <section className="mt-8" aria-labelledby="trace-title">
          <h2 id="trace-title" className="text-lg font-semibold">
            How it was decided
          </h2>
          <ol className="mt-3 space-y-2 text-sm">
            {r.trace.map((t, i) => (
              <li key={i} className="rounded-md border border-slate-200 bg-white p-3">
                <span className="font-mono font-medium">{t.plugin}</span> answered <span className="font-semibold">{t.outcome}</span>
                {t.failed && <span className="text-rose-800"> (failed)</span>}: {t.reason}
              </li>
            ))}
          </ol>
        </section>
      )}
      {!r.topUp && <TopUpPanel r={r} own={own} />}
      {!r.topUp && <RenewalPanel r={r} own={own} />}
    </article>
  );
}

function KeyDelivery({ r, gatewayUrl }: { r: RequestView; gatewayUrl?: string }) {
  const [key, setKey] = useState<string>();
  const [problem, setProblem] = useState<string>();
  const [copied, setCopied] = useState(false);
  const [busy, setBusy] = useState(false);

  if (r.delivery === 'email') {
    return <p className="mt-6 rounded-md bg-emerald-50 p-4 text-sm text-emerald-950">Your key was sent to {r.email}.</p>;
  }
  async function show() {
    setBusy(true);
    const res = await postJson<{ key: string }>(`/api/requests/${r.id}/reveal`);
    setBusy(false);
    if (res.ok) setKey(res.data.key);
    else setProblem(res.message);
  }
  return (
    <section className="mt-6 rounded-lg border border-emerald-300 bg-emerald-50 p-4" aria-labelledby="key-title">
      <h2 id="key-title" className="font-semibold text-emerald-950">
        Your API key
      </h2>
      {key ? (
        <>
          <p className="mt-1 text-sm text-emerald-950">This is the only time the key is shown. Store it in your password manager or secret store now.</p>
          <div className="mt-3 flex flex-wrap items-center gap-2">
            <code data-testid="revealed-key" className="break-all rounded bg-white px-3 py-2 font-mono text-sm ring-1 ring-emerald-300">
              {key}
            </code>
            <button
              type="button"
              onClick={() => void navigator.clipboard.writeText(key).then(() => setCopied(true), () => setProblem('Copying failed; select the key and copy it by hand.'))}
              className="rounded-md bg-emerald-800 px-3 py-2 text-sm font-medium text-white hover:bg-emerald-900"
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
          </div>
          {gatewayUrl && <p className="mt-3 text-sm text-emerald-950">Use it against {gatewayUrl}.</p>}
        </>
      ) : r.revealedAt ? (
        <p className="mt-1 text-sm text-emerald-950" data-testid="already-revealed">
          The key was shown on <Time iso={r.revealedAt} />. It is not shown again; if you lost it, ask an approver to revoke it and request a new one.
        </p>
      ) : (
        <>
          <p className="mt-1 text-sm text-emerald-950">The key can be shown once. Have a safe place ready to store it.</p>
          <button type="button" disabled={busy || !r.revealable} onClick={() => void show()} className="mt-3 rounded-md bg-emerald-800 px-3 py-2 text-sm font-medium text-white hover:bg-emerald-900 disabled:opacity-60">
            {busy ? 'Revealing…' : 'Reveal key'}
          </button>
        </>
      )}
      {problem && (
        <p role="alert" className="mt-2 text-sm text-rose-800">
          {problem}
        </p>
      )}
    </section>
  );
}
