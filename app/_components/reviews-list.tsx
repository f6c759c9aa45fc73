import { describeChanges, describeReview } from '@/lib/domain/review-words';
import type { RequestView } from '@/lib/portal/view';
import { Time } from './time';

/** Where a request stands with its policy, and each review so far: the status page and the queue. */
export function ReviewsList({ r, compact = false }: { r: Pick<RequestView, 'review' | 'changes' | 'state'>; compact?: boolean }) {
  const { review } = r;
  if (!review.progress && review.reviews.length === 0 && !r.changes) return null;
  return (
    <div data-testid="reviews" className={compact ? 'space-y-1 text-xs' : 'space-y-2 text-sm'}>
      {review.progress && (
        <p data-testid="review-progress" className="font-medium text-slate-900">
          {review.progress}
        </p>
      )}
      {review.reviews.length > 0 && (
        <ul className="space-y-1">
          {review.reviews.map((x, i) => (
            <li key={i} className={x.decision === 'approve' ? 'text-emerald-900' : 'text-rose-900'}>
              {describeReview(x)}
              {!compact && (
                <>
                  {' '}
                  <span className="text-slate-600">
                    (<Time iso={x.at} />)
                  </span>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {r.changes && r.state !== 'in-review' && (
        <p data-testid="approved-with-changes" className="rounded bg-amber-50 px-2 py-1 text-amber-950">
          Approved with changes: {describeChanges(r.changes)}.
        </p>
      )}
    </div>
  );
}
