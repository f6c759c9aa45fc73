'use client';

import { useEffect, useRef, useState } from 'react';
import type { OffboardPreview, OffboardResult } from '@/lib/portal/offboarding';
import { postJson } from '../_components/api';
import { ReasonDialog } from '../_components/reason-dialog';

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
    <ReasonDialog
      dialogRef={ref}
      id="offboard"
      title={<>Revoke all keys of {email}?</>}
      reason={reason}
      onReason={setReason}
      reasonRequired
      problem={problem}
      busy={busy}
      confirmLabel="Confirm: revoke all"
      confirmColours="bg-rose-700 hover:bg-rose-800"
      onConfirm={() => void confirm()}
      onCancel={() => onClose()}
    >
      <p className="mt-2 text-sm text-slate-700" data-testid="offboard-preview">
        {preview
          ? `This revokes ${plural(preview.issued, 'issued key', 'issued keys')} and closes ${plural(preview.open, 'open request', 'open requests')} (denied, never minted). For someone who has left.`
          : 'Counting their keys…'}
      </p>
    </ReasonDialog>
  );
}
