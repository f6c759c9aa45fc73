'use client';

import { useState } from 'react';

/** Fixed to one locale so the server's HTML and the browser's agree. */
export const formatCount = (n: number): string => new Intl.NumberFormat('en-US').format(n);

/**
 * The cursors that led to the page shown: none for the first page. Cursors only go forward, so
 * "Previous page" is the cursor before the last one.
 */
export function useCursorTrail(): { cursor?: string; index: number; next: (cursor: string) => void; previous: () => void; reset: () => void } {
  const [trail, setTrail] = useState<string[]>([]);
  return {
    cursor: trail.at(-1),
    index: trail.length,
    next: (cursor) => setTrail((t) => [...t, cursor]),
    previous: () => setTrail((t) => t.slice(0, -1)),
    reset: () => setTrail([]),
  };
}

const BUTTON = 'rounded-md border border-slate-300 bg-white px-3 py-1.5 font-medium text-slate-800 hover:bg-slate-100 aria-disabled:cursor-not-allowed aria-disabled:opacity-50 aria-disabled:hover:bg-white';

/**
 * Where the shown page sits ("Showing 51–100 of 10,500") and the way to the pages around it.
 * The buttons stay focusable when they cannot be used (aria-disabled), so a keyboard user who
 * reaches the last page keeps their place.
 */
export function Pager(props: {
  label: string;
  /** 0 for the first page. */
  index: number;
  pageSize: number;
  /** Rows on the page shown. */
  shown: number;
  total: number;
  nextCursor?: string;
  busy: boolean;
  onNext: (cursor: string) => void;
  onPrevious: () => void;
}) {
  const { label, index, pageSize, shown, total, nextCursor, busy, onNext, onPrevious } = props;
  const first = index * pageSize + 1;
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const canPrevious = index > 0 && !busy;
  const canNext = nextCursor !== undefined && !busy;
  return (
    <nav aria-label={label} className="mt-3 flex flex-wrap items-center justify-between gap-3 text-sm text-slate-700">
      <p data-testid="page-position">
        {shown > 0 ? (
          <>
            Showing{' '}
            <strong className="font-semibold text-slate-900">
              {formatCount(first)}–{formatCount(first + shown - 1)}
            </strong>{' '}
            of {formatCount(total)}
          </>
        ) : (
          <>No rows on this page any more ({formatCount(total)} in all)</>
        )}
        <span className="sr-only" aria-live="polite">
          {`, page ${formatCount(index + 1)} of ${formatCount(Math.max(pages, index + 1))}`}
        </span>
      </p>
      <div className="flex gap-2">
        <button type="button" className={BUTTON} aria-disabled={!canPrevious} onClick={() => canPrevious && onPrevious()}>
          Previous page
        </button>
        <button type="button" className={BUTTON} aria-disabled={!canNext} onClick={() => canNext && nextCursor !== undefined && onNext(nextCursor)}>
          Next page
        </button>
      </div>
    </nav>
  );
}
