import type { UsageView } from '@/lib/portal/usage';

/** Money in a fixed locale (server and browser agree); cents below a dollar, so a first call shows. */
export const formatUsd = (n: number): string =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: n > 0 && n < 0.01 ? 4 : 2 }).format(n);

/** Green, then amber past 75 %, rose past 90 %: a glance says whether to slow down. */
function tone(fraction: number): string {
  if (fraction >= 0.9) return 'bg-rose-600';
  if (fraction >= 0.75) return 'bg-amber-500';
  return 'bg-emerald-600';
}

/**
 * Spend against the key's budget as one bar. A progressbar with its value in words, so a screen
 * reader says "$2.50 of $10.00 spent" rather than a bare percentage. A key without a budget shows
 * its spend alone: there is nothing to fill.
 */
export function UsageBar({ usage, label, compact = false }: { usage: Extract<UsageView, { available: true }>; label: string; compact?: boolean }) {
  const { spend, maxBudget } = usage;
  if (maxBudget === null) {
    return (
      <p className={compact ? 'text-xs text-slate-700' : 'text-sm text-slate-800'} data-testid="usage-spend">
        {formatUsd(spend)} spent, no budget limit
      </p>
    );
  }
  const fraction = maxBudget > 0 ? Math.min(1, spend / maxBudget) : 1;
  const words = `${formatUsd(spend)} of ${formatUsd(maxBudget)} spent`;
  return (
    <div className={compact ? 'w-40' : 'w-full'}>
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={maxBudget}
        aria-valuenow={Math.min(spend, maxBudget)}
        aria-valuetext={words}
        className={`overflow-hidden rounded-full bg-slate-200 ${compact ? 'h-1.5' : 'h-2.5'}`}
      >
        <div className={`h-full rounded-full ${tone(fraction)}`} style={{ width: `${Math.max(fraction * 100, spend > 0 ? 2 : 0)}%` }} />
      </div>
      <p className={`mt-1 ${compact ? 'text-xs text-slate-700' : 'text-sm text-slate-800'}`} data-testid="usage-spend">
        {words}
      </p>
    </div>
  );
}
