import Link from 'next/link';
import type { RequestView } from '@/lib/portal/view';
import { Time } from '../../_components/time';

const usd = (n: number): string => `$${n.toLocaleString('en-US', { maximumFractionDigits: 2 })}`;

/** A top-up's own status page: which key, how much, until when, and what it did to the budget. */
export function TopUpSummary({ r }: { r: RequestView }) {
  const t = r.topUp;
  if (!t) return null;
  return (
    <p className="mt-3 rounded-md bg-sky-50 p-3 text-sm text-sky-950" data-testid="top-up-summary">
      A top-up of {usd(t.amount)}
      {t.until ? (
        <>
          {' '}until <Time iso={t.until} />
        </>
      ) : (
        ' for good'
      )}{' '}
      on key{' '}
      <Link href={`/requests/${t.of}`} className="font-mono underline">
        {t.of}
      </Link>
      .{t.from !== undefined && t.to !== undefined && <> Budget {usd(t.from)} → {usd(t.to)}.</>}
      {t.back !== undefined && <> Back to {usd(t.back)}.</>}
    </p>
  );
}
