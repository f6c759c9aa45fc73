'use client';

import { useEffect, useRef, useState } from 'react';
import type { OffboardPreview, OffboardResult } from '@/lib/portal/offboarding';
import { postJson } from '../_components/api';

type Outcome = { ok: boolean; message: string };

/**
 * "Revoke all keys of this person": for someone who left. A confirmation dialog first shows what
 * it will do (from GET /api/offboarding), and asks for the reason the person is emailed.
 */
export function OffboardPerson({ email, onDone }: { email: string; onDone: (outcome: Outcome) => void }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)} className="rounded-md border border-rose-300 px-2.5 py-1 text-rose-900 hover:bg-rose-50">
        Revoke all<span className="sr-only"> keys of {email}</span>
      </button>
      {open && (
        <OffboardDialog
          email={email}
          onClose={(outcome) => {
            setOpen(false);
            if (outcome) onDone(outcome);
          }}
        />
      )}
    </>
  );
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

function OffboardDialog({ email, onClose }: { email: string; onClose: (outcome?: Outcome) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [preview, setPreview] = useState<OffboardPreview>();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    ref.current?.showModal();
    let stopped = false;
    void fetch(`/api/offboarding?${new URLSearchParams({ email })}`, { cache: 'no-store' })
      .then(async (res) => {
        const json = (await res.json().catch(() => undefined)) as { preview?: OffboardPreview; error?: { message?: string } } | undefined;
        if (stopped) return;
        if (res.ok && json?.preview) setPreview(json.preview);
        else setProblem(json?.error?.message ?? `The server answered ${res.status}.`);
      })
      .catch(() => !stopped && setProblem('The portal cannot be reached.'));
    return () => {
      stopped = true;
    };
  }, [email]);

  async function confirm() {
    setBusy(true);
    setProblem(undefined);
    const res = await postJson<{ result: OffboardResult }>('/api/offboarding', { email, reason });
    setBusy(false);
    if (!res.ok && res.status === 422) return setProblem(res.message);
    ref.current?.close();
    if (!res.ok) return onClose({ ok: false, message: `Nothing changed: ${res.message}` });
    const { revoked, closed } = res.data.result;
    onClose({
      ok: true,
      message: res.data.result.changed
        ? `${email}: ${plural(revoked.length, 'key', 'keys')} revoked, ${plural(closed.length, 'open request', 'open requests')} closed. Each key is deleted at the gateway and ${email} is emailed.`
        : `${email} holds no live key or open request; nothing to do.`,
    });
  }

  return (
    <dialog ref={ref} onCancel={() => onClose()} aria-labelledby="offboard-title" className="m-auto w-[min(32rem,calc(100vw-2rem))] rounded-lg p-0 shadow-xl backdrop:bg-slate-900/50">
      <form
        className="p-5"
        onSubmit={(e) => {
          e.preventDefault();
          void confirm();
        }}
      >
        <h2 id="offboard-title" className="text-lg font-semibold">
          Revoke all keys of {email}?
        </h2>
        <p className="mt-2 text-sm text-slate-700" data-testid="offboard-preview">
          {preview
            ? `This revokes ${plural(preview.issued, 'issued key', 'issued keys')} and closes ${plural(preview.open, 'open request', 'open requests')} (denied, never minted). For someone who has left.`
            : 'Counting their keys…'}
        </p>
        <label htmlFor="offboard-reason" className="mt-4 block text-sm font-medium text-slate-800">
          Reason
        </label>
        <textarea id="offboard-reason" value={reason} required maxLength={500} onChange={(e) => setReason(e.target.value)} rows={3} className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2 text-sm" />
        {problem && (
          <p role="alert" className="mt-2 text-sm text-rose-800">
            {problem}
          </p>
        )}
        <div className="mt-4 flex justify-end gap-2">
          <button
            type="button"
            onClick={() => {
              ref.current?.close();
              onClose();
            }}
            className="rounded-md px-3 py-2 text-sm text-slate-800 hover:bg-slate-100"
          >
            Cancel
          </button>
          <button type="submit" disabled={busy} className="rounded-md bg-rose-700 px-3 py-2 text-sm font-medium text-white hover:bg-rose-800 disabled:opacity-60">
            {busy ? 'Working…' : 'Confirm: revoke all'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
