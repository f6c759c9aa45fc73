'use client';

import { type ReactNode, type RefObject } from 'react';

/**
 * The approver's confirmation: a modal with what the action will do, a reason (emailed to the
 * requester), the server's objection if it had one, and Cancel / Confirm. The caller owns the
 * state and the call; this is only the form, shared so every confirmation looks and behaves alike.
 */
export function ReasonDialog(props: {
  dialogRef: RefObject<HTMLDialogElement | null>;
  /** Prefix of the element ids (`<id>-title`, `<id>-reason`). */
  id: string;
  title: ReactNode;
  /** What confirming will do. */
  children: ReactNode;
  reason: string;
  onReason: (reason: string) => void;
  reasonRequired: boolean;
  problem?: string;
  busy: boolean;
  confirmLabel: string;
  /** Tailwind colours of the confirm button. */
  confirmColours: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const { dialogRef, id } = props;
  return (
    <dialog ref={dialogRef} onCancel={props.onCancel} aria-labelledby={`${id}-title`} className="m-auto w-[min(32rem,calc(100vw-2rem))] rounded-lg p-0 shadow-xl backdrop:bg-slate-900/50">
      <form
        className="p-5"
        onSubmit={(e) => {
          e.preventDefault();
          props.onConfirm();
        }}
      >
        <h2 id={`${id}-title`} className="text-lg font-semibold">
          {props.title}
        </h2>
        {props.children}
        <label htmlFor={`${id}-reason`} className="mt-4 block text-sm font-medium text-slate-800">
          Reason{props.reasonRequired ? '' : ' (optional)'}
        </label>
        <textarea
          id={`${id}-reason`}
          value={props.reason}
          required={props.reasonRequired}
          maxLength={500}
          onChange={(e) => props.onReason(e.target.value)}
          rows={3}
          className="mt-1 w-full rounded-md border border-slate-300 px-3 py-2 text-sm"
        />
        {props.problem && (
          <p role="alert" className="mt-2 text-sm text-rose-800">
            {props.problem}
          </p>
        )}
        <div className="mt-4 flex justify-end gap-2">
          <button
            type="button"
            onClick={() => {
              dialogRef.current?.close();
              props.onCancel();
            }}
            className="rounded-md px-3 py-2 text-sm text-slate-800 hover:bg-slate-100"
          >
            Cancel
          </button>
          <button type="submit" disabled={props.busy} className={`rounded-md px-3 py-2 text-sm font-medium text-white disabled:opacity-60 ${props.confirmColours}`}>
            {props.busy ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
