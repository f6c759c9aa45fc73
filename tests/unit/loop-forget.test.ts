import { describe, it } from 'vitest';
import { ApprovalLoop } from '@/lib/loop/loop';
import { MemoryStore } from '../helpers/memory-store';
import { until } from '../helpers/wait';

describe('a request deleted while it waits', () => {
  it('leaves nothing waiting in the loop: an issued key\'s reminder weeks ahead, a backoff', async () => {
    const store = new MemoryStore();
    const reminded = (await store.create({ email: 'a@example.com', model: 'gpt-4o' })).request;
    const failing = (await store.create({ email: 'b@example.com', model: 'gpt-4o' })).request;
    const passes = new Map<string, number>();
    const loop = new ApprovalLoop(store, async (id) => {
      passes.set(id, (passes.get(id) ?? 0) + 1);
      if (id === failing.id) throw new Error('the gateway is down');
      return { requeueAfterMs: 23 * 86_400_000 };
    }, { concurrency: 2, resyncMs: 3_600_000, errorBackoff: { initialSeconds: 60, maxSeconds: 600 } });
    loop.start();
    try {
      await until(() => (loop.waiting === 2 && passes.get(failing.id)) || undefined, 'both waiting', 5000, 5);
      store.delete(reminded.id);
      store.delete(failing.id);
      await until(() => loop.waiting === 0 || undefined, 'nothing waiting', 5000, 5);
    } finally {
      await loop.stop();
    }
  });
});
