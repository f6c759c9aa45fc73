import type { SpendFigures } from '@/lib/budget/spend-figures';
import type { RequestView } from '@/lib/portal/view';

const usd = (n: number): string => `$${n.toLocaleString('en-US', { maximumFractionDigits: 2 })}`;
const orUnknown = (n: number | null): string => (n === null ? 'unknown' : usd(n));

/** What a request costs, beside it in the queue: the top-up asked, the requester's spend, what the model's keys cost here. */
export function SpendCell({ request, figures }: { request: RequestView; figures?: SpendFigures }) {
  return (
    <div className="mt-1 space-y-0.5 text-xs text-slate-700" data-testid="spend-figures">
      {request.topUp && (
        <p className="font-medium text-slate-900" data-testid="top-up-ask">
          Top-up of {usd(request.topUp.amount)}
          {request.topUp.until ? ` until ${request.topUp.until.slice(0, 10)}` : ''} on key{' '}
          <a href={`/requests/${request.topUp.of}`} className="font-mono underline underline-offset-2">
            {request.topUp.of}
          </a>
        </p>
      )}
      {figures && (
        <>
          <p>Spent in 30 days: {orUnknown(figures.last30Days)}</p>
          <p>Live keys: {figures.liveKeys.length ? figures.liveKeys.map((k) => k.model).join(', ') : 'none'}</p>
          <p>
            Typical {request.modelTitle} key: {figures.typicalMonthly === null ? 'unknown' : `${usd(figures.typicalMonthly)} a month (${figures.typicalOver} key${figures.typicalOver === 1 ? '' : 's'})`}
          </p>
        </>
      )}
    </div>
  );
}
