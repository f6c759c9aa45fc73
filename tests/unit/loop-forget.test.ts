import { describe, expect, it } from 'vitest';
import { ApprovalLoop } from '@/lib/loop/loop';
import { MalformedSecretError } from '@/lib/store/errors';
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

describe('a loop that stops', () => {
  it('leaves no wait of its own running (they keep the process up; Node drops their timer lists only then)', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 20; i++) await store.create({ email: `w${i}@example.com`, model: 'gpt-4o' });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const loop = new ApprovalLoop(store, async () => ({ requeueAfterMs: 23 * 86_400_000 }), { concurrency: 4, resyncMs: 3_600_000, errorBackoff: { initialSeconds: 1, maxSeconds: 10 } });
    loop.start();
    await until(() => loop.waiting === 20 || undefined, 'twenty waiting', 5000, 5);
    expect(timers()).toBeGreaterThanOrEqual(before + 20);
    await loop.stop();
    expect(loop.waiting).toBe(0);
    expect(timers()).toBeLessThanOrEqual(before);
  });
});

describe('broken request Secrets an admin deletes', () => {
  it('are reported once each while they stay, and forgotten by the first resync after they go', async () => {
    const broken = Array.from({ length: 30 }, (_, i) => Object.assign(new MalformedSecretError(`not-a-request-${i}`, 'expected keyreq-<id>'), { resourceVersion: '7' }));
    const store = new MemoryStore();
    const listAll = store.listAll.bind(store);
    // As the Kubernetes store lists them: the broken ones beside the requests, on the last page.
    store.listAll = async (page) => ({ ...(await listAll(page)), invalid: [...broken] });
    const seen: string[] = [];
    const loop = new ApprovalLoop(store, async () => ({}), { concurrency: 1, resyncMs: 20, errorBackoff: { initialSeconds: 1, maxSeconds: 10 }, onMalformed: (e) => seen.push(e.secretName) });
    loop.start();
    try {
      await until(() => loop.remembered === 30 || undefined, 'thirty reported', 5000, 5);
      await new Promise((r) => setTimeout(r, 200)); // ~10 resyncs
      expect(seen).toHaveLength(30);
      broken.splice(0, 25);
      await until(() => loop.remembered === 5 || undefined, 'the deleted ones forgotten', 5000, 5);
      expect(seen).toHaveLength(30);
    } finally {
      await loop.stop();
    }
  });
});
