import { describe, expect, it } from 'vitest';
import type { KeyRequest } from '@/lib/domain/key-request';
import { ChangeFeed, QUEUE_KEY, requesterKey } from '@/lib/store/change-feed';
import type { WatchEvent } from '@/lib/store/types';

// "My requests" waits on the person, not on one request: any change to one of theirs wakes it,
// a change to someone else's does not, and a store that does not say whose it was wakes every list.
// The approvers' queue waits on every request: woken at once, then at most once a period.

function pushable() {
  let push: (e: WatchEvent) => void = () => undefined;
  const store = {
    watch: (onEvent: (e: WatchEvent) => void, signal: AbortSignal) => {
      push = onEvent;
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
  return { store, push: (e: WatchEvent) => push(e) };
}

const of = (id: string, email: string) => ({ id, email }) as KeyRequest;

describe("a requester's list waiting on the change feed", () => {
  it('wakes on a change to one of their requests (created, changed, deleted) and not on another person\'s', async () => {
    const { store, push } = pushable();
    const feed = new ChangeFeed(store);
    feed.start();
    try {
      const ada = requesterKey('Ada@Example.com');
      const quiet = feed.wait(ada, 300);
      push({ type: 'upsert', id: 'bbbbbbbbbbbb', request: of('bbbbbbbbbbbb', 'bob@example.com') });
      push({ type: 'delete', id: 'cccccccccccc', previous: of('cccccccccccc', 'bob@example.com') });
      expect(await quiet).toBe('timeout');

      const created = feed.wait(ada, 5000);
      push({ type: 'upsert', id: 'aaaaaaaaaaaa', request: of('aaaaaaaaaaaa', 'ada@example.com') });
      expect(await created).toBe('changed');
      const deleted = feed.wait(ada, 5000);
      push({ type: 'delete', id: 'aaaaaaaaaaaa', previous: of('aaaaaaaaaaaa', 'ada@example.com') });
      expect(await deleted).toBe('changed');
      expect(feed.waiting).toBe(0);
    } finally {
      feed.close();
    }
  });

  it('wakes every list, and only lists, when the store does not say whose request changed', async () => {
    const { store, push } = pushable();
    const feed = new ChangeFeed(store);
    feed.start();
    try {
      const lists = [feed.wait(requesterKey('ada@example.com'), 5000), feed.wait(requesterKey('bob@example.com'), 5000)];
      const otherRequest = feed.wait('dddddddddddd', 300);
      push({ type: 'upsert', id: 'eeeeeeeeeeee' });
      expect(await Promise.all(lists)).toEqual(['changed', 'changed']);
      expect(await otherRequest).toBe('timeout');
    } finally {
      feed.close();
    }
  });

  it("wakes the approvers' queue at the first change, then at most once a period however many come", async () => {
    const { store, push } = pushable();
    const feed = new ChangeFeed(store, 2000, 400);
    feed.start();
    try {
      const first = feed.wait(QUEUE_KEY, 5000);
      const t0 = performance.now();
      push({ type: 'upsert', id: 'aaaaaaaaaaaa', request: of('aaaaaaaaaaaa', 'ada@example.com') });
      expect(await first).toBe('changed');
      expect(performance.now() - t0).toBeLessThan(100);

      // Twenty changes right after: one wake, when the period since the last has passed.
      let wakes = 0;
      const again = feed.wait(QUEUE_KEY, 5000).then((o) => (wakes++, o));
      for (let i = 0; i < 20; i++) push({ type: 'upsert', id: `b${String(i).padStart(11, 'b')}`, request: of('x', 'bob@example.com') });
      await new Promise((r) => setTimeout(r, 150));
      expect(wakes).toBe(0);
      expect(await again).toBe('changed');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(390);
      expect(wakes).toBe(1);
    } finally {
      feed.close();
    }
  });
});
