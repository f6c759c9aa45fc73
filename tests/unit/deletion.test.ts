import { describe, expect, it } from 'vitest';
import { AUDIT_FINALIZER, GATEWAY_KEY_FINALIZER } from '@/lib/domain/key-request';
import { GatewayUnavailableError } from '@/lib/gateway/types';
import { RequestNotFoundError } from '@/lib/store/errors';
import { world } from '../helpers/reconciler-world';

// `kubectl delete secret keyreq-<id>`: the finalizer keeps the Secret until its key is gone at the gateway.

describe('deleting a request Secret', () => {
  it('an issued request carries the finalizer from the moment its key is stored', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    expect((await w.store.get(request.id)).finalizers).toEqual([AUDIT_FINALIZER]);
    await w.run(request.id);
    expect((await w.store.get(request.id)).finalizers).toEqual([AUDIT_FINALIZER, GATEWAY_KEY_FINALIZER]);
  });

  it('deleting an issued request deletes its key at the gateway, tells the requester once, ships its history, then lets the Secret go', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    expect(w.gateway.keys.size).toBe(1);
    w.store.delete(request.id);
    expect((await w.store.get(request.id)).deletingSince).toBeDefined();
    await w.run(request.id);
    expect(w.gateway.keys.size).toBe(0);
    // The key is gone; the audit finalizer holds the Secret until its records are acknowledged.
    expect((await w.store.get(request.id)).finalizers).toEqual([AUDIT_FINALIZER]);
    await w.ship();
    await expect(w.store.get(request.id)).rejects.toBeInstanceOf(RequestNotFoundError);
    const types = w.shipped().map((e) => e.type);
    expect(types.filter((t) => t === 'dev.keyportal.request.deleted')).toHaveLength(1);
    expect(types).toContain('dev.keyportal.key.deleted');
    expect(types.indexOf('dev.keyportal.key.deleted')).toBeLessThan(types.indexOf('dev.keyportal.request.deleted'));
    expect(w.mailer.sent).toHaveLength(2);
    expect(w.mailer.sent[1]?.subject).toMatch(/revoked/i);
    expect(w.mailer.sent[1]?.text).toContain('deleted by an administrator');
    expect(w.events.events.map((e) => e.reason)).toContain('KeyDeleted');
    // Again (a resync of what is gone): nothing.
    await w.run(request.id);
    expect(w.mailer.sent).toHaveLength(2);
  });

  it('with the gateway down the finalizer stays, the Secret with it, and a Warning says the key is still live; then it retries', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    w.gateway.faults.push(new GatewayUnavailableError('connection refused'));
    w.store.delete(request.id);
    const result = await w.run(request.id);
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    const held = await w.store.get(request.id);
    expect(held).toMatchObject({ finalizers: [AUDIT_FINALIZER, GATEWAY_KEY_FINALIZER], retry: { step: 'revoke', attempt: 1 } });
    // Nothing is let go while the key lives, not even by the audit shipper.
    await w.ship();
    expect((await w.store.get(request.id)).finalizers).toEqual([AUDIT_FINALIZER, GATEWAY_KEY_FINALIZER]);
    expect(w.gateway.keys.size).toBe(1);
    expect(w.mailer.sent).toHaveLength(1);
    const warning = w.events.events.find((e) => e.reason === 'DeletionBlocked');
    expect(warning).toMatchObject({ type: 'Warning' });
    expect(warning?.message).toContain('still live at the gateway');
    w.advance(5_000);
    await w.run(request.id);
    expect(w.gateway.keys.size).toBe(0);
    await w.ship();
    await expect(w.store.get(request.id)).rejects.toBeInstanceOf(RequestNotFoundError);
  });

  it('deleting a request that never had a key: gone once its history is shipped, nothing asked of the gateway', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'internal/secret-model' });
    await w.run(request.id);
    w.store.delete(request.id);
    expect((await w.store.get(request.id)).deletingSince).toBeDefined();
    await w.ship();
    await expect(w.store.get(request.id)).rejects.toBeInstanceOf(RequestNotFoundError);
    expect(w.gateway.calls).toEqual([]);
    expect(w.shipped().map((e) => e.type)).toEqual(['dev.keyportal.request.created', 'dev.keyportal.plugin.answered', 'dev.keyportal.request.denied', 'dev.keyportal.request.emailed', 'dev.keyportal.request.deleted']);
    expect(w.shipped().at(-1)?.data).toMatchObject({ state: 'denied', via: 'kubectl' });
  });

  it('a finalizer removed by hand from a live key is put back, so a later deletion still deletes the key', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    w.store.edit(request.id, (s) => void delete s.metadata.finalizers);
    await w.run(request.id);
    expect((await w.store.get(request.id)).finalizers).toEqual([GATEWAY_KEY_FINALIZER]);
    expect(w.events.events.find((e) => e.reason === 'FinalizerRestored')?.type).toBe('Warning');
  });

  it('a revoked key lets go of its finalizer with the email that says it is gone; another finalizer an admin added stays', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    w.store.edit(request.id, (s) => void s.metadata.finalizers?.push('example.com/backup'));
    const issued = await w.store.get(request.id);
    await w.store.update(issued, { state: 'revoked', decision: 'revoked', decidedBy: 'user:bob@example.com', decidedAt: '2026-02-01T12:01:00Z', reason: 'Left' });
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'revoked', notified: 'revoked', finalizers: [AUDIT_FINALIZER, 'example.com/backup'] });
    expect(w.gateway.keys.size).toBe(0);
  });
});
