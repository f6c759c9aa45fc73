import { describe, expect, it } from 'vitest';
import { ApprovalLoop } from '@/lib/loop/loop';
import { RequeueBucket } from '@/lib/loop/rate-limiter';
import { MemoryStore } from '../helpers/memory-store';

describe('requeues are rate limited, overall', () => {
  it('a bucket lets a burst through, then one requeue per 1/rate seconds, reserving slots in order', () => {
    let t = 0;
    const bucket = new RequeueBucket(10, 3, () => t);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    expect([bucket.reserve(), bucket.reserve()]).toEqual([100, 200]);
    t = 1000; // a second later the debt is paid and one token is back... up to the burst
    expect(bucket.reserve()).toBe(0);
    t = 60_000;
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0, 100]);
  });

  it('a request that asks to be looked at again at once cannot spin the loop', async () => {
    const store = new MemoryStore();
    const { request } = await store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    let calls = 0;
    const loop = new ApprovalLoop(store, async () => ((calls += 1), { requeueAfterMs: 1 }), {
      concurrency: 2,
      resyncMs: 60_000,
      errorBackoff: { initialSeconds: 1, maxSeconds: 10 },
      requeues: { perSecond: 10, burst: 5 },
    });
    loop.start();
    loop.enqueue(request.id);
    await new Promise((r) => setTimeout(r, 1000));
    await loop.stop();
    // Unlimited, a 1 ms requeue runs hundreds of times a second; limited: the burst plus ~10.
    expect(calls).toBeGreaterThanOrEqual(5);
    expect(calls).toBeLessThanOrEqual(20);
  });
});
