import { describe, expect, it } from 'vitest';
import { rfc3339 } from '@/lib/domain/key-request';
import type { ArchivedEntry } from '@/lib/retention/archive';
import { sweepRetention } from '@/lib/retention/sweep';
import type { RequestStore } from '@/lib/store/types';
import { MemoryStore } from '../helpers/memory-store';

const DAY = 86_400_000;

describe('the retention sweep', () => {
  it('deletes what ended before the cutoff, and stops reading at the first request made after it', async () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    let now = t0;
    const store = new MemoryStore(() => new Date(now));
    const deny = async (email: string) => {
      const { request } = await store.create({ email, model: 'gpt-4o' });
      await store.update(request, { state: 'denied', decision: 'denied', decidedBy: 'plugin:blacklist', decidedAt: rfc3339(new Date(now)), reason: 'closed', notified: 'denied' });
      return request.id;
    };
    const old = [await deny('a@example.com'), await deny('b@example.com'), await deny('c@example.com')];
    now = t0 + 100 * DAY;
    for (let i = 0; i < 1200; i++) await deny(`young${i}@example.com`);

    // Every page the sweep reads, counted: at 100,000 ended requests a turn read them all.
    let listed = 0;
    const counting: RequestStore = Object.create(store, {
      listByState: { value: async (...args: Parameters<RequestStore['listByState']>) => {
        const page = await store.listByState(...args);
        listed += page.items.length;
        return page;
      } },
    });
    const archived: ArchivedEntry[] = [];
    const archive = { add: async (e: readonly ArchivedEntry[]) => void archived.push(...e), find: async () => undefined };
    const report = await sweepRetention({ store: counting, archive, endedDays: 90, maxDeletesPerMinute: 60, clock: () => new Date(now), auditOwed: () => false, pause: async () => undefined }, new AbortController().signal);

    expect(report.deleted).toBe(3);
    expect(archived.map((e) => e.id).sort()).toEqual([...old].sort());
    // The denied state's first page (500) holds the three old ones and the first young one: no second page.
    expect(listed).toBeLessThanOrEqual(500);
    // Deleted, each waiting under the audit finalizer for its request.deleted record to leave.
    for (const id of old) expect((await store.get(id)).deletingSince).toBeDefined();
  });

  it('stops reading once a turn has its deletions, when every ended request is due', async () => {
    const t0 = Date.parse('2025-01-01T00:00:00Z');
    let now = t0;
    const store = new MemoryStore(() => new Date(now));
    for (let i = 0; i < 1200; i++) {
      const { request } = await store.create({ email: `old${i}@example.com`, model: 'gpt-4o' });
      await store.update(request, { state: 'denied', decision: 'denied', decidedBy: 'plugin:blacklist', decidedAt: rfc3339(new Date(now)), reason: 'closed', notified: 'denied' });
      now += 1000;
    }
    now = t0 + 400 * DAY;
    // The first five met are held (their records not acknowledged): passed over, and counted.
    const oldest = (await store.listByState('denied', { limit: 5 })).items.map((r) => r.id);
    let judged = 0;
    const auditOwed = (r: { id: string }) => {
      judged++;
      return oldest.includes(r.id);
    };
    const archived: ArchivedEntry[] = [];
    const archive = { add: async (e: readonly ArchivedEntry[]) => void archived.push(...e), find: async () => undefined };
    const report = await sweepRetention({ store, archive, endedDays: 90, maxDeletesPerMinute: 60, clock: () => new Date(now), auditOwed, pause: async () => undefined }, new AbortController().signal);

    // A turn is a sixth of the minute's 60: ten deleted, the oldest after the five held.
    expect(report).toEqual({ deleted: 10, held: 5 });
    const denied = (await store.listByState('denied', { limit: 15 })).items.map((r) => r.id);
    expect(archived.map((e) => e.id)).toEqual(denied.slice(5, 15));
    // Fifteen judged, not 1,200 (every turn judged every due request to find its ten).
    expect(judged).toBe(15);
  });
});
