import { describe, expect, it } from 'vitest';
import type { User } from '@/lib/auth/roles';
import { type PortalDeps, createRequest } from '@/lib/portal/requests';
import { awaitOwnList, awaitQueue, awaitRequest } from '@/lib/portal/status-wait';
import { ChangeFeed } from '@/lib/store/change-feed';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { parseQuery } from '@/lib/portal/parse';
import { ownQuery, statusQuery } from '@/lib/validations/requests';
import { MemoryPeople } from '../helpers/memory-people';
import { refused } from '../helpers/refused';
import { until } from '../helpers/wait';
import { afterThisTest } from '../helpers/world';
import { adminKubeConfig, freshNamespace, kubectl } from '../helpers/cluster';
import { testConfig } from '../helpers/portal';

// A status page's long poll on the real API server: a read held with the page's tag answers when
// the request changes (the cache's watch wakes it), and only then, and lets go when told to.

const ada: User = { email: 'ada@example.com', groups: [], approver: false };
const bob: User = { email: 'bob@example.com', groups: [], approver: false };

async function world(maxWaiters?: number) {
  const namespace = await freshNamespace('status-wait');
  const store = new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() });
  const changes = new ChangeFeed(store, maxWaiters);
  const people = new MemoryPeople();
  const config = testConfig({ store: { type: 'kubernetes', namespace, kubeconfig: 'unused' }, gatewayUrl: 'http://127.0.0.1:9', smtp: { host: '127.0.0.1', port: 9 } });
  const deps: PortalDeps = { store, config, changes, people };
  afterThisTest(() => {
    changes.close();
    store.close();
  });
  const requestOf = async (user: User) => {
    const { request } = await createRequest(deps, user, 'gpt-4o');
    const { etag } = await awaitRequest(deps, user, request.id, { waitMs: 0 });
    return { id: request.id, etag };
  };
  return { store, changes, people, deps, requestOf };
}

