import { describe, expect, it, vi } from 'vitest';
import { ApprovalLoop, type LoopOptions } from '@/lib/loop/loop';
import type { ReconcileResult } from '@/lib/loop/reconciler';
import { MemoryStore } from '../helpers/memory-store';
import { until } from '../helpers/wait';

/** A loop (resync every 50 ms) whose passes are counted per request and answered by `answer`. */
function countingLoop(store: MemoryStore, answer: (id: string) => ReconcileResult, options: Partial<LoopOptions> = {}) {
  const passes = new Map<string, number>();
  const count = (id: string) => passes.get(id) ?? 0;
  const loop = new ApprovalLoop(store, async (id) => (passes.set(id, count(id) + 1), answer(id)), {
    concurrency: 2,
    resyncMs: 50,
    errorBackoff: { initialSeconds: 1, maxSeconds: 10 },
    ...options,
  });
  return { loop, count };
}

/** After the start and two resyncs (`busy` is passed at each), `more` resyncs give `ids` no pass: their counts, unchanged. */
async function noPassesOver(count: (id: string) => number, busy: string, ids: readonly string[], more: number): Promise<number[]> {
  await until(() => count(busy) >= 3 || undefined, 'the start and two resyncs', 5000, 10);
  const before = ids.map(count);
  const seen = count(busy);
  await until(() => count(busy) >= seen + more || undefined, `${more} more resyncs`, 5000, 10);
  expect(ids.map(count)).toEqual(before);
  return before;
}

