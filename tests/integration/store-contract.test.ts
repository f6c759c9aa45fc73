import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '@/lib/domain/states';
import { ConflictError, MalformedSecretError, RequestNotFoundError, StoreUnavailableError } from '@/lib/store/errors';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { LocalDirectoryStore } from '@/lib/store/local';
import type { RequestStore, WatchEvent } from '@/lib/store/types';
import { adminKubeConfig, freshNamespace, kubectl } from '../helpers/cluster';
import { CuttableRelay } from '../helpers/net';
import { until } from '../helpers/wait';

interface EditableSecret {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
}

interface Harness {
  store: RequestStore;
  /** Replaces a stored request's raw Secret JSON, as a person editing by hand would. */
  handEdit(id: string, edit: (secret: EditableSecret) => void): Promise<void>;
  /** The raw stored bytes of one request, to prove nothing rewrote it. */
  raw(id: string): Promise<string>;
}

async function kubernetesHarness(): Promise<Harness> {
  const namespace = await freshNamespace('store');
  const store = new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() });
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  return {
    store,
    async handEdit(id, edit) {
      const s = (await core.readNamespacedSecret({ name: `keyreq-${id}`, namespace })) as unknown as EditableSecret;
      edit(s);
      await core.replaceNamespacedSecret({ name: `keyreq-${id}`, namespace, body: s as never });
    },
    async raw(id) {
      const s = await core.readNamespacedSecret({ name: `keyreq-${id}`, namespace });
      return JSON.stringify({ rv: s.metadata?.resourceVersion, labels: s.metadata?.labels, annotations: s.metadata?.annotations, data: s.data });
    },
  };
}

async function localHarness(): Promise<Harness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keyportal-store-'));
  const store = new LocalDirectoryStore(dir);
  const file = (id: string) => path.join(dir, `keyreq-${id}.json`);
  return {
    store,
    async handEdit(id, edit) {
      const s = JSON.parse(await readFile(file(id), 'utf8')) as EditableSecret;
      edit(s);
      await writeFile(file(id), JSON.stringify(s));
    },
    raw: (id) => readFile(file(id), 'utf8'),
  };
}

/** Runs `fn` over `items` with at most `width` in flight. */
async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