describe('a status page waiting for its request', () => {
  it('is answered the moment the request changes, with the new state and a new tag', async () => {
    const { store, changes, deps, requestOf } = await world();
    const { id, etag } = await requestOf(ada);
    const held = awaitRequest(deps, ada, id, { ifNoneMatch: etag, waitMs: 20_000 });
    await until(() => changes.waiting === 1, 'the read to be held');
    await store.update(await store.get(id), { state: 'in-review', reason: 'Held for review: test' });
    const answer = await held;
    expect(answer.fresh).toBe(true);
    expect(answer.view.state).toBe('in-review');
    expect(answer.etag).not.toBe(etag);
    expect(changes.waiting).toBe(0);
  });

  it('answers "unchanged" (304) when its time is up, and another request\'s change does not wake it', async () => {
    const { store, changes, deps, requestOf } = await world();
    const mine = await requestOf(bob);
    const other = await requestOf(ada);
    const held = awaitRequest(deps, bob, mine.id, { ifNoneMatch: mine.etag, waitMs: 1500 });
    await until(() => changes.waiting === 1, 'the read to be held');
    await store.update(await store.get(other.id), { state: 'in-review', reason: 'Held for review: test' });
    const answer = await held;
    expect(answer).toMatchObject({ fresh: false, etag: mine.etag });
    expect(answer.refused).toBeUndefined();
    expect(changes.waiting).toBe(0);
  });

  it('answers at once when the page is already behind, or sends no tag, or asks for no wait', async () => {
    const { deps, changes, requestOf } = await world();
    const { id, etag } = await requestOf(ada);
    expect((await awaitRequest(deps, ada, id, { ifNoneMatch: '"something-older"', waitMs: 20_000 })).fresh).toBe(true);
    expect((await awaitRequest(deps, ada, id, { waitMs: 20_000 })).fresh).toBe(true);
    expect(await awaitRequest(deps, ada, id, { ifNoneMatch: `W/${etag}, "x"`, waitMs: 0 })).toMatchObject({ fresh: false, etag });
    // `*` matches any version: 304 at once, never a hold that no change could end.
    const asked = awaitRequest(deps, ada, id, { ifNoneMatch: '*', waitMs: 20_000 });
    expect(changes.waiting).toBe(0);
    const any = await asked;
    expect(any).toMatchObject({ fresh: false, etag });
    expect(any.refused).toBeUndefined();
    expect(changes.waiting).toBe(0);
  });

  it('lets go of the hold when the client goes away', async () => {
    const { changes, deps, requestOf } = await world();
    const { id, etag } = await requestOf(ada);
    const gone = new AbortController();
    const held = awaitRequest(deps, ada, id, { ifNoneMatch: etag, waitMs: 20_000, signal: gone.signal });
    await until(() => changes.waiting === 1, 'the read to be held');
    gone.abort();
    expect((await held).fresh).toBe(false);
    expect(changes.waiting).toBe(0);
  });

  it('past its most held reads, a replica refuses to hold one (the page pauses), and on stopping it lets every held read go', async () => {
    const { changes, deps, requestOf } = await world(1);
    const a = await requestOf(ada);
    const b = await requestOf(bob);
    // The feed's subscription begins by offering every stored request once (the store's watch
    // contract), which wakes whatever is held then; the server starts it before any page asks.
    changes.start();
    expect((await awaitRequest(deps, ada, a.id, { ifNoneMatch: a.etag, waitMs: 300 })).fresh).toBe(false);
    const first = awaitRequest(deps, ada, a.id, { ifNoneMatch: a.etag, waitMs: 20_000 });
    await until(() => changes.waiting === 1, 'the first read to be held');
    expect(await awaitRequest(deps, bob, b.id, { ifNoneMatch: b.etag, waitMs: 20_000 })).toMatchObject({ fresh: false, refused: true });
    changes.close();
    expect(await first).toMatchObject({ fresh: false, refused: true });
    expect(changes.waiting).toBe(0);
    expect(await awaitRequest(deps, ada, a.id, { ifNoneMatch: a.etag, waitMs: 20_000 })).toMatchObject({ fresh: false, refused: true });
  });

  it('tells someone offboarded while their page waited nothing more, and a stranger nothing at all', async () => {
    const { store, changes, people, deps, requestOf } = await world();
    const { id, etag } = await requestOf(ada);
    expect((await refused(() => awaitRequest(deps, bob, id, { ifNoneMatch: etag, waitMs: 20_000 }))).status).toBe(404);
    const held = refused(() => awaitRequest(deps, ada, id, { ifNoneMatch: etag, waitMs: 20_000 }));
    await until(() => changes.waiting === 1, 'the read to be held');
    await people.recordOffboarding({ email: ada.email, at: new Date().toISOString(), by: 'hr', reason: 'left' });
    await store.update(await store.get(id), { state: 'in-review', reason: 'Held for review: test' });
    const err = await held;
    expect(err.status).toBe(403);
    expect(err.message).not.toContain('in-review');
  });

  it('refuses a wait that is not a whole number of seconds up to 30, naming the parameter', () => {
    expect(parseQuery('http://x/api/requests/abc?wait=25', statusQuery)).toEqual({ wait: 25 });
    expect(parseQuery('http://x/api/requests/abc', statusQuery)).toEqual({ wait: 0 });
    for (const bad of ['31', '-1', '2.5', 'soon']) {
      const err = (() => {
        try {
          parseQuery(`http://x/api/requests/abc?wait=${bad}`, statusQuery);
        } catch (e) {
          return e as { status: number; message: string };
        }
      })();
      expect(err?.status, bad).toBe(422);
      expect(err?.message, bad).toContain('wait');
    }
  });
});

