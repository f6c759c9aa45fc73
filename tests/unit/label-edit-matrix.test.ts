import { describe, expect, it } from 'vitest';
import { STATES, type State, canEditLabel } from '@/lib/domain/states';
import { GatewayRefusedError } from '@/lib/gateway/types';
import { world } from '../helpers/reconciler-world';

// Every `kubectl label … keyportal.dev/state=<to>` from every state a request can be in: the
// legal edits go on, every other one is put back with nothing changed at the gateway or in mail.
// The invariant after each: live keys at the gateway = issued requests.

type World = ReturnType<typeof world>;
const DAY = 86_400_000;

/** Runs the loop over a request until it has nothing more to do now, moving past the kubectl grace. */
async function settle(w: World, id: string): Promise<void> {
  for (let i = 0; i < 6; i++) {
    await w.run(id);
    w.advance(16_000);
  }
}

/** A request brought to `state` the way it really gets there. */
async function requestIn(w: World, state: State): Promise<string> {
  const make = (model: string) => w.store.create({ email: 'ada@example.com', model }).then((c) => c.request.id);
  const issued = async () => {
    const id = await make('gpt-4o');
    await settle(w, id);
    return id;
  };
  switch (state) {
    case 'pending':
      return make('gpt-4o');
    case 'in-review': {
      const id = await make('experimental');
      await settle(w, id);
      return id;
    }
    case 'approved': {
      const id = await make('experimental');
      await settle(w, id);
      await w.store.update(await w.store.get(id), { state: 'approved', decision: 'approved', decidedBy: 'user:bob@example.com', decidedAt: '2026-02-01T12:00:00Z', reason: 'ok' });
      return id;
    }
    case 'issued':
      return issued();
    case 'denied': {
      const id = await make('internal/secret-model');
      await settle(w, id);
      return id;
    }
    case 'failed': {
      w.gateway.faults.push(new GatewayRefusedError(403, 'model not allowed'));
      return issued();
    }
    case 'revoked': {
      const id = await issued();
      await w.store.update(await w.store.get(id), { state: 'revoked', decision: 'revoked', decidedBy: 'user:bob@example.com', decidedAt: '2026-02-01T12:05:00Z', reason: 'Left' });
      await settle(w, id);
      return id;
    }
    case 'expired': {
      const id = await issued();
      w.advance(29 * DAY);
      await settle(w, id);
      return id;
    }
  }
}

const LEGAL: Record<string, { end: State; keys: number; mailed?: State }> = {
  'pending->denied': { end: 'denied', keys: 0, mailed: 'denied' },
  'in-review->approved': { end: 'issued', keys: 1, mailed: 'issued' },
  'in-review->denied': { end: 'denied', keys: 0, mailed: 'denied' },
  'approved->denied': { end: 'denied', keys: 0, mailed: 'denied' },
  'issued->revoked': { end: 'revoked', keys: 0, mailed: 'revoked' },
  'failed->approved': { end: 'issued', keys: 1, mailed: 'issued' },
};

const edges = STATES.flatMap((from) => STATES.filter((to) => to !== from).map((to) => [from, to] as [State, State]));

describe('kubectl label edits: the whole from × to matrix', () => {
  it('the label-edit table is exactly the legal list', () => {
    expect(edges.filter(([f, t]) => canEditLabel(f, t)).map(([f, t]) => `${f}->${t}`).sort()).toEqual(Object.keys(LEGAL).sort());
  });

  it.each(edges)('%s → %s', async (from, to) => {
    const w = world();
    const id = await requestIn(w, from);
    const before = await w.store.get(id);
    expect(before.state).toBe(from);
    const keysBefore = [...w.gateway.keys.keys()];
    const mailsBefore = w.mailer.sent.length;
    const callsBefore = w.gateway.calls.length;

    w.store.edit(id, (s) => void (s.metadata.labels['keyportal.dev/state'] = to));
    await settle(w, id);
    const after = await w.store.get(id);
    const legal = LEGAL[`${from}->${to}`];

    if (!legal) {
      // Put back, and then the request goes on exactly as one nobody touched (a twin world):
      // pending is still decided by the chain, approved is still minted, the rest stay as they were.
      const twin = world();
      const twinId = await requestIn(twin, from);
      await settle(twin, twinId);
      const untouched = await twin.store.get(twinId);
      expect(after.state).toBe(untouched.state);
      expect(after.observed?.state).toBe(untouched.state);
      expect(w.gateway.keys.size).toBe(twin.gateway.keys.size);
      expect(w.gateway.calls.slice(callsBefore)).toEqual(twin.gateway.calls.slice(callsBefore));
      expect(w.mailer.sent.map((m) => m.subject)).toEqual(twin.mailer.sent.map((m) => m.subject));
      if (after.state === from) expect([...w.gateway.keys.keys()]).toEqual(keysBefore);
      const warning = w.events.events.find((e) => e.reason === 'IllegalTransition');
      expect(warning?.type).toBe('Warning');
      expect(warning?.message).toContain(`from "${from}" to "${to}"`);
      expect(warning?.message).toContain(`put back to "${from}"`);
      // The decision on record is never the administrator's.
      expect(after.decidedBy).toBe(untouched.decidedBy);
    } else {
      expect(after.state).toBe(legal.end);
      expect(w.events.events.some((e) => e.reason === 'IllegalTransition')).toBe(false);
      expect(after).toMatchObject({ decidedBy: 'kubectl', notified: legal.mailed });
      // The requester hears once, of the outcome.
      expect(w.mailer.sent.slice(mailsBefore).map((m) => m.to)).toEqual([['ada@example.com']]);
    }
    // The invariant: live keys at the gateway = issued requests.
    expect(w.gateway.keys.size).toBe(after.state === 'issued' ? 1 : 0);
    // Nothing is left to do, and no key stays at rest once the request has ended.
    if (after.state !== 'issued') expect(after.hasKey).toBe(false);
  });
});
