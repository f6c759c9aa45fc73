import type { RequestView } from '@/lib/portal/view';

/** Beside a request in a list: this one is a top-up of a key (how much), not a key of its own. */
export function TopUpMarker({ r }: { r: Pick<RequestView, 'topUp'> }) {
  if (!r.topUp) return null;
  return (
    <span data-testid="top-up-marker" title={`adds to the budget of request ${r.topUp.of}`} className="ml-2 rounded bg-sky-100 px-1.5 py-0.5 text-xs font-medium text-sky-950 ring-1 ring-inset ring-sky-300">
      top-up ${r.topUp.amount.toLocaleString('en-US', { maximumFractionDigits: 2 })}
    </span>
  );
}