describe('"My requests" waiting on the person\'s requests', () => {
  it('is answered when one of theirs is made, changes or is deleted with kubectl, and not when someone else\'s does', async () => {
    const { store, changes, deps, requestOf } = await world();
    const { namespace } = store;
    const page = { limit: 20 };
    const mine = await requestOf(ada);
    const other = await requestOf(bob);
    const listed = await awaitOwnList(deps, ada, page, { waitMs: 0 });
    expect(listed.view.requests.map((r) => r.id)).toEqual([mine.id]);

    const quiet = awaitOwnList(deps, ada, page, { ifNoneMatch: listed.etag, waitMs: 1500 });
    await until(() => changes.waiting === 1, 'the list read to be held');
    await store.update(await store.get(other.id), { state: 'in-review', reason: 'Held for review: test' });
    expect(await quiet).toMatchObject({ fresh: false, etag: listed.etag });

    const changed = awaitOwnList(deps, ada, page, { ifNoneMatch: listed.etag, waitMs: 20_000 });
    await until(() => changes.waiting === 1, 'the list read to be held');
    await store.update(await store.get(mine.id), { state: 'in-review', reason: 'Held for review: test' });
    const afterChange = await changed;
    expect(afterChange.fresh).toBe(true);
    expect(afterChange.view.requests[0]?.state).toBe('in-review');

    const made = awaitOwnList(deps, ada, page, { ifNoneMatch: afterChange.etag, waitMs: 20_000 });
    await until(() => changes.waiting === 1, 'the list read to be held');
    const second = (await createRequest(deps, ada, 'gpt-4o-mini')).request;
    const afterMade = await made;
    expect(afterMade.view.requests.map((r) => r.id).sort()).toEqual([mine.id, second.id].sort());

    const deleted = awaitOwnList(deps, ada, page, { ifNoneMatch: afterMade.etag, waitMs: 20_000 });
    await until(() => changes.waiting === 1, 'the list read to be held');
    // No loop runs here to release the request's finalizer: an admin's delete, then the Secret gone.
    await kubectl('-n', namespace, 'patch', 'secret', `keyreq-${second.id}`, '--type=merge', '-p', '{"metadata":{"finalizers":null}}');
    await kubectl('-n', namespace, 'delete', 'secret', `keyreq-${second.id}`, '--wait=false');
    const afterDelete = await deleted;
    expect(afterDelete.fresh).toBe(true);
    expect(afterDelete.view.requests.map((r) => r.id)).toEqual([mine.id]);
    expect(changes.waiting).toBe(0);
  });

  it("holds the approvers' queue until a request on the page changes, and refuses a non-approver", async () => {
    const { store, changes, deps, requestOf } = await world();
    const approver: User = { email: 'approver@example.com', groups: [], approver: true };
    const mine = await requestOf(ada);
    const filter = { requester: ada.email, limit: 20 };
    const shown = await awaitQueue(deps, approver, filter, { waitMs: 0 });
    expect(shown.view.requests.map((r) => r.id)).toEqual([mine.id]);
    const held = awaitQueue(deps, approver, filter, { ifNoneMatch: shown.etag, waitMs: 20_000 });
    await until(() => changes.waiting === 1, 'the queue read to be held');
    await store.update(await store.get(mine.id), { state: 'in-review', reason: 'Held for review: test' });
    const answer = await held;
    expect(answer.fresh).toBe(true);
    expect(answer.view.requests[0]?.state).toBe('in-review');
    expect((await refused(() => awaitQueue(deps, ada, filter, { ifNoneMatch: shown.etag, waitMs: 20_000 }))).status).toBe(403);
    expect(changes.waiting).toBe(0);
  });

  it('takes a wait like a status read does, and names a bad one', () => {
    expect(parseQuery('http://x/api/requests?wait=25&limit=10', ownQuery)).toMatchObject({ wait: 25, limit: 10 });
    expect(() => parseQuery('http://x/api/requests?wait=31', ownQuery)).toThrow(/wait/);
  });
});