describe.each([
  ['KubernetesSecretStore', kubernetesHarness],
  ['LocalDirectoryStore', localHarness],
] as const)('%s', (_name, makeHarness) => {
  it('stores a new request as a pending, labelled request with its metadata in annotations', async () => {
    const { store } = await makeHarness();
    const { request, created } = await store.create({ email: 'Ada@Example.com', model: 'anthropic/claude-3' });
    expect(created).toBe(true);
    expect(request).toMatchObject({ email: 'Ada@Example.com', model: 'anthropic/claude-3', state: 'pending', hasKey: false });
    expect(request.id).toMatch(/^[a-z2-7]{12}$/);
    expect(request.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(await store.get(request.id)).toEqual(request);
  });

  it('answers a second request for the same email and model with the live one', async () => {
    const { store } = await makeHarness();
    const first = await store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    const again = await store.create({ email: 'ADA@example.com', model: 'gpt-4o' });
    expect(again).toEqual({ request: first.request, created: false });
    const other = await store.create({ email: 'ada@example.com', model: 'gpt-4o-mini' });
    expect(other.created).toBe(true);

    // Once the first is denied it no longer counts: asking again makes a new request.
    await store.update(first.request, { state: 'denied', reason: 'no' });
    const fresh = await store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    expect(fresh.created).toBe(true);
    expect(fresh.request.id).not.toBe(first.request.id);
  });

  it('keeps exactly one live request when the same pair is requested ten times at once', async () => {
    const { store } = await makeHarness();
    const results = await Promise.all(Array.from({ length: 10 }, () => store.create({ email: 'race@example.com', model: 'gpt-4o' })));
    const ids = new Set(results.map((r) => r.request.id));
    expect(ids.size).toBe(1);
    const { items } = await store.listByRequester('race@example.com');
    expect(items.filter((r) => r.state === 'pending')).toHaveLength(1);
  });

  it('refuses an update carrying a stale version, and keeps what is stored', async () => {
    const h = await makeHarness();
    const { request } = await h.store.create({ email: 'bob@example.com', model: 'gpt-4o' });
    const approved = await h.store.update(request, { state: 'approved', decidedBy: 'plugin:whitelist', decidedAt: '2026-01-01T00:00:00Z' });
    expect(approved.resourceVersion).not.toBe(request.resourceVersion);
    const before = await h.raw(request.id);
    await expect(h.store.update(request, { state: 'denied', reason: 'late' })).rejects.toBeInstanceOf(ConflictError);
    expect(await h.raw(request.id)).toBe(before);
    expect((await h.store.get(request.id)).state).toBe('approved');
  });

  it('refuses an illegal transition without writing', async () => {
    const h = await makeHarness();
    const { request } = await h.store.create({ email: 'eve@example.com', model: 'gpt-4o' });
    const before = await h.raw(request.id);
    await expect(h.store.update(request, { state: 'issued' })).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(h.store.update(request, { state: 'issued' })).rejects.toThrow(/"pending" to "issued"/);
    expect(await h.raw(request.id)).toBe(before);
  });

  it('keeps the minted key in data only, readable through readKey', async () => {
    const h = await makeHarness();
    const { request } = await h.store.create({ email: 'kim@example.com', model: 'gpt-4o' });
    const approved = await h.store.update(request, { state: 'approved' });
    const withKey = await h.store.update(approved, { key: 'sk-test-0123456789' });
    expect(withKey.hasKey).toBe(true);
    expect(withKey.state).toBe('approved');
    expect(await h.store.readKey(request.id)).toBe('sk-test-0123456789');
    const raw = await h.raw(request.id);
    expect(raw).not.toContain('sk-test-0123456789');
    expect(raw).toContain(Buffer.from('sk-test-0123456789').toString('base64'));
  });

  it('lists 1,000 requests page by page, each exactly once', async () => {
    const { store } = await makeHarness();
    await inBatches(
      Array.from({ length: 1000 }, (_, i) => i),
      25,
      (i) => store.create({ email: `user${i}@example.com`, model: 'gpt-4o' }),
    );
    const seen = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await store.listByState('pending', { limit: 100, continue: token });
      expect(page.items.length).toBeLessThanOrEqual(100);
      for (const r of page.items) {
        expect(seen.has(r.id)).toBe(false);
        seen.add(r.id);
      }
      token = page.continue;
      pages++;
    } while (token && pages < 20);
    expect(seen.size).toBe(1000);
    expect(pages).toBe(10);
    expect((await store.listByState('approved')).items).toEqual([]);
  });

  it('reports a hand-edited, malformed request and skips it, without rewriting it', async () => {
    const h = await makeHarness();
    const good = (await h.store.create({ email: 'good@example.com', model: 'gpt-4o' })).request;
    const bad = (await h.store.create({ email: 'bad@example.com', model: 'gpt-4o' })).request;
    await h.handEdit(bad.id, (s) => {
      s.metadata.annotations['keyportal.dev/email'] = 'not an email';
      s.metadata.annotations['keyportal.dev/created-at'] = 'yesterday';
    });
    const before = await h.raw(bad.id);
    // The store reads from its cache, which hears of the hand edit through its watch.
    await until(async () => (await h.store.listAll()).invalid.length === 1, 'the cache to see the hand edit');
    const page = await h.store.listAll();
    expect(page.items.map((r) => r.id)).toEqual([good.id]);
    expect(page.invalid).toHaveLength(1);
    expect(page.invalid[0]?.message).toMatch(new RegExp(`keyreq-${bad.id}.*keyportal\\.dev/email.*expected an email`));
    expect(page.invalid[0]?.message).toContain('keyportal.dev/created-at');
    await expect(h.store.get(bad.id)).rejects.toBeInstanceOf(MalformedSecretError);
    expect(await h.raw(bad.id)).toBe(before);
  });

  it('rejects an unknown id as not found', async () => {
    const { store } = await makeHarness();
    await expect(store.get('aaaaaaaaaaaa')).rejects.toBeInstanceOf(RequestNotFoundError);
  });

  it('tells a watcher about creates and updates', async () => {
    const { store } = await makeHarness();
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const watching = store.watch((e) => events.push(e), stop.signal);
    try {
      // Ready means the cache has listed and watches: the create below is then a live event.
      await store.ping();
      const { request } = await store.create({ email: 'watch@example.com', model: 'gpt-4o' });
      await until(() => events.some((e) => e.type === 'upsert' && e.id === request.id), 'an event for the create');
      const count = events.length;
      await store.update(request, { state: 'in-review' });
      await until(() => events.length > count && events.slice(count).some((e) => e.type === 'upsert' && e.id === request.id), 'an event for the update');
    } finally {
      stop.abort();
      await watching;
    }
  });
});

