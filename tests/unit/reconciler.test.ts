import { describe, expect, it } from 'vitest';
import { keyHash } from '@/lib/domain/key-request';
import { GatewayRefusedError, GatewayUnavailableError } from '@/lib/gateway/types';
import type { FailpointName } from '@/lib/loop/failpoints';
import { MailUnavailableError } from '@/lib/mail/types';
import { Crash, world } from '../helpers/reconciler-world';

// Issuing, the gateway and delivery, with the reconciler's in-memory world (tests/helpers/reconciler-world.ts).

describe('the reconciler with in-memory fakes', () => {
  it('a whitelisted request is issued and emailed in two writes after creation: no re-read, no key read, one key, one email, and the key erased', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    expect(await w.run(request.id)).toEqual({ requeueAfterMs: expect.any(Number) });
    const done = await w.store.get(request.id);
    const minted = [...w.gateway.keys.keys()][0] as string;
    expect(done).toMatchObject({ state: 'issued', notified: 'issued', decision: 'approved', decidedBy: 'plugin:whitelist', expiresAt: '2026-03-01T00:00:00Z', issuedAt: '2026-02-01T12:00:00Z' });
    expect(done.notifying).toBeUndefined();
    // approve + key + the email's claim; then, once the email is out, issued + notified + erased:
    // the key is at rest nowhere but the gateway.
    expect(w.store.calls).toMatchObject({ create: 1, update: 2, readKey: 0 });
    expect(done).toMatchObject({ hasKey: false, keySha256: keyHash(minted) });
    expect(w.store.secrets.get(request.id)?.data?.key).toBeUndefined();
    expect(JSON.stringify(w.store.secrets.get(request.id))).not.toContain(minted);
    expect(w.gateway.calls).toEqual(['generate']);
    expect(w.gateway.keys.size).toBe(1);
    expect(w.mailer.sent).toHaveLength(1);
    expect(w.mailer.sent[0]?.text).toContain(minted);
    // One pass, one Event that says all of it (lib/loop/events.ts mergeEvents).
    expect(w.events.events).toEqual([{ type: 'Normal', reason: 'KeyMinted', message: expect.stringMatching(/^approved by plugin:whitelist .*; key keyportal-\w+ minted at the gateway; emailed the requester about "issued"$/) }]);

    // Reconciled again (a resync, a second replica): nothing more happens.
    const before = { ...w.store.calls };
    await w.run(request.id, w.restart());
    expect(w.store.calls.update).toBe(before.update);
    expect(w.mailer.sent).toHaveLength(1);
    expect(w.gateway.keys.size).toBe(1);
  });

  it('a rival replica mid-mint is waited out: no second email while its claim stands, one key when it is taken over', async () => {
    const w = world({ crashAt: 'after-gateway-generate' });
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await expect(w.run(request.id)).rejects.toBeInstanceOf(Crash);
    // The key is at the gateway, the email not sent: a second replica must not send it yet.
    const rival = w.restart();
    expect(await w.run(request.id, rival)).toEqual({ requeueAfterMs: 30_000 });
    expect(w.mailer.sent).toHaveLength(0);
    expect((await w.store.get(request.id)).state).toBe('approved');
    w.advance(31_000);
    const writes = w.store.calls.update;
    await w.run(request.id, rival);
    // Taking the claim over is the one extra write; the key is found at the gateway, not made again.
    expect(w.store.calls.update - writes).toBe(2);
    expect(w.gateway.keys.size).toBe(1);
    expect(w.gateway.calls.filter((c) => c === 'generate')).toHaveLength(1);
    expect(w.mailer.sent).toHaveLength(1);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'issued', notified: 'issued', hasKey: false });
  });

  it('a gateway outage lets go of the claim, so the retry mints and emails as soon as it is due', async () => {
    const w = world();
    w.gateway.faults.push(new GatewayUnavailableError('gateway: connection refused'));
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    const waiting = await w.store.get(request.id);
    expect(waiting).toMatchObject({ state: 'approved', hasKey: true, retry: { step: 'mint', attempt: 1 } });
    expect(waiting.notifying).toBeUndefined();
    w.advance(2_000);
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'issued', notified: 'issued', hasKey: false });
    expect(w.mailer.sent).toHaveLength(1);
  });

  it('an SMTP outage after the mint records issued and retries the email from there', async () => {
    const w = world();
    const send = w.mailer.send;
    w.mailer.send = async () => {
      throw new MailUnavailableError('SMTP 127.0.0.1:1 did not take the message (ECONNREFUSED)');
    };
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    const issued = await w.store.get(request.id);
    expect(issued).toMatchObject({ state: 'issued', hasKey: true, retry: { step: 'notify', attempt: 1 }, expiresAt: '2026-03-01T00:00:00Z' });
    expect(issued.notified).toBeUndefined();
    expect(issued.notifying).toBeUndefined();
    w.mailer.send = send;
    w.advance(2_000);
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'issued', notified: 'issued', hasKey: false });
    expect(w.mailer.sent).toHaveLength(1);
    expect(w.gateway.keys.size).toBe(1);
  });

  it('a denial with kubectl that lands while the email is out is not overwritten by issued', async () => {
    const w = world();
    const send = w.mailer.send;
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    w.mailer.send = async (m) => {
      w.store.edit(request.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'denied'));
      await send(m);
    };
    await w.run(request.id);
    const after = await w.store.get(request.id);
    expect(after.state).toBe('denied');
    expect(after.decidedBy).toBe('kubectl');
  });

  it.each<FailpointName>(['after-key-stored', 'after-gateway-generate', 'after-issued', 'after-email-sent'])(
    'a crash %s and a new process: one key, the stored one, and the requester emailed',
    async (point) => {
      const w = world({ crashAt: point });
      const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
      await expect(w.run(request.id)).rejects.toBeInstanceOf(Crash);
      // The dead process's claim on the email must age out before another may send.
      w.advance(31_000);
      await w.run(request.id, w.restart());
      const done = await w.store.get(request.id);
      expect(done).toMatchObject({ state: 'issued', notified: 'issued' });
      expect(w.gateway.keys.size).toBe(1);
      // The one key at the gateway is the one the request stored (and, delivered, erased).
      expect([...w.gateway.keys.keys()].map(keyHash)).toEqual([done.keySha256]);
      expect(done.hasKey).toBe(false);
      expect(w.mailer.sent.length).toBeGreaterThanOrEqual(1);
      expect(w.mailer.sent.length).toBeLessThanOrEqual(point === 'after-email-sent' ? 2 : 1);
    },
  );

  it('a gateway that is down: the wait is stored, the request stays approved, and the retry mints once', async () => {
    const w = world();
    w.gateway.faults.push(new GatewayUnavailableError('connection refused'));
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    const { requeueAfterMs } = await w.run(request.id);
    const waiting = await w.store.get(request.id);
    expect(waiting).toMatchObject({ state: 'approved', retry: { step: 'mint', attempt: 1, error: 'connection refused' } });
    expect(requeueAfterMs).toBeGreaterThan(0);
    expect(await w.run(request.id)).toEqual({ requeueAfterMs: expect.any(Number) }); // not due yet
    expect(w.gateway.calls).toEqual(['generate']);
    w.advance(2000);
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'issued', notified: 'issued' });
    expect(w.gateway.keys.size).toBe(1);
  });

  it('a gateway that keeps failing past the retry budget: failed, with the last error, one Warning Event and one email', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    for (let i = 0; i < 1000; i++) w.gateway.faults.push(new GatewayUnavailableError(`HTTP 500 on attempt ${i + 1}`));
    await w.run(request.id);
    const first = (await w.store.get(request.id)).retry;
    expect(first).toMatchObject({ step: 'mint', attempt: 1, since: '2026-02-01T12:00:00Z' });
    // An hour of capped retries (8 s apart): the first failure's time is kept throughout.
    for (let i = 0; i < 500 && (await w.store.get(request.id)).state === 'approved'; i++) {
      w.advance(9000);
      await w.run(request.id);
    }
    // Told at once; then, with the gateway back, a key an attempt might have registered is
    // cleaned up there and the stored one erased.
    expect(await w.store.get(request.id)).toMatchObject({ state: 'failed', notified: 'failed' });
    w.gateway.faults.length = 0;
    w.advance(10_000);
    await w.run(request.id);
    const failed = await w.store.get(request.id);
    expect(failed).toMatchObject({ state: 'failed', notified: 'failed', hasKey: false });
    expect(failed.reason).toMatch(/^The gateway kept failing since 2026-02-01T12:00:00Z; gave up\. Last error: HTTP 500 on attempt \d+$/);
    expect(failed.retry).toBeUndefined();
    expect(w.events.events.filter((e) => e.reason === 'GaveUp')).toHaveLength(1);
    expect(w.mailer.sent).toHaveLength(1);
    expect(w.gateway.keys.size).toBe(0);
    expect(w.gateway.calls.length).toBeGreaterThan(300);
  });

  it('a key registered but whose answer was lost keeps the gateway\'s expiry, read back by hash', async () => {
    const w = world();
    w.gateway.loseNextAnswer = true;
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'approved', retry: { step: 'mint' } });
    w.advance(2000);
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'issued', expiresAt: '2026-03-01T00:00:00Z' });
    expect(w.gateway.calls).toEqual(['generate', 'info']);
    expect(w.gateway.keys.size).toBe(1);
  });

  it('portal delivery: the key stays until revealed, is erased after, and a key never revealed is taken back after the window', async () => {
    const w = world({ settings: { keyDelivery: 'portal' } });
    const portal = w.reconciler;
    const shown = (await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' })).request;
    const ignored = (await w.store.create({ email: 'bob@example.com', model: 'gpt-4o' })).request;
    for (const r of [shown, ignored]) await w.run(r.id, portal);
    expect(await w.store.get(shown.id)).toMatchObject({ state: 'issued', hasKey: true });
    // The requester reveals it (the portal records when); the loop then erases it.
    await w.store.update(await w.store.get(shown.id), { revealedAt: '2026-02-01T12:05:00Z' });
    await w.run(shown.id, portal);
    expect(await w.store.get(shown.id)).toMatchObject({ state: 'issued', hasKey: false });
    // Seven days on, the other was never collected: revoked, deleted at the gateway, told why.
    w.advance(7 * 86_400_000 + 1000);
    await w.run(ignored.id, portal);
    const revoked = await w.store.get(ignored.id);
    expect(revoked).toMatchObject({ state: 'revoked', notified: 'revoked', hasKey: false, decidedBy: 'keyportal' });
    expect(revoked.reason).toMatch(/not revealed within 7 days of being issued, so it was deleted at the gateway/);
    expect([...w.gateway.keys.values()].map((k) => k.requestId)).toEqual([shown.id]);
    expect(w.mailer.sent.filter((m) => m.to.includes('bob@example.com')).map((m) => m.subject)).toEqual([expect.stringMatching(/ready/), expect.stringMatching(/revoked/)]);
  });

  it('a revocation the gateway refuses is retried, never reported as done', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    const issued = await w.store.get(request.id);
    await w.store.update(issued, { state: 'revoked', decision: 'revoked', decidedBy: 'user:b@example.com', reason: 'left the company' });
    w.gateway.faults.push(new GatewayRefusedError(404, 'Not Found'));
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'revoked', retry: { step: 'revoke', attempt: 1 } });
    expect(w.gateway.keys.size).toBe(1);
    expect(w.events.events.at(-1)?.reason).toBe('GatewayRefused');
    w.advance(2000);
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'revoked', notified: 'revoked' });
    expect(w.gateway.keys.size).toBe(0);
  });

  it('a step that never moves the request on is an error to back off from, not a hot loop', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    // A store that acknowledges writes but keeps nothing: every pass plans the same step.
    w.store.update = async (r) => w.store.get(r.id);
    await expect(w.run(request.id)).rejects.toThrow(/still needed work after 12 steps/);
  });
});
