import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { User } from '@/lib/auth/roles';
import { PortalError } from '@/lib/portal/errors';
import { type ListPage, type PortalDeps, listOwn, listQueue } from '@/lib/portal/requests';
import type { RequestView } from '@/lib/portal/view';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { LocalDirectoryStore } from '@/lib/store/local';
import type { RequestStore } from '@/lib/store/types';
import { parseQuery } from '@/lib/portal/parse';
import { ownQuery, queueQuery } from '@/lib/validations/requests';
import { adminKubeConfig, freshNamespace } from '../helpers/cluster';
import { testConfig } from '../helpers/portal';
import { refused } from '../helpers/refused';

// Paging of the portal's listings (split from portal-service.test.ts): the queue and "My
// requests" a page at a time on both stores, and the paging parameters as route handlers parse them.

const ada: User = { email: 'ada@example.com', groups: [], approver: false };
const bob: User = { email: 'bob@example.com', groups: [], approver: false };
const approver: User = { email: 'admin@example.com', groups: [], approver: true };

// The queue and "My requests" a page at a time, on both stores. Requests are written with a clock
// one second apart, so "newest first" has one right answer.
describe.each(['local', 'kubernetes'] as const)('paging through requests (%s store)', (kind) => {
  async function pagingWorld() {
    let t = Date.parse('2025-06-01T08:00:00Z');
    const clock = () => new Date((t += 1000));
    const store =
      kind === 'local'
        ? new LocalDirectoryStore(await mkdtemp(path.join(tmpdir(), 'keyportal-paging-')), { clock })
        : new KubernetesSecretStore({ namespace: await freshNamespace('paging'), kubeConfig: adminKubeConfig(), clock });
    const config = testConfig({
      store: kind === 'local' ? { type: 'local', dir: '/unused' } : { type: 'kubernetes', namespace: 'unused', kubeconfig: 'unused' },
      gatewayUrl: 'http://127.0.0.1:9',
      smtp: { host: '127.0.0.1', port: 9 },
    });
    const deps: PortalDeps = { store, config };
    return { store, deps, close: () => (store instanceof KubernetesSecretStore ? store.close() : undefined) };
  }

  /** `n` requests by n people (person-000@…), every `reviewEvery`-th moved to in-review. */
  async function fill(store: RequestStore, n: number, reviewEvery = 0): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const { request } = await store.create({ email: `person-${String(i).padStart(3, '0')}@example.com`, model: i % 2 ? 'gpt-4o' : 'experimental' });
      ids.push(request.id);
      if (reviewEvery && i % reviewEvery === 0) await store.update(request, { state: 'in-review', reason: 'Held for review: test' });
    }
    return ids;
  }

  /** Follows nextCursor to the end, checking each page's size and the total on the way. */
  async function everyPage(list: (cursor?: string) => Promise<ListPage>, size: number): Promise<RequestView[][]> {
    const pages: RequestView[][] = [];
    let cursor: string | undefined;
    do {
      const page = await list(cursor);
      pages.push(page.requests);
      cursor = page.nextCursor;
      if (cursor) expect(page.requests).toHaveLength(size);
      expect(pages.length).toBeLessThan(100);
    } while (cursor);
    return pages;
  }

  it('an approver pages through 120 requests 50 at a time and sees each exactly once, in-review first', async () => {
    const { store, deps, close } = await pagingWorld();
    try {
      const ids = await fill(store, 120, 10);
      const pages = await everyPage((cursor) => listQueue(deps, approver, { limit: 50, ...(cursor ? { cursor } : {}) }), 50);
      expect(pages.map((p) => p.length)).toEqual([50, 50, 20]);
      const rows = pages.flat();
      expect(new Set(rows.map((r) => r.id)).size).toBe(120);
      expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
      // The 12 in review come first, then the pending ones; newest first within each.
      expect(rows.slice(0, 12).every((r) => r.state === 'in-review')).toBe(true);
      expect(rows.slice(12).every((r) => r.state === 'pending')).toBe(true);
      for (const part of [rows.slice(0, 12), rows.slice(12)]) {
        expect(part.map((r) => r.createdAt)).toEqual(part.map((r) => r.createdAt).sort().reverse());
      }
      const first = await listQueue(deps, approver, {});
      expect(first.requests.map((r) => r.id)).toEqual(pages[0]?.map((r) => r.id));
      expect(first.total).toBe(120);
    } finally {
      close();
    }
  });

  it('counts per state match what is stored, and stay the same whichever state is picked', async () => {
    const { store, deps, close } = await pagingWorld();
    try {
      const ids = await fill(store, 30, 3);
      const denied = await store.get(ids[1] as string);
      await store.update(denied, { state: 'denied', decidedBy: 'user:admin@example.com', reason: 'No budget' });
      const expected = { pending: 19, 'in-review': 10, approved: 0, issued: 0, denied: 1, failed: 0, revoked: 0, expired: 0 };
      const all = await listQueue(deps, approver, { state: 'all' });
      expect(all.counts).toEqual(expected);
      expect(all.total).toBe(30);
      const inReview = await listQueue(deps, approver, { state: 'in-review', limit: 4 });
      expect(inReview.counts).toEqual(expected);
      expect([inReview.total, inReview.requests.length]).toEqual([10, 4]);
      // The requester search narrows the counts too: person-000 … person-009 are ten people.
      const some = await listQueue(deps, approver, { requester: 'PERSON-00' });
      expect(some.total).toBe(10);
      expect(Object.values(some.counts).reduce((n, c) => n + c, 0)).toBe(10);
      expect(some.requests.every((r) => r.email.startsWith('person-00'))).toBe(true);
      const model = await listQueue(deps, approver, { model: 'experimental', state: 'pending' });
      expect(model.requests.every((r) => r.model === 'experimental' && r.state === 'pending')).toBe(true);
      expect(model.total).toBe(model.counts.pending);
    } finally {
      close();
    }
  });

  it('a forged cursor, or one from another listing, is a 400 naming cursor', async () => {
    const { store, deps, close } = await pagingWorld();
    try {
      await fill(store, 5);
      for (const cursor of ['not-a-cursor', Buffer.from('{"o":"q","r":"x"}').toString('base64url')]) {
        const err = await refused(() => listQueue(deps, approver, { cursor }));
        expect([err.status, err.details.field]).toEqual([400, 'cursor']);
        expect(err.message).toMatch(/^cursor: .*start again from the first page/);
      }
      // A cursor of "My requests" (newest first) does not page the queue (in-review first).
      const own = await listOwn(deps, { email: 'person-000@example.com', groups: [], approver: true }, { limit: 1 });
      expect((await refused(() => listQueue(deps, approver, { cursor: own.nextCursor ?? 'x' }))).details.field).toBe('cursor');
    } finally {
      close();
    }
  });

  it('a person with 60 requests sees them newest first over two pages, and nobody else’s', async () => {
    const { store, deps, close } = await pagingWorld();
    try {
      const models = ['gpt-4o', 'gpt-4o-mini', 'anthropic/claude-3', 'experimental'];
      // Sixty of ada's (withdrawn as they go, so each model can be asked for again), and one of bob's.
      for (let i = 0; i < 60; i++) {
        const { request } = await store.create({ email: ada.email, model: models[i % 4] as string });
        await store.update(request, { state: 'denied', decidedBy: 'user:admin@example.com', reason: `round ${i}` });
      }
      await store.create({ email: bob.email, model: 'gpt-4o' });
      const pages = await everyPage((cursor) => listOwn(deps, ada, { limit: 50, ...(cursor ? { cursor } : {}) }), 50);
      expect(pages.map((p) => p.length)).toEqual([50, 10]);
      const rows = pages.flat();
      expect(rows.every((r) => r.email === ada.email)).toBe(true);
      expect(rows.map((r) => r.reason)).toEqual(Array.from({ length: 60 }, (_, i) => `round ${59 - i}`));
      expect((await listOwn(deps, ada)).total).toBe(60);
      expect(await listOwn(deps, bob)).toMatchObject({ total: 1, requests: [{ email: bob.email }] });
    } finally {
      close();
    }
  });
});

