import { describe, expect, it } from 'vitest';
import { world } from '../helpers/reconciler-world';

// Decisions made by editing the Secret's labels with kubectl, and the reasons the requester is told.

describe('the reconciler and kubectl label edits', () => {
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

  it('a key revoked the README way (annotate the reason, then label) emails the administrator’s reason, not the approval’s', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    w.store.edit(request.id, (s) => void (s.metadata.annotations['keyportal.dev/reason'] = 'Left the company'));
    w.store.edit(request.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'revoked'));
    for (let i = 0; i < 3; i++) {
      await w.run(request.id);
      w.advance(16_000);
    }
    expect(await w.store.get(request.id)).toMatchObject({ state: 'revoked', decision: 'revoked', decidedBy: 'kubectl', reason: 'Left the company', notified: 'revoked' });
    expect(w.gateway.keys.size).toBe(0);
    expect(w.mailer.sent.at(-1)?.text).toContain('Left the company');
  });

  it('a reason annotated before a label edit that is put back stays the administrator’s, but decides nothing', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'internal/secret-model' });
    await w.run(request.id);
    w.store.edit(request.id, (s) => {
      s.metadata.annotations['keyportal.dev/reason'] = 'Please';
      s.metadata.labels['keyportal.dev/state'] = 'approved';
    });
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'denied', decidedBy: 'plugin:blacklist' });
    expect(w.gateway.calls).toEqual([]);
  });

  it('two administrators relabelling at once: the last label the loop sees is judged from the accepted state', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'experimental' });
    await w.run(request.id);
    // A approves, B denies, before the loop looks: in-review → denied is legal, so B's stands.
    w.store.edit(request.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'approved'));
    w.store.edit(request.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'denied'));
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'denied', decidedBy: 'kubectl', observed: { state: 'denied' } });
    // A's approval arrives late, over the denial: put back.
    w.store.edit(request.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'approved'));
    w.advance(16_000);
    await w.run(request.id);
    expect(await w.store.get(request.id)).toMatchObject({ state: 'denied', notified: 'denied' });
    expect(w.gateway.keys.size).toBe(0);
    expect(w.events.events.filter((e) => e.reason === 'IllegalTransition')).toHaveLength(1);
  });
});
