'use client';

import { useEffect, useRef, useState } from 'react';
import type { OffboardingRecord } from '@/lib/people/types';
import type { LiftResult } from '@/lib/portal/offboarding';
import { postJson } from '../_components/api';
import { ReasonDialog } from '../_components/reason-dialog';

/**
 * Who was offboarded, and who was let back in since. "Let back in" asks for the reason (it is
 * recorded beside the offboarding); the person's ended requests stay ended.
 */
export function OffboardedPeople({ initial }: { initial: OffboardingRecord[] }) {
  const [people, setPeople] = useState(initial);
  const [lifting, setLifting] = useState<string>();
  const [result, setResult] = useState<{ ok: boolean; message: string }>();
  if (people.length === 0) return null;
  return (
    <section aria-labelledby="offboarded-title" className="mt-10">
      <h2 id="offboarded-title" className="text-lg font-semibold">
        Offboarded people
      </h2>
      <p className="mt-1 text-sm text-slate-700">They cannot sign in, request, renew or reveal a key until someone lets them back in.</p>
      {result && (
        <p role="status" className={`mt-3 rounded-md p-3 text-sm ${result.ok ? 'bg-emerald-50 text-emerald-950' : 'bg-rose-50 text-rose-900'}`}>
          {result.message}
        </p>
      )}
      <table className="mt-3 w-full text-left text-sm">
        <thead className="text-slate-600">
          <tr>
            <th className="py-2 pr-4 font-medium">Person</th>
            <th className="py-2 pr-4 font-medium">Offboarded</th>
            <th className="py-2 pr-4 font-medium">Why</th>
            <th className="py-2 font-medium">Now</th>
          </tr>
        </thead>
        <tbody>
          {people.map((p) => (
            <tr key={p.requester} className="border-t border-slate-200" data-testid="offboarded-row">
              <td className="py-2 pr-4">{p.email}</td>
              <td className="py-2 pr-4">
                {p.at.slice(0, 16).replace('T', ' ')} UTC by {p.by}
              </td>
              <td className="py-2 pr-4">{p.reason}</td>
              <td className="py-2">
                {p.lifted ? (
                  <span>
                    Let back in {p.lifted.at.slice(0, 10)} by {p.lifted.by}
                  </span>
                ) : (
                  <button type="button" onClick={() => setLifting(p.email)} className="rounded-md border border-slate-300 px-2.5 py-1 hover:bg-slate-50">
                    Let back in<span className="sr-only"> {p.email}</span>
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {lifting && (
        <LiftDialog
          email={lifting}
          onClose={(outcome) => {
            setLifting(undefined);
            if (!outcome) return;
            setResult(outcome.result);
            if (outcome.record) setPeople((list) => list.map((p) => (p.email === outcome.record?.email ? outcome.record : p)));
          }}
        />
      )}
    </section>
  );
}

function LiftDialog({ email, onClose }: { email: string; onClose: (outcome?: { result: { ok: boolean; message: string }; record?: OffboardingRecord }) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  useEffect(() => ref.current?.showModal(), []);

  async function confirm() {
    setBusy(true);
    setProblem(undefined);
    const res = await postJson<{ result: LiftResult }>('/api/offboarding', { email, reason }, 'DELETE');
    setBusy(false);
    if (!res.ok && res.status === 422) return setProblem(res.message);
    ref.current?.close();
    if (!res.ok) return onClose({ result: { ok: false, message: `Nothing changed: ${res.message}` } });
    const { changed, record } = res.data.result;
    onClose({ result: { ok: true, message: changed ? `${email} may sign in and request keys again.` : `${email} was not offboarded; nothing to do.` }, ...(record ? { record } : {}) });
  }

  return (
    <ReasonDialog
      dialogRef={ref}
      id="lift"
      title={<>Let {email} back in?</>}
      reason={reason}
      onReason={setReason}
      reasonRequired
      problem={problem}
      busy={busy}
      confirmLabel="Confirm: let back in"
      confirmColours="bg-slate-800 hover:bg-slate-900"
      onConfirm={() => void confirm()}
      onCancel={() => onClose()}
    >
      <p className="mt-2 text-sm text-slate-700">They may sign in, request and renew keys again. Their revoked keys and closed requests stay as they are.</p>
    </ReasonDialog>
  );
}
