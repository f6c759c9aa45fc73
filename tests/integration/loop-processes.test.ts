import { CoordinationV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { keyHash } from '@/lib/domain/key-request';
import type { FailpointName } from '@/lib/loop/failpoints';
import { adminKubeConfig } from '../helpers/cluster';
import { type TestSetup, type WorkerProcess, exited, spawnWorker, stopProcess, stopWorker, writeConfigFile } from '../helpers/portal';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';

// `npm run worker` as real, separate processes: two at once, and killed mid-mint.

async function world(overrides: Partial<TestSetup> = {}) {
  const { namespace, gateway, smtp, setup, store } = await clusterWorld('proc', overrides);
  const configFile = writeConfigFile(setup);
  const workers: WorkerProcess[] = [];
  const worker = (env: Record<string, string> = {}) => {
    const w = spawnWorker(configFile, env);
    workers.push(w);
    return w;
  };
  afterThisTest(() => Promise.all(workers.map(stopWorker)).then(() => undefined));
  return { namespace, gateway, smtp, store, worker };
}

describe('the loop as separate worker processes', () => {
  it('two loops on one namespace with 200 whitelisted requests mint 200 keys, no more', async () => {
    // Leader election off: both processes race on every request, and only resourceVersion
    // conflicts keep them honest.
    const { gateway, smtp, store, worker } = await world({ leaderElection: false });
    worker();
    worker();
    const ids: string[] = [];
    for (let i = 0; i < 200; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, j) => store.create({ email: `user${i + j}@example.com`, model: j % 2 ? 'gpt-4o' : 'anthropic/claude-3' })),
      );
      ids.push(...batch.map((b) => b.request.id));
    }
    await until(
      async () => {
        let done = 0;
        let token: string | undefined;
        do {
          const page = await store.listByState('issued', { limit: 500, continue: token });
          done += page.items.filter((r) => r.notified === 'issued').length;
          token = page.continue;
        } while (token);
        return done === 200;
      },
      '200 requests issued and emailed',
      120_000,
      250,
    );
    expect(gateway.keys.size).toBe(200);
    for (const id of ids) expect(gateway.keysFor(id)).toHaveLength(1);
    expect(new Set(smtp.messages.flatMap((m) => m.to)).size).toBe(200);
    expect(smtp.messages).toHaveLength(200);
    for (const id of ids.slice(0, 20)) expect((await store.get(id)).keySha256).toBe(keyHash(gateway.keysFor(id)[0]?.key as string));
  });

  it('a worker stopped with SIGTERM while the gateway holds its mint lets go of the email claim: the next worker issues at once', async () => {
    // A claim left standing would hold the request for ten minutes: the test would time out.
    const { gateway, smtp, store, worker } = await world({ loop: { notifyClaimSeconds: 600 } });
    const first = worker();
    const warm = (await store.create({ email: 'warm@example.com', model: 'gpt-4o' })).request;
    await until(async () => (await store.get(warm.id)).notified === 'issued', 'the worker to lead and issue', 20_000);

    gateway.hangNext(1);
    const { request } = await store.create({ email: 'rollout@example.com', model: 'gpt-4o' });
    await until(async () => {
      const r = await store.get(request.id);
      return r.state === 'approved' && r.notifying?.state === 'issued' ? r : undefined;
    }, 'the approval, its key and its claim, with the gateway not answering', 20_000);
    expect(await stopProcess(first.child)).toBe(true); // exited on its own, within the grace
    const left = await store.get(request.id);
    expect(left).toMatchObject({ state: 'approved', hasKey: true, retry: { step: 'mint' } });
    expect(left.notifying).toBeUndefined();
    // Let go because the stop aborted the call, not because the client's 2 s timeout fired.
    expect(left.retry?.error).not.toMatch(/no answer within/);

    worker();
    const issued = await until(async () => {
      const r = await store.get(request.id);
      return r.state === 'issued' && r.notified === 'issued' ? r : undefined;
    }, 'the next worker to issue without waiting out a claim', 20_000);
    expect(gateway.keysFor(request.id)).toHaveLength(1);
    expect(keyHash(gateway.keysFor(request.id)[0]?.key as string)).toBe(issued.keySha256);
    expect(smtp.to('rollout@example.com')).toHaveLength(1);
  });

  it.each<FailpointName>(['after-key-stored', 'after-gateway-generate', 'after-issued', 'after-email-sent'])(
    'a worker killed %s and restarted: no second key, no lost request, the requester emailed',
    async (point) => {
      const { gateway, smtp, store, worker } = await world();
      const doomed = worker({ KEYPORTAL_FAILPOINT: point });
      const { request } = await store.create({ email: 'crash@example.com', model: 'gpt-4o' });
      const { signal } = await until(() => (doomed.child.exitCode !== null || doomed.child.signalCode !== null ? exited(doomed.child) : undefined), `the worker to die at ${point}`, 20_000);
      expect(signal).toBe('SIGKILL');

      const survivor = worker();
      const issued = await until(async () => {
        const r = await store.get(request.id);
        return r.state === 'issued' && r.notified === 'issued' ? r : undefined;
      }, `the restarted worker to finish (stderr: ${survivor.stderr()})`, 30_000);
      expect(gateway.keysFor(request.id)).toHaveLength(1);
      expect(keyHash(gateway.keysFor(request.id)[0]?.key as string)).toBe(issued.keySha256);
      const mails = smtp.to('crash@example.com');
      // Killed after the email left but before it was recorded, a second copy is the price of
      // never losing one; at every other point exactly one goes out.
      if (point === 'after-email-sent') expect(mails.length).toBeGreaterThanOrEqual(1);
      else expect(mails).toHaveLength(1);
      for (const m of mails) expect(m.text).toContain(issued.id);
    },
  );

  it('with leader election, one worker holds the Lease; when it stops, the other takes over', async () => {
    const { namespace, store, worker } = await world({ leaderElection: true });
    const a = worker();
    const b = worker();
    const coordination = adminKubeConfig().makeApiClient(CoordinationV1Api);
    const holder = await until(async () => {
      const lease = await coordination.readNamespacedLease({ name: 'keyportal-loop', namespace });
      return lease.spec?.holderIdentity || undefined;
    }, 'a worker to take the Lease', 20_000);
    const first = (await store.create({ email: 'lease1@example.com', model: 'gpt-4o' })).request;
    await until(async () => (await store.get(first.id)).notified === 'issued', 'the leader to issue');

    // Stop whichever process leads; the Lease is handed back and the other one takes it.
    const pidOf = (h: string) => Number(h.split('-').at(-2));
    const leader = [a, b].find((w) => w.child.pid === pidOf(holder));
    expect(leader).toBeDefined();
    await stopWorker(leader as WorkerProcess);
    const next = await until(async () => {
      const lease = await coordination.readNamespacedLease({ name: 'keyportal-loop', namespace });
      const h = lease.spec?.holderIdentity;
      return h && h !== holder ? h : undefined;
    }, 'the other worker to take the Lease', 30_000);
    expect(next).not.toBe(holder);
    const second = (await store.create({ email: 'lease2@example.com', model: 'gpt-4o' })).request;
    await until(async () => (await store.get(second.id)).notified === 'issued', 'the new leader to issue', 20_000);
  });
});
