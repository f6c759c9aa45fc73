import { describe, expect, it } from 'vitest';
import { sweepGateway } from '@/lib/loop/sweep';
import { metrics } from '@/lib/metrics/registry';
import { world } from '../helpers/reconciler-world';

// The sweep: the gateway's keyportal- keys against the store. Live keys at the gateway = issued requests.

type World = ReturnType<typeof world>;

async function issuedRequest(w: World, email = 'ada@example.com'): Promise<string> {
  const { request } = await w.store.create({ email, model: 'gpt-4o' });
  await w.run(request.id);
  return request.id;
}

async function gauge(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const json = await metrics().registry.getMetricsAsJSON();
  const values = json.find((m) => m.name === name)?.values ?? [];
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

describe('the gateway sweep', () => {
  it('finds nothing to say when every key belongs to an issued request', async () => {
    const w = world();
    await issuedRequest(w);
    await issuedRequest(w, 'bob@example.com');
    w.advance(5_000);
    const report = await sweepGateway({ store: w.store, gateway: w.gateway, events: w.events, orphans: 'delete', clock: () => new Date(Date.parse('2026-02-01T12:00:05Z')) });
    expect(report).toMatchObject({ keys: 2, orphans: [], missing: [], malformed: [], inFlight: 0 });
    expect(w.gateway.keys.size).toBe(2);
  });

  it('a key whose Secret was deleted with its finalizer removed by hand is an orphan: reported, or deleted when told to', async () => {
    const w = world();
    const id = await issuedRequest(w);
    w.store.edit(id, (s) => void delete s.metadata.finalizers);
    w.store.delete(id);
    const reported = await sweepGateway({ store: w.store, gateway: w.gateway, events: w.events, orphans: 'report' });
    expect(reported.orphans).toEqual([{ alias: `keyportal-${id}`, why: 'its request is gone', deleted: false }]);
    expect(w.gateway.keys.size).toBe(1);
    expect(await gauge('keyportal_gateway_orphans', { action: 'reported' })).toBe(1);
    const deleted = await sweepGateway({ store: w.store, gateway: w.gateway, events: w.events, orphans: 'delete' });
    expect(deleted.orphans).toEqual([{ alias: `keyportal-${id}`, why: 'its request is gone', deleted: true }]);
    expect(w.gateway.keys.size).toBe(0);
    expect(await gauge('keyportal_gateway_orphans', { action: 'deleted' })).toBe(1);
  });

  it('a key under the alias of a denied request is an orphan, with a Warning on that request', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'internal/secret-model' });
    await w.run(request.id);
    await w.gateway.generateKey({ key: w.gateway.newKey(), alias: `keyportal-${request.id}`, model: 'gpt-4o', userId: 'ada@example.com', requestId: request.id, limits: {} });
    const report = await sweepGateway({ store: w.store, gateway: w.gateway, events: w.events, orphans: 'report' });
    expect(report.orphans).toEqual([{ alias: `keyportal-${request.id}`, why: 'its request is denied', deleted: false }]);
    expect(w.events.events.find((e) => e.reason === 'OrphanKey')?.type).toBe('Warning');
  });

  it('an issued request whose key was deleted at the gateway by hand is reported missing and never minted again', async () => {
    const w = world();
    const id = await issuedRequest(w);
    await w.gateway.deleteKey(`keyportal-${id}`);
    w.advance(5_000);
    const report = await sweepGateway({ store: w.store, gateway: w.gateway, events: w.events, orphans: 'delete', clock: () => new Date(Date.parse('2026-02-01T12:00:05Z')) });
    expect(report.missing).toEqual([id]);
    expect(await gauge('keyportal_gateway_missing_keys')).toBe(1);
    expect(w.events.events.find((e) => e.reason === 'KeyMissingAtGateway')?.message).toContain('never minted again');
    await w.run(id);
    expect(w.gateway.calls.filter((c) => c === 'generate')).toHaveLength(1);
    expect(w.gateway.keys.size).toBe(0);
  });

  it('a key being minted (approved, stored, registered, not yet issued) is left to the loop', async () => {
    const w = world({ crashAt: 'after-gateway-generate' });
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id).catch(() => undefined);
    expect((await w.store.get(request.id)).state).toBe('approved');
    const report = await sweepGateway({ store: w.store, gateway: w.gateway, events: w.events, orphans: 'delete' });
    expect(report).toMatchObject({ keys: 1, orphans: [], inFlight: 1 });
    expect(w.gateway.keys.size).toBe(1);
  });
});
