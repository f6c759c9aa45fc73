import { describe, expect, it } from 'vitest';
import { IllegalTransitionError, STATES, assertTransition, canTransition, isLive } from '@/lib/domain/states';

describe('the request state machine', () => {
  it('allows exactly the moves DESIGN.md draws', () => {
    const allowed = STATES.flatMap((from) => STATES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`));
    expect(allowed.sort()).toEqual(
      [
        'pending->approved',
        'pending->denied',
        'pending->in-review',
        'in-review->approved',
        'in-review->denied',
        'approved->issued',
        'approved->failed',
        'approved->denied',
        'issued->revoked',
        'issued->expired',
        'failed->approved',
      ].sort(),
    );
  });

  it('refuses an illegal move with a message that lists the legal ones', () => {
    expect(() => assertTransition('denied', 'approved')).toThrow(IllegalTransitionError);
    expect(() => assertTransition('denied', 'approved')).toThrow('a request cannot go from "denied" to "approved"; from "denied" it can go to nothing (it is final)');
    expect(() => assertTransition('pending', 'issued')).toThrow('from "pending" it can go to "approved", "denied", "in-review"');
  });

  it('counts pending, in-review, approved and issued requests as live', () => {
    expect(STATES.filter(isLive)).toEqual(['pending', 'in-review', 'approved', 'issued']);
  });
});

describe('errors the store throws are recognised by any copy of their module', () => {
  it('instanceof holds for an error of the same name built elsewhere (another bundle of the same class)', async () => {
    const { ConflictError, RequestNotFoundError } = await import('@/lib/store/errors');
    class OtherBundlesCopy extends Error {
      override readonly name = 'RequestNotFoundError';
    }
    expect(new OtherBundlesCopy('x')).toBeInstanceOf(RequestNotFoundError);
    expect(new OtherBundlesCopy('x')).not.toBeInstanceOf(ConflictError);
    expect(new ConflictError('aaaaaaaaaaaa')).toBeInstanceOf(ConflictError);
    expect(new Error('plain')).not.toBeInstanceOf(ConflictError);
  });
});