describe('the stores agree with Kubernetes itself', () => {
  it('a request created by the store is found by kubectl get secrets -l keyportal.dev/state=pending', async () => {
    const namespace = await freshNamespace('kubectl');
    const store = new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() });
    const { request } = await store.create({ email: 'ops@example.com', model: 'gpt-4o' });
    const out = await kubectl('-n', namespace, 'get', 'secrets', '-l', 'keyportal.dev/state=pending', '-o', 'name');
    expect(out.trim()).toBe(`secret/keyreq-${request.id}`);
    const described = await kubectl('-n', namespace, 'get', 'secret', `keyreq-${request.id}`, '-o', 'jsonpath={.metadata.annotations}');
    expect(JSON.parse(described)).toMatchObject({ 'keyportal.dev/email': 'ops@example.com', 'keyportal.dev/model': 'gpt-4o' });
  });

  it('the local folder holds Secrets the API server accepts as they are', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'keyportal-local-'));
    const store = new LocalDirectoryStore(dir);
    const { request } = await store.create({ email: 'local@example.com', model: 'anthropic/claude-3' });
    await store.update(request, { state: 'approved', decidedBy: 'user:admin@example.com' });
    const namespace = await freshNamespace('import');
    const [file] = await readdir(dir);
    const manifest = JSON.parse(await readFile(path.join(dir, file as string), 'utf8'));
    delete manifest.metadata.resourceVersion; // a local version means nothing to the cluster
    const tmp = path.join(dir, 'import.json');
    await writeFile(tmp, JSON.stringify(manifest));
    await kubectl('-n', namespace, 'create', '-f', tmp);
    const imported = new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() });
    const got = await imported.get(request.id);
    expect(got).toMatchObject({ id: request.id, email: 'local@example.com', state: 'approved', decidedBy: 'user:admin@example.com' });
  });
});

describe('a store that cannot be used says why', () => {
  it('an unreachable Kubernetes API gives StoreUnavailableError naming the server', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'gone', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-a-real-token' }],
      contexts: [{ name: 'c', cluster: 'gone', user: 'u' }],
      currentContext: 'c',
    });
    const store = new KubernetesSecretStore({ namespace: 'default', kubeConfig: kc });
    const err = await store.ping().catch((e: unknown) => e);
    store.close();
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toContain('https://127.0.0.1:1');
    expect((err as Error).message).not.toContain('not-a-real-token');
  });

  it('an unusable folder gives StoreUnavailableError naming the folder', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'keyportal-blocked-'));
    // A file where the folder should be fails for every user, root included.
    await writeFile(path.join(dir, 'requests'), 'not a folder');
    const store = new LocalDirectoryStore(path.join(dir, 'requests'));
    const err = await store.listAll().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toContain(path.join(dir, 'requests'));
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

