import { describe, expect, it } from 'vitest';
import type { KeyRequest } from '@/lib/domain/key-request';
import { ChangeFeed, requesterKey } from '@/lib/store/change-feed';
import type { WatchEvent } from '@/lib/store/types';

// "My requests" waits on the person, not on one request: any change to one of theirs wakes it,
// a change to someone else's does not, and a store that does not say whose it was wakes every list.

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
});
