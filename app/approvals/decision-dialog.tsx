'use client';

import { useEffect, useRef, useState } from 'react';
import type { LimitChanges } from '@/lib/domain/review';
import type { RequestView } from '@/lib/portal/view';
import { postJson } from '../_components/api';
import { ReasonDialog } from '../_components/reason-dialog';

export type Action = { kind: 'approve' | 'deny' | 'revoke'; request: RequestView };
export type Outcome = { ok: boolean; message: string };
/** The tier's limits per model, for "approve with changes" (each change at most these). */
export type TierLimits = Record<string, Partial<Record<keyof LimitChanges, number | string>>>;

const VERB = { approve: 'Approve', deny: 'Deny', revoke: 'Revoke' } as const;

const FIELDS: Array<{ key: keyof LimitChanges; label: string; hint: string; numeric: boolean }> = [
  { key: 'max_budget', label: 'Budget (USD)', hint: 'lower than the tier', numeric: true },
  { key: 'duration', label: 'Lasts', hint: 'e.g. 7d or 12h, shorter than the tier', numeric: false },
  { key: 'rpm_limit', label: 'Requests a minute', hint: 'lower than the tier', numeric: true },
  { key: 'tpm_limit', label: 'Tokens a minute', hint: 'lower than the tier', numeric: true },
];

/** What the approver typed, as the API's `changes` (empty fields left out). */
function changesOf(values: Partial<Record<keyof LimitChanges, string>>): LimitChanges | undefined {
  const out: Record<string, number | string> = {};
  for (const f of FIELDS) {
    const v = values[f.key]?.trim();
    if (v) out[f.key] = f.numeric ? Number(v) : v;
  }
  return Object.keys(out).length ? (out as LimitChanges) : undefined;
}

/** Approve (optionally with a smaller key), deny or revoke one request, after confirming. */
export function DecisionDialog({ action, tier, onClose }: { action: Action; tier?: TierLimits[string]; onClose: (outcome?: Outcome) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const [withChanges, setWithChanges] = useState(false);
  const [values, setValues] = useState<Partial<Record<keyof LimitChanges, string>>>({});
  const r = action.request;

  useEffect(() => {
    ref.current?.showModal();
  }, []);

  async function confirm() {
    setBusy(true);
    setProblem(undefined);
    const changes = action.kind === 'approve' && withChanges ? changesOf(values) : undefined;
    const url = action.kind === 'revoke' ? `/api/requests/${r.id}/revoke` : `/api/requests/${r.id}/decision`;
    const body = action.kind === 'revoke' ? { reason } : { decision: action.kind, ...(reason.trim() ? { reason } : {}), ...(changes ? { changes } : {}) };
    const res = await postJson<{ request: RequestView }>(url, body);
    setBusy(false);
    // A field the server refused (above the tier, a bad duration): the dialog stays for a fix.
    if (!res.ok && (res.status === 422 || res.status === 400)) {
      setProblem(res.message);
      return;
    }
    ref.current?.close();
    if (!res.ok) return onClose({ ok: false, message: `Nothing changed: ${res.message}` });
    const after = res.data.request;
    const progress = after.state === 'in-review' && after.review.progress ? ` (${after.review.progress})` : '';
    onClose({ ok: true, message: `${VERB[action.kind]}d: ${r.email} for ${r.modelTitle} is now ${after.state}${progress}.` });
  }

  return (
    <ReasonDialog
      dialogRef={ref}
      id="confirm"
      title={
        <>
          {VERB[action.kind]} {action.kind === 'revoke' ? 'the key of ' : ''}
          {r.email} for {r.modelTitle}?
        </>
      }
      reason={reason}
      onReason={setReason}
      reasonRequired={action.kind !== 'approve'}
      problem={problem}
      busy={busy}
      confirmLabel={`Confirm: ${VERB[action.kind]}${withChanges && action.kind === 'approve' ? ' with changes' : ''}`}
      confirmColours={action.kind === 'approve' ? 'bg-emerald-700 hover:bg-emerald-800' : 'bg-rose-700 hover:bg-rose-800'}
      onConfirm={() => void confirm()}
      onCancel={() => onClose()}
    >
      <p className="mt-2 text-sm text-slate-700">
        {action.kind === 'approve' && (r.review.progress ? `Your approval counts toward: ${r.review.progress}.` : 'A key will be minted and emailed to the requester.')}
        {action.kind === 'deny' && 'The requester is emailed this reason.'}
        {action.kind === 'revoke' && 'The key stops working at the gateway and the requester is told why.'}
      </p>
      {r.justification && action.kind !== 'revoke' && (
        <p className="mt-2 whitespace-pre-line rounded bg-slate-50 p-2 text-sm text-slate-800">Justification: {r.justification}</p>
      )}
      {action.kind === 'approve' && (
        <fieldset className="mt-3 rounded-md border border-slate-200 p-3">
          <legend className="px-1 text-sm font-medium text-slate-800">
            <label className="inline-flex items-center gap-2">
              <input type="checkbox" checked={withChanges} onChange={(e) => setWithChanges(e.target.checked)} />
              Approve with changes (a smaller key)
            </label>
          </legend>
          {withChanges && (
            <div className="grid gap-2 sm:grid-cols-2">
              {FIELDS.map((f) => (
                <div key={f.key}>
                  <label htmlFor={`change-${f.key}`} className="block text-xs font-medium text-slate-800">
                    {f.label}
                  </label>
                  <input
                    id={`change-${f.key}`}
                    inputMode={f.numeric ? 'decimal' : 'text'}
                    value={values[f.key] ?? ''}
                    placeholder={tier?.[f.key] !== undefined ? `tier: ${tier[f.key]}` : 'no tier limit'}
                    onChange={(e) => setValues({ ...values, [f.key]: e.target.value })}
                    aria-describedby={`change-${f.key}-hint`}
                    className="mt-0.5 w-full rounded-md border border-slate-300 px-2 py-1 text-sm"
                  />
                  <p id={`change-${f.key}-hint`} className="text-xs text-slate-600">
                    {f.hint}
                  </p>
                </div>
              ))}
            </div>
          )}
        </fieldset>
      )}
    </ReasonDialog>
  );
}

/** A row's Approve and Deny: each opens the dialog above. */
export function DecideButtons({ request: r, onPick }: { request: RequestView; onPick: (action: Action) => void }) {
  return (
    <div className="flex gap-2">
      <button type="button" onClick={() => onPick({ kind: 'approve', request: r })} className="rounded-md bg-emerald-700 px-2.5 py-1 text-white hover:bg-emerald-800">
        Approve<span className="sr-only"> {r.email} for {r.modelTitle}</span>
      </button>
      <button type="button" onClick={() => onPick({ kind: 'deny', request: r })} className="rounded-md bg-rose-700 px-2.5 py-1 text-white hover:bg-rose-800">
        Deny<span className="sr-only"> {r.email} for {r.modelTitle}</span>
      </button>
    </div>
  );
}
