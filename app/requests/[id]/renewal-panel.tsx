'use client';

import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { useRef, useState } from 'react';
import { type ChainLink, type RenewalChain, isRenewable } from '@/lib/domain/renewal';
import { FINAL_STATES } from '@/lib/domain/state-names';
import type { RequestView } from '@/lib/portal/view';
import type { BudgetProposal } from '@/lib/budget/renewal-size';
import { StateBadge } from '../../_components/state-badge';
import { Time } from '../../_components/time';
import { useJson } from '../../_components/use-json';
import { useBringForward } from '../../_components/use-bring-forward';
import { useCreateRequest } from '../../_components/use-create-request';

/**
 * Renewal on a status page: the chain (what this request renews, what renews it) and, for the
 * requester of an issued or expired key, one button that asks for a new key for the same model.
 * The reminder email links here with `?renew=1`, which brings the button into view and focus;
 * the link itself never renews, since mail scanners open links.
 */
export function RenewalPanel({ r, own }: { r: RequestView; own: boolean }) {
  const { busy, problem, create } = useCreateRequest();
  // Undefined while the requester has not typed: the proposal's budget stands.
  const [typed, setTyped] = useState<string>();
  // The page renders per request (force-dynamic), so reading the query needs no Suspense boundary.
  const asked = useSearchParams().get('renew') === '1';
  const button = useRef<HTMLButtonElement>(null);

  const chain = useJson<RenewalChain>(`/api/requests/${r.id}/renewals`, r.state);

  useBringForward(asked, button, chain);

  const renewable = own && isRenewable(r);
  const proposal = useJson<{ proposal: BudgetProposal }>(renewable ? `/api/requests/${r.id}/renewal-proposal` : undefined)?.proposal;
  const budget = typed ?? (proposal?.maxBudget !== undefined ? String(proposal.maxBudget) : '');

  const underway = chain?.renewedBy.find((l) => !FINAL_STATES.includes(l.state) && l.state !== 'failed');
  const canRenew = own && isRenewable(r) && chain !== undefined && !underway;
  const hasChain = chain !== undefined && (chain.renews.length > 0 || chain.renewedBy.length > 0);
  if (!canRenew && !hasChain && !(asked && own)) return null;

  function renew() {
    void create(`/api/requests/${r.id}/renew`, budget.trim() ? { max_budget: Number(budget) } : {});
  }

  return (
    <section className="mt-8 rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="renewal-title" data-testid="renewal">
      <h2 id="renewal-title" className="text-lg font-semibold">
        Renewal
      </h2>
      {chain && hasChain && (
        <ol className="mt-3 space-y-2 text-sm" aria-label="Renewal chain" data-testid="renewal-chain">
          {chain.renews.map((l, i) => (
            <ChainItem key={l.id} link={l} label={i === chain.renews.length - 1 ? 'Renews' : 'Which renewed'} />
          ))}
          <li className="flex flex-wrap items-center gap-2 rounded-md bg-slate-50 p-2 ring-1 ring-slate-200" aria-current="page">
            <span className="w-28 font-medium text-slate-700">This request</span>
            <span className="font-mono">{r.id}</span>
            <StateBadge state={r.state} />
          </li>
          {chain.renewedBy.map((l) => (
            <ChainItem key={l.id} link={l} label="Renewed by" />
          ))}
        </ol>
      )}
      {underway && own && (
        <p className="mt-3 text-sm text-slate-700">
          {underway.state === 'issued' ? 'Renewed: the new key is on request ' : 'A renewal is on its way: '}
          <Link href={`/requests/${underway.id}`} className="font-mono underline">
            {underway.id}
          </Link>
          . This key keeps working until it expires.
        </p>
      )}
      {canRenew && (
        <div className="mt-3">
          <p className="text-sm text-slate-700">
            {r.state === 'issued'
              ? 'Renewing asks for a new key for the same model; it goes through approval like any request. This key keeps working until it expires.'
              : 'This key has expired. Renewing asks for a new key for the same model; it goes through approval like any request.'}
          </p>
          {proposal?.maxBudget !== undefined && (
            <label className="mt-3 flex max-w-xs flex-col gap-1 text-sm">
              <span className="font-medium">Budget for the new key (USD)</span>
              <input
                name="max_budget"
                type="number"
                min="0.01"
                step="0.01"
                {...(proposal.ceiling !== undefined ? { max: proposal.ceiling } : {})}
                value={budget}
                onChange={(e) => setTyped(e.target.value)}
                className="rounded-md border border-slate-300 px-2 py-1.5"
              />
              <span className="text-slate-700" data-testid="renewal-basis">
                Proposed because {proposal.basis}.{proposal.ceiling !== undefined && ` You may choose up to $${proposal.ceiling}.`}
              </span>
            </label>
          )}
          <button
            ref={button}
            type="button"
            disabled={busy}
            onClick={renew}
            className={`mt-3 rounded-md bg-slate-900 px-3 py-2 text-sm font-medium text-white hover:bg-slate-800 disabled:opacity-60 ${asked ? 'ring-4 ring-amber-300' : ''}`}
          >
            {busy ? 'Renewing…' : 'Renew key'}
          </button>
        </div>
      )}
      {asked && own && !canRenew && chain && !underway && (
        <p className="mt-3 text-sm text-slate-700">This request is {r.state}; only an issued or expired key can be renewed. Request the model again from the catalog.</p>
      )}
      {problem && (
        <p role="alert" className="mt-2 text-sm text-rose-800">
          {problem}
        </p>
      )}
    </section>
  );
}

function ChainItem({ link, label }: { link: ChainLink; label: string }) {
  return (
    <li className="flex flex-wrap items-center gap-2 p-2">
      <span className="w-28 font-medium text-slate-700">{label}</span>
      <Link href={`/requests/${link.id}`} className="font-mono underline" data-testid="chain-link">
        {link.id}
      </Link>
      <StateBadge state={link.state} />
      {link.expiresAt && (
        <span className="text-slate-600">
          expires <Time iso={link.expiresAt} />
        </span>
      )}
    </li>
  );
}
