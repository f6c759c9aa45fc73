import { describe, expect, it } from 'vitest';
import type { KeyRequest } from '@/lib/domain/key-request';
import { QUEUE_ORDER, STATES, type State } from '@/lib/domain/states';
import { InvalidCursorError } from '@/lib/store/errors';
import { RequestIndex } from '@/lib/store/request-index';

const ID = 'abcdefghijklmnopqrstuvwxyz234567';
const idFor = (n: number) => Array.from({ length: 12 }, (_, i) => ID[(n >> (i * 5)) & 31] ?? 'a').join('');

function request(n: number, state: State, over: Partial<KeyRequest> = {}): KeyRequest {
  const second = String(n % 60).padStart(2, '0');
  const minute = String(Math.floor(n / 60) % 60).padStart(2, '0');
  return {
    id: idFor(n),
    email: `user${n % 37}@example.com`,
    model: n % 3 === 0 ? 'gpt-4o' : 'claude',
    state,
    createdAt: `2026-01-01T${String(Math.floor(n / 3600)).padStart(2, '0')}:${minute}:${second}Z`,
    hasKey: false,
    resourceVersion: String(n + 1),
    ...over,
  };
}

function filled(n: number): RequestIndex {
  const index = new RequestIndex();
  for (let i = 0; i < n; i++) index.put(request(i, STATES[i % STATES.length] as State));
  return index;
}

