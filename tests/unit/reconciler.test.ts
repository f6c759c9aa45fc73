import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KeyRequest } from '@/lib/domain/key-request';
import type { State } from '@/lib/domain/states';
import { keyHash } from '@/lib/domain/key-request';
import { type Gateway, GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError, type KeyInfo, type MintInput } from '@/lib/gateway/types';
import type { EventRecorder, LoopEvent } from '@/lib/loop/events';
import type { FailpointName } from '@/lib/loop/failpoints';
import { type PlanSettings, type Step, plan } from '@/lib/loop/plan';
import { Reconciler, type ReconcilerSettings } from '@/lib/loop/reconciler';
import { type MailMessage, type Mailer, MailUnavailableError } from '@/lib/mail/types';
import { buildPlugins } from '@/plugins';
import { MemoryStore } from '../helpers/memory-store';
import { TEST_MODELS, TEST_PLUGINS } from '../helpers/portal';
import { RECONCILER_SETTINGS } from '../helpers/reconciler-settings';

// The reconciler alone, with in-memory fakes and a clock the test moves: no servers, no sleeps.

/** Keys by value as LiteLLM keeps them (by hash), with LiteLLM's alias rule. */
class FakeGateway implements Gateway {
  readonly kind = 'local' as const;
  readonly keys = new Map<string, MintInput>();
  readonly calls: string[] = [];
  /** Thrown by the next calls, in order. */
  readonly faults: Error[] = [];

  newKey(): string {
    return `sk-kp-${randomBytes(12).toString('hex')}`;
  }
  /** The next generate stores the key but its answer is lost (a timeout after the fact). */
  loseNextAnswer = false;
  async generateKey(input: MintInput): Promise<{ expiresAt?: string }> {
    this.calls.push('generate');
    const fault = this.faults.shift();
    if (fault) throw fault;
    if (this.keys.has(input.key) || [...this.keys.values()].some((k) => k.alias === input.alias)) throw new KeyAlreadyExistsError();
    this.keys.set(input.key, input);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw new GatewayUnavailableError('no answer within 2000 ms');
    }
    return { expiresAt: '2026-03-01T00:00:00Z' };
  }
  async keyInfo(hash: string): Promise<KeyInfo | undefined> {
    this.calls.push('info');
    return [...this.keys.keys()].some((k) => keyHash(k) === hash) ? { expiresAt: '2026-03-01T00:00:00Z' } : undefined;
  }
  async deleteKey(alias: string): Promise<void> {
    this.calls.push('delete');
    const fault = this.faults.shift();
    if (fault) throw fault;
    for (const [k, v] of this.keys) if (v.alias === alias) this.keys.delete(k);
  }
  async listModels(): Promise<string[]> {
    return TEST_MODELS.map((m) => m.id);
  }
  async alive(): Promise<void> {}
}

class FakeMailer implements Mailer {
  readonly kind = 'outbox' as const;
  readonly sent: MailMessage[] = [];
  send = async (m: MailMessage) => void this.sent.push(m);
  close(): void {}
}

class FakeEvents implements EventRecorder {
  readonly events: LoopEvent[] = [];
  record = async (_r: unknown, e: LoopEvent) => void this.events.push(e);
  recordOnSecret = async (_s: unknown, e: LoopEvent) => void this.events.push(e);
}

/** Stands in for SIGKILL at a failpoint: the pass stops there, as the process would. */
class Crash extends Error {}

const SETTINGS = RECONCILER_SETTINGS;

function world(options: { crashAt?: FailpointName; settings?: Partial<ReconcilerSettings> } = {}) {
  let now = Date.parse('2026-02-01T12:00:00Z');
  const clock = () => new Date(now);
  const store = new MemoryStore(clock);
  const gateway = new FakeGateway();
  const mailer = new FakeMailer();
  const events = new FakeEvents();
  const make = (crashAt?: FailpointName) =>
    new Reconciler({
      store,
      gateway,
      mailer,
      events,
      plugins: buildPlugins(TEST_PLUGINS, {}),
      settings: { ...SETTINGS, ...options.settings },
      clock,
      failpoint: (name) => {
        if (name === crashAt) throw new Crash(name);
      },
    });
  const reconciler = make(options.crashAt);
  const signal = new AbortController().signal;
  return {
    store,
    gateway,
    mailer,
    events,
    reconciler,
    /** A new process: no memory of the pass before. */
    restart: () => make(),
    run: (id: string, r = reconciler) => r.reconcile(id, signal),
    advance: (ms: number) => void (now += ms),
  };
}

