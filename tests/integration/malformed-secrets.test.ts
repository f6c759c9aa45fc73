import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildLoop } from '@/lib/loop/wiring';
import { adminKubeConfig, kubectl } from '../helpers/cluster';
import { testConfig } from '../helpers/portal';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

/** A Secret carrying the request label that is not a request: the name is wrong, the email too. */
function broken(i: number) {
  return {
    metadata: {
      name: `not-a-request-${i}`,
      labels: { 'app.kubernetes.io/component': 'key-request', 'keyportal.dev/state': 'pending' },
      annotations: { 'keyportal.dev/email': 'nobody' },
    },
  };
}

async function malformedEvents(namespace: string): Promise<Array<{ name: string; message: string }>> {
  const out = await kubectl('-n', namespace, 'get', 'events', '--field-selector', 'reason=Malformed', '-o', 'json');
  const items = (JSON.parse(out) as { items: Array<{ involvedObject: { name: string }; message: string }> }).items;
  return items.map((e) => ({ name: e.involvedObject.name, message: e.message }));
}

describe('request Secrets that do not parse', () => {
  it('get one Warning Event each and are then left alone until they change, across many resyncs', async () => {
    const { namespace, setup, store } = await clusterWorld('malformed', { loop: { resyncSeconds: 1 } });
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    for (let i = 0; i < 25; i++) await core.createNamespacedSecret({ namespace, body: broken(i) });
    const { loop } = buildLoop(testConfig(setup), store, {});
    loop.start();
    afterThisTest(() => loop.stop());

    // A good request beside them is served as usual.
    const good = (await store.create({ email: 'ada@example.com', model: 'gpt-4o' })).request;
    await until(async () => (await store.get(good.id)).notified === 'issued', 'the good request to be issued and emailed', 15_000);
    await until(async () => (await malformedEvents(namespace)).length >= 25, 'one event per broken Secret', 15_000);
    // Several resyncs later (1 s each), still one event each.
    await new Promise((r) => setTimeout(r, 3500));
    const events = await malformedEvents(namespace);
    expect(events).toHaveLength(25);
    expect(new Set(events.map((e) => e.name)).size).toBe(25);
    expect(events[0]?.message).toMatch(/not a valid key request.*expected keyreq-/);

    // Changed (say, half-repaired by hand): reported once more, for the new version.
    await kubectl('-n', namespace, 'annotate', 'secret', 'not-a-request-3', 'keyportal.dev/email=still@broken', '--overwrite');
    await until(async () => (await malformedEvents(namespace)).filter((e) => e.name === 'not-a-request-3').length === 2, 'a second event for the changed Secret');
    await new Promise((r) => setTimeout(r, 2500));
    expect(await malformedEvents(namespace)).toHaveLength(26);
    // Listings and the queue name them to admins but never serve them as requests.
    const page = await store.listAll();
    expect(page.items.map((r) => r.id)).toEqual([good.id]);
    expect(page.invalid).toHaveLength(25);
    expect((await store.query({})).total).toBe(1);
  });
});