describe('the periodic resync', () => {
  it('passes over requests at rest, and takes up one the moment its plan has work again', async () => {
    const store = new MemoryStore();
    const resting = await Promise.all(Array.from({ length: 50 }, (_, i) => store.create({ email: `rest${i}@example.com`, model: 'gpt-4o' })));
    const busy = (await store.create({ email: 'busy@example.com', model: 'gpt-4o' })).request;
    const atRest = new Set(resting.map((c) => c.request.id));
    // The watch lists every request once at start; after that nothing changes, so only the resync
    // (every 50 ms) brings requests to the loop.
    const { loop, count } = countingLoop(store, () => ({}), { atRest: (r) => atRest.has(r.id) });
    loop.start();
    try {
      await noPassesOver(count, busy.id, resting.map((c) => c.request.id), 3);

      const woken = resting[7]?.request.id as string;
      const had = count(woken);
      atRest.delete(woken);
      await until(() => count(woken) > had || undefined, 'the next resync to take it up', 5000, 10);
    } finally {
      await loop.stop();
    }
  });

  it('hands out ready requests in the order they became ready, also those made ready while it drains or after it ran dry', async () => {
    const store = new MemoryStore();
    const order: string[] = [];
    let loop: ApprovalLoop | undefined = undefined;
    loop = new ApprovalLoop(store, async (id) => {
      order.push(id);
      if (id === 'r0') loop?.enqueue('late');
      return {};
    }, { concurrency: 1, resyncMs: 3_600_000, errorBackoff: { initialSeconds: 1, maxSeconds: 10 }, watch: false });
    loop.start();
    try {
      for (let i = 0; i < 5; i++) loop.enqueue(`r${i}`);
      await until(() => order.length === 6 || undefined, 'six passes', 5000, 5);
      expect(order).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'late']);
      loop.enqueue('r2');
      loop.enqueue('after');
      await until(() => order.length === 8 || undefined, 'two more', 5000, 5);
      expect(order.slice(6)).toEqual(['r2', 'after']);
    } finally {
      await loop.stop();
    }
  });

  it('a request the plan cannot read is passed, not skipped: its pass says why', async () => {
    const store = new MemoryStore();
    const { request } = await store.create({ email: 'odd@example.com', model: 'gpt-4o' });
    const passes: string[] = [];
    const loop = new ApprovalLoop(store, async (id) => (passes.push(id), {}), {
      concurrency: 1,
      resyncMs: 50,
      errorBackoff: { initialSeconds: 1, maxSeconds: 10 },
      atRest: () => {
        throw new Error('no plan for this one');
      },
    });
    loop.start();
    try {
      // The watch's listing at start gives one; the resyncs give the rest.
      await until(() => passes.filter((id) => id === request.id).length >= 4 || undefined, 'a pass at each resync', 5000, 10);
    } finally {
      await loop.stop();
    }
  });

  it('passes over waiting requests until their wait is due, by the wall clock or by a plan clock moved ahead', async () => {
    const store = new MemoryStore();
    const waiting = (await store.create({ email: 'wait@example.com', model: 'gpt-4o' })).request;
    const soon = (await store.create({ email: 'soon@example.com', model: 'gpt-4o' })).request;
    const busy = (await store.create({ email: 'busy@example.com', model: 'gpt-4o' })).request;
    let offset = 0;
    const DAY = 86_400_000;
    // An issued key's next reminder is 40 days away (past setTimeout's longest delay, ~24.8 days);
    // `soon` waits 300 ms; `busy` asks for nothing.
    const wants = new Map([[waiting.id, 40 * DAY], [soon.id, 300]]);
    const { loop, count } = countingLoop(
      store,
      (id) => {
        const ms = wants.get(id);
        return ms === undefined ? {} : { requeueAfterMs: ms };
      },
      // A frozen plan clock, moved only by the test: `soon` must still come due by the wall clock.
      { now: () => Date.parse('2026-06-01T00:00:00Z') + offset },
    );
    loop.start();
    try {
      // The resyncs leave the waiting one to its timer.
      const [first = 0] = await noPassesOver(count, busy.id, [waiting.id], 6);
      wants.delete(soon.id);
      const soonHad = count(soon.id);
      await until(() => count(soon.id) > soonHad || undefined, 'the 300 ms wait due by the wall clock', 5000, 10);
      expect(count(waiting.id)).toBe(first);

      // Forty days pass on the plan's clock: the waiting request is taken up at the next resync.
      wants.delete(waiting.id);
      offset = 40 * DAY;
      await until(() => count(waiting.id) > first || undefined, 'the wait due on the moved clock', 5000, 10);
    } finally {
      await loop.stop();
    }
  });

  it('takes up a waiting request at the next resync when the wall clock is stepped past its wait (timers run on the monotonic clock)', async () => {
    const store = new MemoryStore();
    const waiting = (await store.create({ email: 'wait@example.com', model: 'gpt-4o' })).request;
    const busy = (await store.create({ email: 'busy@example.com', model: 'gpt-4o' })).request;
    let step = 0;
    const { loop, count } = countingLoop(store, (id) => (id === waiting.id && step === 0 ? { requeueAfterMs: 20 * 86_400_000 } : {}));
    const wall = Date.now.bind(Date);
    const stepped = vi.spyOn(Date, 'now').mockImplementation(() => wall() + step);
    loop.start();
    try {
      const [first = 0] = await noPassesOver(count, busy.id, [waiting.id], 3);
      // The host's clock jumps 20 days ahead (a VM resumed): no timer notices, the resync's look does.
      step = 20 * 86_400_000;
      await until(() => count(waiting.id) > first || undefined, 'the wait due by the stepped wall clock', 5000, 10);
    } finally {
      stepped.mockRestore();
      await loop.stop();
    }
  });

  it('still passes a request backing off from a failed pass at each resync, so an outage ends within a resync period', async () => {
    const store = new MemoryStore();
    const failing = (await store.create({ email: 'fail@example.com', model: 'gpt-4o' })).request;
    // The first failure backs off 60 s; the resync (every 50 ms) does not wait for it.
    const { loop, count } = countingLoop(
      store,
      (id) => {
        if (id === failing.id) throw new Error('the API server is unreachable');
        return {};
      },
      { errorBackoff: { initialSeconds: 60, maxSeconds: 60 } },
    );
    loop.start();
    try {
      await until(() => count(failing.id) >= 4 || undefined, 'a pass at each resync despite the backoff', 5000, 10);
    } finally {
      await loop.stop();
    }
  });

  it('with the watch off, passes every request at each resync: nothing else would bring a change', async () => {
    const store = new MemoryStore();
    const resting = (await store.create({ email: 'rest@example.com', model: 'gpt-4o' })).request;
    const waiting = (await store.create({ email: 'wait@example.com', model: 'gpt-4o' })).request;
    const { loop, count } = countingLoop(store, (id) => (id === waiting.id ? { requeueAfterMs: 86_400_000 } : {}), { watch: false, atRest: (r) => r.id === resting.id });
    loop.start();
    try {
      await until(() => (count(resting.id) >= 3 && count(waiting.id) >= 3) || undefined, 'three resyncs passing both', 5000, 10);
    } finally {
      await loop.stop();
    }
  });
});
