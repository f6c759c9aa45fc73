import { describe, expect, it } from 'vitest';
import { RATE_SETTLE_MS, closedBeforeChain } from '@/lib/loop/gates';
import { MemoryStore } from '../helpers/memory-store';

// The per-person limit across replicas: the loop ranks a person's requests by creation, and a
// request near the limit is judged only once one made in the same instant on another replica
// (not yet in this cache) has had time to arrive.

describe('the rate gate before the plugin chain', () => {
  const limit = { requests: 3, windowSeconds: 3600 };
  const catalog = new Set(['gpt-4o', 'a', 'b', 'c', 'd']);

  it('holds a young request near the limit, judges it once settled, and never holds someone far from it', async () => {
    let now = Date.parse('2026-02-01T12:00:00Z');
    const clock = () => new Date(now);
    const store = new MemoryStore(clock);
    const gate = { store, catalog, rateLimit: limit, clock };
    const first = (await store.create({ email: 'bob@example.com', model: 'a' })).request;
    // Far from the limit: judged at once (nothing closes it).
    expect(await closedBeforeChain(gate, first)).toBeUndefined();
    // A second apart each: the ranking (created-at, then id) is then the order of creation.
    now += 1000;
    await store.create({ email: 'bob@example.com', model: 'b' });
    now += 1000;
    const third = (await store.create({ email: 'bob@example.com', model: 'c' })).request;
    // Near it (two others in the window): looked at again once it is old enough.
    expect(await closedBeforeChain(gate, third)).toEqual({ settleMs: RATE_SETTLE_MS });
    now += RATE_SETTLE_MS;
    expect(await closedBeforeChain(gate, third)).toBeUndefined();
    // A fourth in the same window: past the limit, closed whatever its age.
    now += 1000;
    const fourth = (await store.create({ email: 'bob@example.com', model: 'd' })).request;
    expect(await closedBeforeChain(gate, fourth)).toMatchObject({ decidedBy: 'keyportal', reason: expect.stringContaining('More than 3 requests') });
  });
});