describe('the Kubernetes store reads from a cache that survives a broken watch', () => {
  /** A store that reaches the API server through a relay the test can cut. */
  async function throughRelay() {
    const namespace = await freshNamespace('cache');
    const admin = adminKubeConfig();
    const server = new URL(admin.getCurrentCluster()?.server ?? '');
    const relay = new CuttableRelay({ host: server.hostname, port: Number(server.port) });
    await relay.start();
    const kc = new KubeConfig();
    const cluster = admin.getCurrentCluster();
    const user = admin.getCurrentUser();
    if (!cluster || !user) throw new Error('admin kubeconfig has no cluster or user');
    // The API server's certificate names 127.0.0.1, whatever the port: TLS is verified as usual.
    kc.loadFromOptions({
      clusters: [{ ...cluster, server: `https://127.0.0.1:${relay.port}` }],
      users: [user],
      contexts: [{ name: 'relay', cluster: cluster.name, user: user.name }],
      currentContext: 'relay',
    });
    const store = new KubernetesSecretStore({ namespace, kubeConfig: kc });
    const other = new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() });
    return { store, other, relay, namespace };
  }

  it('a cut watch resumes where it stopped: changes made meanwhile reach the cache and the watcher', async () => {
    const { store, other, relay } = await throughRelay();
    try {
      const before = (await other.create({ email: 'early@example.com', model: 'gpt-4o' })).request;
      await store.ping();
      const events: WatchEvent[] = [];
      const stop = new AbortController();
      const watching = store.watch((e) => events.push(e), stop.signal);
      expect(relay.cut()).toBeGreaterThan(0);
      const during = (await other.create({ email: 'during@example.com', model: 'gpt-4o' })).request;
      await other.update(await other.get(before.id), { state: 'in-review' });
      await until(async () => (await store.get(before.id)).state === 'in-review' && events.some((e) => e.type === 'upsert' && e.id === during.id), 'the cache to catch up after the cut', 20_000);
      expect((await store.query({})).total).toBe(2);
      // Resumed from its version, not relisted: no resync was announced.
      expect(events.some((e) => e.type === 'resync')).toBe(false);
      stop.abort();
      await watching;
    } finally {
      store.close();
      other.close();
      await relay.stop();
    }
  });

  it('a watch resumed from an old version, after the API server was out of reach, catches up: what was deleted is gone, what changed is current', async () => {
    const { store, other, relay, namespace } = await throughRelay();
    try {
      const a = (await other.create({ email: 'a@example.com', model: 'gpt-4o' })).request;
      const b = (await other.create({ email: 'b@example.com', model: 'gpt-4o' })).request;
      await store.ping();
      await until(async () => (await store.query({})).total === 2, 'the cache to hold both');
      const events: WatchEvent[] = [];
      const stop = new AbortController();
      const watching = store.watch((e) => events.push(e), stop.signal);
      // The API server is out of reach, and when it comes back our version is long past. A
      // cluster that has run a while answers 410 Gone and the cache relists (proven against an
      // API that expires versions in tests/unit/informer-relist.test.ts); a fresh test cluster
      // still keeps every event since it started and replays them. Either way it must catch up.
      relay.hold();
      store.informer.resumeFrom('1');
      // No loop runs here to ship its audit records: an admin's escape hatch lets it go at once.
      await kubectl('-n', namespace, 'patch', 'secret', `keyreq-${a.id}`, '--type=merge', '-p', '{"metadata":{"finalizers":null}}');
      await kubectl('-n', namespace, 'delete', 'secret', `keyreq-${a.id}`);
      await other.update(await other.get(b.id), { state: 'denied', reason: 'no' });
      relay.release();
      await until(() => events.some((e) => e.type === 'delete' && e.id === a.id), 'the deletion to reach the cache', 40_000);
      expect(Number(store.informer.version)).toBeGreaterThan(1);
      expect((await store.get(b.id)).state).toBe('denied');
      await expect(store.get(a.id)).rejects.toBeInstanceOf(RequestNotFoundError);
      expect((await store.query({})).total).toBe(1);
      await store.ping();
      stop.abort();
      await watching;
    } finally {
      store.close();
      other.close();
      await relay.stop();
    }
  });
});