/** Follows nextCursor to the end and returns every row, failing on a loop. */
function pageThrough(index: RequestIndex, q: Parameters<RequestIndex['query']>[0]): KeyRequest[] {
  const out: KeyRequest[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = index.query({ ...q, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) return out;
  }
  throw new Error('paging did not end');
}

describe('the request index behind every listing', () => {
  it('an approver pages through 1,000 requests 50 at a time and sees each exactly once, in-review first, newest first within a state', () => {
    const index = filled(1000);
    const rows = pageThrough(index, { limit: 50 });
    expect(rows).toHaveLength(1000);
    expect(new Set(rows.map((r) => r.id)).size).toBe(1000);
    const ranks = rows.map((r) => QUEUE_ORDER.indexOf(r.state));
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    expect(rows[0]?.state).toBe('in-review');
    for (let i = 1; i < rows.length; i++) {
      const [a, b] = [rows[i - 1] as KeyRequest, rows[i] as KeyRequest];
      if (a.state === b.state) expect(a.createdAt >= b.createdAt).toBe(true);
    }
  });

  it('counts every state, and the total, under the filters', () => {
    const index = filled(800);
    const all = index.query({});
    expect(all.total).toBe(800);
    expect(Object.values(all.counts).reduce((a, b) => a + b, 0)).toBe(800);
    expect(all.counts.pending).toBe(100);
    const gpt = index.query({ model: 'gpt-4o', state: 'issued', limit: 500 });
    expect(gpt.items.every((r) => r.model === 'gpt-4o' && r.state === 'issued')).toBe(true);
    expect(gpt.total).toBe(gpt.counts.issued);
    expect(gpt.items).toHaveLength(gpt.total);
    const search = pageThrough(index, { search: 'USER3@', limit: 7 });
    expect(search.length).toBeGreaterThan(0);
    expect(search.every((r) => r.email.startsWith('user3@'))).toBe(true);
  });

  it("a person's own requests, newest first, paged", () => {
    const index = filled(500);
    const own = pageThrough(index, { email: 'USER5@example.com', order: 'newest', limit: 3 });
    expect(own.length).toBe(index.query({ email: 'user5@example.com' }).total);
    expect(own.every((r) => r.email === 'user5@example.com')).toBe(true);
    expect(own.map((r) => r.createdAt)).toEqual([...own.map((r) => r.createdAt)].sort().reverse());
  });

  it('a request that changes state between two pages costs no other row: each of the rest is seen exactly once', () => {
    const index = filled(300);
    const first = index.query({ limit: 100 });
    // An in-review request the approver already saw is approved before they turn the page.
    const seen = first.items.find((r) => r.state === 'in-review') as KeyRequest;
    index.put({ ...seen, state: 'approved', resourceVersion: '9999' });
    const rest = pageThrough(index, { limit: 100, cursor: first.nextCursor as string });
    const ids = [...first.items, ...rest].map((r) => r.id);
    // The moved one may show again at its new place (keyset paging); every other row exactly once.
    expect(ids.filter((id) => id === seen.id).length).toBeLessThanOrEqual(2);
    const others = ids.filter((id) => id !== seen.id);
    expect(new Set(others).size).toBe(others.length);
    expect(others).toHaveLength(299);
  });

  it('refuses a cursor it did not hand out', () => {
    const index = filled(120);
    expect(() => index.query({ cursor: 'not-a-cursor' })).toThrow(InvalidCursorError);
    const newest = index.query({ order: 'newest', email: 'user1@example.com', limit: 1 }).nextCursor as string;
    expect(() => index.query({ cursor: newest })).toThrow(InvalidCursorError);
    expect(() => index.query({ cursor: Buffer.from('{"o":"q","r":"x"}').toString('base64url') })).toThrow(/start again from the first page/);
  });

  it('finds the live request of a pair, oldest first, and forgets removed ones', () => {
    const index = new RequestIndex();
    const a = request(1, 'issued', { email: 'Ada@Example.com', model: 'gpt-4o' });
    const b = request(2, 'pending', { email: 'ada@example.com', model: 'gpt-4o' });
    const c = request(3, 'denied', { email: 'ada@example.com', model: 'gpt-4o' });
    for (const r of [c, b, a]) index.put(r);
    expect(index.livePair('ADA@example.com', 'gpt-4o').map((r) => r.id)).toEqual([a.id, b.id]);
    index.remove(a.id);
    expect(index.livePair('ada@example.com', 'gpt-4o').map((r) => r.id)).toEqual([b.id]);
    expect(index.size).toBe(2);
    expect(index.query({}).counts.issued).toBe(0);
  });

  it('lists by id with continue tokens, each request once', () => {
    const index = filled(1000);
    const seen = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      const page = index.list({ state: 'pending' }, { limit: 40, ...(token ? { continue: token } : {}) });
      for (const r of page.items) {
        expect(seen.has(r.id)).toBe(false);
        seen.add(r.id);
      }
      token = page.continue;
      pages++;
    } while (token && pages < 100);
    expect(seen.size).toBe(125);
  });

  it("pages through one state from that state's own entries: requests leaving or joining it between pages cost no other row", () => {
    const index = filled(1000);
    const pending = new Set([...index.ids()].filter((id) => index.get(id)?.state === 'pending'));
    const seen: string[] = [];
    const left = new Set<string>();
    let token: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = index.list({ state: 'pending' }, { limit: 9, ...(token ? { continue: token } : {}) });
      for (const r of page.items) expect(r.state).toBe('pending');
      seen.push(...page.items.map((r) => r.id));
      // Between pages: the last one seen moves on, one not yet seen moves on, a new one arrives.
      const last = page.items.at(-1);
      const unseen = [...pending].find((id) => !seen.includes(id) && !left.has(id));
      for (const id of [last?.id, unseen]) {
        if (!id) continue;
        index.put({ ...(index.get(id) as KeyRequest), state: 'approved' });
        left.add(id);
      }
      index.put(request(5000 + pages, 'pending'));
      token = page.continue;
      if (!token) break;
    }
    expect(token).toBeUndefined();
    expect(new Set(seen).size).toBe(seen.length);
    // Every request pending throughout was seen.
    for (const id of pending) if (!left.has(id)) expect(seen).toContain(id);
    expect(() => index.list({ state: 'pending' }, { continue: 'bm90LWEtdG9rZW4' })).toThrow(InvalidCursorError);
    expect(new RequestIndex().list({ state: 'pending' })).toEqual({ items: [], invalid: [] });
  });

  it('keeps its id order as requests come and go between listings: every page as a fresh index would give it', () => {
    const index = filled(300);
    index.list({}); // the sorted ids exist from here on, and must follow every put and remove
    for (let i = 300; i < 400; i++) {
      index.put(request(i, 'pending'));
      if (i % 3 === 0) index.remove(idFor(i - 250));
      index.put(request(i - 200, 'issued')); // a change keeps its id: no move
    }
    const fresh = new RequestIndex();
    for (const id of index.ids()) fresh.put(index.get(id) as KeyRequest);
    const pages = (ix: RequestIndex, filter: Parameters<RequestIndex['list']>[0]) => {
      const out: string[][] = [];
      let token: string | undefined;
      do {
        const page = ix.list(filter, { limit: 7, ...(token ? { continue: token } : {}) });
        out.push(page.items.map((r) => r.id));
        token = page.continue;
      } while (token && out.length < 500);
      return out;
    };
    expect(pages(index, {})).toEqual(pages(fresh, {}));
    expect(pages(index, {}).flat()).toHaveLength(index.size);
    expect(pages(index, { state: 'issued' })).toEqual(pages(fresh, { state: 'issued' }));
    // One person's requests, by id and paged, from their own entries alone.
    const mine = pages(index, { email: 'USER5@example.com' });
    expect(mine).toEqual(pages(fresh, { email: 'user5@example.com' }));
    const ids = mine.flat();
    expect(ids).toEqual([...ids].sort());
    expect(ids.length).toBe([...index.ids()].filter((id) => index.get(id)?.email === 'user5@example.com').length);
    expect(ids.length).toBeGreaterThan(7);
  });
});
