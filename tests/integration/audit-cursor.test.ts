import { describe, expect, it } from 'vitest';
import type { CloudEvent } from '@/lib/audit/cloudevent';
import { CURSOR_NAME, KubernetesAuditCursor } from '@/lib/audit/cursor';
import type { KeyRequest } from '@/lib/domain/key-request';
import type { RequestStore } from '@/lib/store/types';
import { adminKubeConfig, kubectl, recordsInSecret } from '../helpers/cluster';
import { type WorkerProcess, spawnWorker, stopWorker, writeConfigFile } from '../helpers/portal';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// On Kubernetes, what reached the audit sink is kept as a resourceVersion cursor in one ConfigMap
// (lib/audit/cursor.ts), not as a write to each request: a request's life ends with the write that
// issued it, a worker started later does not send its records again, and records that went leave
// the Secret with the loop's next write of it.

async function world() {
  const w = await clusterWorld('audit-cursor');
  const configFile = writeConfigFile(w.setup);
  const workers: WorkerProcess[] = [];
  afterThisTest(() => Promise.all(workers.map(stopWorker)).then(() => undefined));
  const worker = () => {
    const p = spawnWorker(configFile);
    workers.push(p);
    return p;
  };
  return { ...w, worker, cursor: new KubernetesAuditCursor(adminKubeConfig(), w.namespace) };
}

type World = Awaited<ReturnType<typeof world>>;

/** Every record the request holds reached the collector, and the cursor as written in the cluster covers its version. */
const shippedAll = (w: World, id: string) =>
  until(async () => {
    const r = await w.store.get(id);
    const delivered = new Set(w.audit.distinct(id).map((e) => e.id));
    const through = await w.cursor.read();
    const covered = through !== undefined && BigInt(r.resourceVersion) <= through;
    return covered && (await recordsInSecret(w.namespace, id)).every((x) => delivered.has(x.id)) ? r : undefined;
  }, `request ${id}'s records shipped and under the cursor`, 30_000, 100);

const settled = (store: RequestStore, id: string, state: KeyRequest['state']) =>
  until(async () => {
    const r = await store.get(id);
    return r.state === state && r.notified === state && !r.hasKey ? r : undefined;
  }, `request ${id} ${state} and emailed`, 30_000);

/** The records the Secret itself holds (the test's own cache lets go of covered ones). */
const inSecret = (w: World, id: string) => recordsInSecret(w.namespace, id);

/** A worker, and a request of `email`'s held for review whose records all went and are under the cursor. */
async function heldAndShipped(email: string) {
  const w = await world();
  w.worker();
  const { request } = await w.store.create({ email, model: 'experimental' });
  await settled(w.store, request.id, 'in-review');
  await shippedAll(w, request.id);
  return { w, request };
}

/** Each record once: a consumer that does not drop repeats sees none. */
const once = (events: CloudEvent[]) => expect(events.length).toBe(new Set(events.map((e) => e.id)).size);