const PLAN: PlanSettings = {
  catalog: new Set(TEST_MODELS.map((m) => m.id)),
  reviewNotify: ['a@example.com'],
  notifyClaimSeconds: 30,
  kubectlGraceSeconds: 15,
  giveUpAfterSeconds: 3600,
  keyDelivery: 'email',
  revealWindowSeconds: 7 * 86_400,
  reminderDays: [],
};
const NOW = Date.parse('2026-02-01T12:00:00Z');
const at = (ms: number) => new Date(NOW + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function req(state: State, over: Partial<KeyRequest> = {}): KeyRequest {
  return { id: 'aaaaaaaaaaaa', email: 'ada@example.com', model: 'gpt-4o', state, createdAt: at(-60_000), hasKey: false, resourceVersion: '7', ...over };
}

const decided = (state: 'approved' | 'denied') => ({ decision: state, decidedBy: 'plugin:whitelist', decidedAt: at(-1000) });

describe('plan: the state → next step table', () => {
  const rows: Array<[string, KeyRequest, Step]> = [
    ['pending is decided', req('pending'), { kind: 'decide' }],
    ['in-review emails the approvers once', req('in-review'), { kind: 'notify', notice: { state: 'in-review', to: 'approvers' } }],
    ['in-review already emailed waits for a person', req('in-review', { notified: 'in-review' }), { kind: 'done' }],
    ['approved by a label edit is recorded first', req('approved'), { kind: 'record-kubectl-decision', state: 'approved' }],
    ['approved, key not stored yet', req('approved', decided('approved')), { kind: 'store-key' }],
    ['approved with a stored key is minted', req('approved', { ...decided('approved'), hasKey: true }), { kind: 'mint' }],
    ['approved with a key, another replica is minting (its claim is live)', req('approved', { ...decided('approved'), hasKey: true, notifying: { state: 'issued', at: at(-10_000) } }), { kind: 'wait', ms: 20_000, why: 'claim' }],
    ['approved with a key, the claim of a replica that died is taken over', req('approved', { ...decided('approved'), hasKey: true, notifying: { state: 'issued', at: at(-31_000) } }), { kind: 'mint' }],
    ['approved, retry not due', req('approved', { ...decided('approved'), hasKey: true, retry: { step: 'mint', attempt: 2, at: at(4000), error: 'x' } }), { kind: 'wait', ms: 4000, why: 'retry' }],
    ['approved, failing past the retry budget, gives up', req('approved', { ...decided('approved'), hasKey: true, retry: { step: 'mint', attempt: 40, at: at(5000), since: at(-3_600_000), error: 'HTTP 500' } }), { kind: 'give-up-mint', since: at(-3_600_000), error: 'HTTP 500' }],
    ['approved, model left the catalog', req('approved', { ...decided('approved'), model: 'gone' }), { kind: 'fail-not-in-catalog' }],
    ['approved by a plugin, then denied with kubectl', req('denied', decided('approved')), { kind: 'record-kubectl-decision', state: 'denied' }],
    ['issued, email owed', req('issued', { ...decided('approved'), hasKey: true }), { kind: 'notify', notice: { state: 'issued', to: 'requester' } }],
    ['issued, another replica is sending', req('issued', { hasKey: true, notifying: { state: 'issued', at: at(-10_000) } }), { kind: 'wait', ms: 20_000, why: 'claim' }],
    ['issued, a stale claim is taken over', req('issued', { hasKey: true, notifying: { state: 'issued', at: at(-31_000) } }), { kind: 'notify', notice: { state: 'issued', to: 'requester' } }],
    ['issued and emailed waits for its expiry', req('issued', { notified: 'issued', expiresAt: at(3_600_000) }), { kind: 'wait', ms: 3_600_000, why: 'expiry' }],
    ['issued past its expiry', req('issued', { notified: 'issued', expiresAt: at(-1) }), { kind: 'expire' }],
    ['issued, no expiry', req('issued', { notified: 'issued' }), { kind: 'done' }],
    ['revoked: deleted at the gateway by alias, then emailed', req('revoked', { hasKey: false, decision: 'revoked', decidedBy: 'user:b@example.com' }), { kind: 'delete-at-gateway', notice: { state: 'revoked', to: 'requester' } }],
    ['revoked with kubectl (the approval still on record) is recorded first', req('revoked', decided('approved')), { kind: 'record-kubectl-decision', state: 'revoked' }],
    ['revoked with kubectl waits for the reason', req('revoked', { decision: 'revoked', decidedBy: 'kubectl', decidedAt: at(-5000) }), { kind: 'wait', ms: 10_000, why: 'kubectl-grace' }],
    ['revoked and emailed, a key still stored: erased', req('revoked', { hasKey: true, notified: 'revoked' }), { kind: 'erase-key' }],
    ['revoked and emailed', req('revoked', { notified: 'revoked' }), { kind: 'done' }],
    ['expired: deleted at the gateway too, then emailed', req('expired'), { kind: 'delete-at-gateway', notice: { state: 'expired', to: 'requester' } }],
    ['issued and emailed with its key: erased from the Secret', req('issued', { hasKey: true, notified: 'issued' }), { kind: 'erase-key' }],
    ['denied with kubectl waits for the reason', req('denied', { decision: 'denied', decidedBy: 'kubectl', decidedAt: at(-5000) }), { kind: 'wait', ms: 10_000, why: 'kubectl-grace' }],
    ['denied by a plugin is emailed', req('denied', decided('denied')), { kind: 'notify', notice: { state: 'denied', to: 'requester' } }],
    ['failed is emailed', req('failed'), { kind: 'notify', notice: { state: 'failed', to: 'requester' } }],
    ['expired and emailed', req('expired', { notified: 'expired' }), { kind: 'done' }],
    ['denied with a key stored (a crash raced the denial), once told: the gateway is cleaned up', req('denied', { ...decided('denied'), hasKey: true, notified: 'denied' }), { kind: 'delete-at-gateway' }],
    ['legacy: a decider without the decision annotation counts as recorded', req('approved', { decidedBy: 'user:x@example.com', decidedAt: at(-1) }), { kind: 'store-key' }],
    ['legacy: the JSON-less claim of older replicas still holds', req('denied', { ...decided('denied'), notifying: { state: 'denied', at: at(-1000) } }), { kind: 'wait', ms: 29_000, why: 'claim' }],
  ];
  it.each(rows)('%s', (_name, r, expected) => {
    expect(plan(r, NOW, PLAN)).toEqual(expected);
    // Pure: asked twice, the same answer.
    expect(plan(r, NOW, PLAN)).toEqual(plan(r, NOW, PLAN));
  });

  it('has a step for every state', () => {
    const covered = new Set(rows.map(([, r]) => r.state));
    expect([...covered].sort()).toEqual(['approved', 'denied', 'expired', 'failed', 'in-review', 'issued', 'pending', 'revoked']);
  });
});

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
    expect(w.events.events.map((e) => e.reason)).toEqual(['Approved', 'KeyMinted', 'EmailSent']);

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

  it('a request held for review and approved with kubectl records the decider and gets its key', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'experimental' });
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'in-review', notified: 'in-review' });
    expect(w.mailer.sent[0]?.to).toEqual(['approvers@example.com']);
    w.store.edit(request.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'approved'));
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'issued', decision: 'approved', decidedBy: 'kubectl', reason: 'Approved by an administrator' });
  });

  it('a plugin approval overturned with kubectl is recorded as the admin’s, not the plugin’s', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    const approved = await w.store.update(request, { state: 'approved', decision: 'approved', decidedBy: 'plugin:whitelist', decidedAt: '2026-02-01T11:00:00Z', reason: 'listed' });
    w.store.edit(approved.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'denied'));
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'denied', decision: 'denied', decidedBy: 'kubectl', reason: 'Denied by an administrator' });
    expect(w.mailer.sent).toHaveLength(0); // the grace period for `kubectl annotate … reason=`
    w.advance(16_000);
    await w.run(request.id);
    expect(w.mailer.sent).toHaveLength(1);
    expect(w.gateway.keys.size).toBe(0);
  });

  it('a key revoked with kubectl label alone is recorded as the admin’s and the requester is told that, not the approval’s reason', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'issued', notified: 'issued', reason: expect.any(String) });
    w.store.edit(request.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'revoked'));
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'revoked', decision: 'revoked', decidedBy: 'kubectl', reason: 'Revoked by an administrator' });
    expect(w.mailer.sent).toHaveLength(1); // only the "issued" email: the grace for `kubectl annotate … reason=`
    w.advance(16_000);
    await w.run(request.id);
    expect(w.gateway.keys.size).toBe(0);
    expect(w.mailer.sent).toHaveLength(2);
    expect(w.mailer.sent[1]?.text).toContain('Revoked by an administrator');
  });

  it('a key revoked with kubectl after annotating the reason and decider keeps them', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    w.advance(60_000);
    const { issuedAt } = await w.store.get(request.id);
    const annotatedAt = new Date(Date.parse(issuedAt ?? '') + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    w.store.edit(request.id, (s) => {
      s.metadata.annotations['keyportal.dev/reason'] = 'Left the company';
      s.metadata.annotations['keyportal.dev/decided-by'] = 'kubectl';
      s.metadata.annotations['keyportal.dev/decided-at'] = annotatedAt;
      s.metadata.labels['keyportal.dev/state'] = 'revoked';
    });
    for (let i = 0; i < 3; i++) {
      await w.run(request.id);
      w.advance(16_000);
    }
    expect(await w.store.get(request.id)).toMatchObject({ state: 'revoked', decision: 'revoked', decidedBy: 'kubectl', reason: 'Left the company', notified: 'revoked' });
    expect(w.gateway.keys.size).toBe(0);
    expect(w.mailer.sent.at(-1)?.text).toContain('Left the company');
  });

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