describe('the paging parameters of GET /api/approvals and GET /api/requests', () => {
  const parse = (query: string) => parseQuery(`http://portal.test/api/approvals?${query}`, queueQuery);
  const refusedParse = (query: string): PortalError => {
    try {
      parse(query);
    } catch (err) {
      if (err instanceof PortalError) return err;
      throw err;
    }
    throw new Error(`expected ?${query} to be refused`);
  };

  it('takes 50 rows by default and at most 500; limit 501 is refused naming limit', () => {
    expect(parse('')).toMatchObject({ state: 'all', limit: 50 });
    expect(parse('limit=&cursor=')).toEqual({ state: 'all', model: '', requester: '', limit: 50, wait: 0 });
    expect(parse('state=in-review&model=gpt-4o&requester=ada&limit=500&cursor=abc&wait=25')).toEqual({ state: 'in-review', model: 'gpt-4o', requester: 'ada', limit: 500, cursor: 'abc', wait: 25 });
    for (const [query, message] of [
      ['limit=501', /^limit: at most 500 rows per page/],
      ['limit=0', /^limit: expected a whole number from 1 to 500/],
      ['limit=ten', /^limit: expected a whole number/],
      ['limit=2.5', /^limit: expected a whole number/],
      ['state=waiting', /^state: /],
    ] as const) {
      const err = refusedParse(query);
      expect([err.status, err.details.field, err.message]).toEqual([422, query.split('=')[0], expect.stringMatching(message)]);
    }
    expect(() => parseQuery('http://portal.test/api/requests?limit=501', ownQuery)).toThrow(/^limit: at most 500/);
  });
});
