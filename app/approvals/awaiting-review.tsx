'use client';

import Link from 'next/link';
import { useEffect, useRef, useState } from 'react';
import type { Awaiting, BulkItem } from '@/lib/portal/awaiting';
import { postJson } from '../_components/api';
import { ActionResult } from '../_components/action-result';
import { ReasonDialog } from '../_components/reason-dialog';
import { ReviewsList } from '../_components/reviews-list';
import { SpendCell } from './spend-cell';
import { Time } from '../_components/time';
import { usePoll } from '../_components/use-poll';
import { type Action, DecideButtons, DecisionDialog, type Outcome, type TierLimits } from './decision-dialog';

const pick = (json: unknown): Awaiting | undefined => (Array.isArray((json as Partial<Awaiting>).requests) ? (json as Awaiting) : undefined);

/**
 * What waits for this person's review: as an approver, as a requester's manager, or as someone's
 * delegate. Select several and approve them at once: a preview says what each approval will do,
 * and one confirmation applies them all.
 */
export function AwaitingReview({ initial, limits }: { initial: Awaiting; limits: TierLimits }) {
  const { data, error } = usePoll('/api/approvals/awaiting', initial, pick, 3000);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [action, setAction] = useState<Action>();
  const [bulk, setBulk] = useState(false);
  const [result, setResult] = useState<Outcome>();
  const ids = data.requests.map((r) => r.id);
  const chosen = ids.filter((id) => selected.has(id));
  const toggle = (id: string) => setSelected((s) => new Set(s.has(id) ? [...s].filter((x) => x !== id) : [...s, id]));

  return (
    <section className="mt-6" aria-labelledby="awaiting-title">
      <h2 id="awaiting-title" className="text-lg font-semibold">
        Awaiting your review <span className="text-sm font-normal text-slate-700">({data.total})</span>
      </h2>
      <ActionResult result={result} error={error} testId="awaiting-result" className="mt-2" />
      {data.requests.length === 0 ? (
        <p className="text-slate-700">Nothing waits for you.</p>
      ) : (
        <>
          <div className="flex items-center gap-3">
            <button
              type="button"
              disabled={chosen.length === 0}
              onClick={() => setBulk(true)}
              className="rounded-md bg-emerald-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-emerald-800 disabled:opacity-50"
            >
              Approve selected ({chosen.length})
            </button>
          </div>
          <div className="mt-2 overflow-x-auto rounded-lg border border-slate-200 bg-white">
            <table className="min-w-full text-left text-sm">
              <thead className="bg-slate-100 text-slate-800">
                <tr>
                  <th scope="col" className="px-3 py-2">
                    <input
                      type="checkbox"
                      aria-label="Select all awaiting requests"
                      checked={chosen.length === ids.length}
                      onChange={(e) => setSelected(new Set(e.target.checked ? ids : []))}
                    />
                  </th>
                  <th scope="col" className="px-3 py-2 font-semibold">Requester</th>
                  <th scope="col" className="px-3 py-2 font-semibold">Model</th>
                  <th scope="col" className="px-3 py-2 font-semibold">Requested</th>
                  <th scope="col" className="px-3 py-2 font-semibold">Why, spend, and reviews so far</th>
                  <th scope="col" className="px-3 py-2 font-semibold">Actions</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-200">
                {data.requests.map((r) => (
                  <tr key={r.id} data-awaiting={r.id}>
                    <td className="px-3 py-2">
                      <input type="checkbox" aria-label={`Select ${r.email} for ${r.modelTitle}`} checked={selected.has(r.id)} onChange={() => toggle(r.id)} />
                    </td>
                    <td className="px-3 py-2">{r.email}</td>
                    <td className="px-3 py-2">
                      <Link href={`/requests/${r.id}`} className="underline underline-offset-2">
                        {r.modelTitle}
                      </Link>
                      <span className="ml-2 text-xs text-slate-700">({r.review.policy})</span>
                    </td>
                    <td className="whitespace-nowrap px-3 py-2">
                      <Time iso={r.createdAt} />
                      {r.review.deadline && (
                        <p className="text-xs text-slate-700" data-testid="review-deadline">
                          denied unless reviewed by <Time iso={r.review.deadline} />
                        </p>
                      )}
                    </td>
                    <td className="max-w-md px-3 py-2 text-slate-800">
                      {r.justification && <p className="whitespace-pre-line">{r.justification}</p>}
                      <SpendCell request={r} {...(data.spend?.[r.id] ? { figures: data.spend[r.id] } : {})} />
                      <ReviewsList r={r} compact />
                    </td>
                    <td className="whitespace-nowrap px-3 py-2">
                      <DecideButtons request={r} onPick={setAction} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
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
      {bulk && (
        <BulkDialog
          ids={chosen}
          onClose={(outcome) => {
            setBulk(false);
            if (outcome) {
              setResult(outcome);
              setSelected(new Set());
            }
          }}
        />
      )}
    </section>
  );
}

/** Bulk approval: what each approval will do first (nothing changes), then one confirmation. */
function BulkDialog({ ids, onClose }: { ids: string[]; onClose: (outcome?: Outcome) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [preview, setPreview] = useState<BulkItem[]>();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    ref.current?.showModal();
    let stopped = false;
    void postJson<{ results: BulkItem[] }>('/api/approvals/bulk', { ids, decision: 'approve', preview: true }).then((res) => {
      if (stopped) return;
      if (res.ok) setPreview(res.data.results);
      else setProblem(res.message);
    });
    return () => {
      stopped = true;
    };
  }, [ids]);

  async function confirm() {
    setBusy(true);
    setProblem(undefined);
    const res = await postJson<{ results: BulkItem[] }>('/api/approvals/bulk', { ids, decision: 'approve', ...(reason.trim() ? { reason } : {}) });
    setBusy(false);
    if (!res.ok) return setProblem(res.message);
    ref.current?.close();
    const done = res.data.results.filter((r) => r.ok).length;
    const refused = res.data.results.filter((r) => !r.ok);
    onClose({ ok: refused.length === 0, message: `${done} of ${ids.length} approved.${refused.length ? ` Not done: ${refused.map((r) => `${r.id} (${r.says})`).join('; ')}.` : ''}` });
  }

  return (
    <ReasonDialog
      dialogRef={ref}
      id="bulk"
      title={<>Approve {ids.length} requests?</>}
      reason={reason}
      onReason={setReason}
      reasonRequired={false}
      problem={problem}
      busy={busy || !preview}
      confirmLabel={`Confirm: approve ${preview?.filter((p) => p.ok).length ?? ''}`.trim()}
      confirmColours="bg-emerald-700 hover:bg-emerald-800"
      onConfirm={() => void confirm()}
      onCancel={() => onClose()}
    >
      {!preview && !problem && <p className="mt-2 text-sm text-slate-700">Working out what each approval will do…</p>}
      {preview && (
        <ul className="mt-2 max-h-64 space-y-1 overflow-y-auto text-sm" data-testid="bulk-preview">
          {preview.map((p) => (
            <li key={p.id} className={p.ok ? 'text-slate-900' : 'text-rose-900'}>
              <span className="font-mono">{p.id}</span>: {p.says}
            </li>
          ))}
        </ul>
      )}
    </ReasonDialog>
  );
}