describe('the audit cursor', () => {
  it('a life ends with its issuing write; a worker started later sends none of its records again', async () => {
    const w = await world();
    const first = w.worker();
    const { request } = await w.store.create({ email: 'cursor@example.com', model: 'gpt-4o' });
    const issued = await settled(w.store, request.id, 'issued');
    const shipped = await shippedAll(w, request.id);
    // No acknowledgement write: the version that issued and emailed is the one the cursor covers.
    expect(shipped.resourceVersion).toBe(issued.resourceVersion);
    expect((await inSecret(w, request.id)).map((x) => x.type)).toContain('key.minted');
    await stopWorker(first);

    w.worker();
    // The new worker leads, reads the cursor, and ships a new request's records.
    const next = (await w.store.create({ email: 'next@example.com', model: 'gpt-4o' })).request;
    await settled(w.store, next.id, 'issued');
    await shippedAll(w, next.id);
    once(w.audit.about(request.id));
    once(w.audit.about(next.id));
    expect(w.audit.distinct(request.id).map((e) => e.type)).toContain('dev.keyportal.request.emailed');
  });

  it('a worker stopped with SIGTERM writes the cursor it holds: the records of its last seconds are not sent again', async () => {
    const w = await world();
    const first = w.worker();
    const warm = (await w.store.create({ email: 'warm@example.com', model: 'gpt-4o' })).request;
    await settled(w.store, warm.id, 'issued');
    await shippedAll(w, warm.id);
    // The cursor is written at most every 2 s: a request whose records went within that time of
    // the last write is under the cursor only in memory. Such a request is the one that matters.
    let last: KeyRequest | undefined;
    for (let i = 0; i < 5 && !last; i++) {
      const { request } = await w.store.create({ email: `last${i}@example.com`, model: 'gpt-4o' });
      const issued = await settled(w.store, request.id, 'issued');
      await until(async () => {
        const delivered = new Set(w.audit.distinct(request.id).map((e) => e.id));
        return (await inSecret(w, request.id)).every((x) => delivered.has(x.id)) || undefined;
      }, `request ${request.id}'s records delivered`, 30_000, 50);
      const through = await w.cursor.read();
      if (through === undefined || BigInt(issued.resourceVersion) > through) last = issued;
    }
    if (!last) throw new Error('every request was under the written cursor before the stop: the scenario never came about');
    await stopWorker(first);
    expect(await w.cursor.read()).toBeGreaterThanOrEqual(BigInt(last.resourceVersion));

    const sentBefore = w.audit.about(last.id).length;
    w.worker();
    const next = (await w.store.create({ email: 'after-stop@example.com', model: 'gpt-4o' })).request;
    await settled(w.store, next.id, 'issued');
    await shippedAll(w, next.id);
    expect(w.audit.about(last.id)).toHaveLength(sentBefore);
    once(w.audit.about(last.id));
  });

  it('kubectl label approves a held request whose records went: only the new ones are sent, and the loop writes the old ones out of the Secret', async () => {
    const { w, request } = await heldAndShipped('held@example.com');
    const before = (await inSecret(w, request.id)).map((x) => x.id);
    expect(before.length).toBeGreaterThan(1);

    await kubectl('-n', w.namespace, 'label', 'secret', `keyreq-${request.id}`, 'keyportal.dev/state=approved', '--overwrite');
    await settled(w.store, request.id, 'issued');
    await shippedAll(w, request.id);
    once(w.audit.about(request.id));
    const types = w.audit.distinct(request.id).map((e) => e.type.replace('dev.keyportal.', ''));
    expect(types.slice(0, 2)).toEqual(['request.created', 'plugin.answered']);
    expect(types).toContain('request.approved');
    expect(types).toContain('key.minted');
    expect((await inSecret(w, request.id)).filter((x) => before.includes(x.id))).toEqual([]);
  });

  it('a cache lets go of the records the cursor covers, and a write after that keeps only its own', async () => {
    const { w, request } = await heldAndShipped('resting@example.com');
    // This process's cache reads the cursor every ten seconds; the Secret keeps the records.
    const resting = await until(async () => {
      const r = await w.store.get(request.id);
      return r.auditPending === undefined ? r : undefined;
    }, 'the cache to let go of the covered records', 15_000, 200);
    expect(resting.auditShippedUpTo).toBe((await inSecret(w, request.id)).at(-1)?.id);
    await w.store.update(resting, { audit: [{ type: 'edit.refused', data: { note: 'after the cursor' } }] });
    expect((await inSecret(w, request.id)).map((x) => x.type)).toEqual(['edit.refused']);
    await until(() => w.audit.distinct(request.id).some((e) => e.type === 'dev.keyportal.edit.refused') || undefined, 'the new record shipped', 30_000, 100);
    once(w.audit.about(request.id));
  });

  it('a cursor deleted or mangled by hand costs repeats, never a record: the next worker sends what the Secrets hold and writes the cursor again', async () => {
    const w = await world();
    const first = w.worker();
    const { request } = await w.store.create({ email: 'mangled@example.com', model: 'gpt-4o' });
    await settled(w.store, request.id, 'issued');
    await shippedAll(w, request.id);
    await stopWorker(first);
    const sentBefore = w.audit.about(request.id).length;
    await kubectl('-n', w.namespace, 'patch', 'configmap', CURSOR_NAME, '--type=merge', '-p', '{"data":{"shippedThrough":"not-a-version"}}');

    w.worker();
    await until(() => w.audit.about(request.id).length >= 2 * sentBefore || undefined, 'the records the Secret holds sent again', 30_000, 100);
    await shippedAll(w, request.id);
    expect((await inSecret(w, request.id)).every((x) => w.audit.about(request.id).filter((e) => e.id === x.id).length === 2)).toBe(true);
    expect(w.audit.distinct(request.id).length).toBe(sentBefore);
  });
});
