import { spawn } from 'node:child_process';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { User } from '@/lib/auth/roles';
import type { KeyRequest } from '@/lib/domain/key-request';
import { buildLoop } from '@/lib/loop/wiring';
import { PortalError } from '@/lib/portal/errors';
import { renewRequest, renewalChain } from '@/lib/portal/renewal';
import { createRequest } from '@/lib/portal/requests';
import { submitReview } from '@/lib/portal/reviews';
import type { RequestStore } from '@/lib/store/types';
import { KubernetesSecretStore } from '@/lib/store/kubernetes';
import { adminKubeConfig } from '../helpers/cluster';
import { type TestSetup, type WorkerProcess, exited, spawnWorker, stopWorker, testConfig, testEnv, writeConfigFile } from '../helpers/portal';
import { until } from '../helpers/wait';
import { afterThisTest, clusterWorld } from '../helpers/world';
import type { TestSmtp } from '@/trial/smtp';

// Expiry reminders and renewal against the real test cluster, the LiteLLM-like gateway and a real
// SMTP server. Time is the test's: loops built here get a clock it moves, worker processes start
// at a "now" it names (tests/helpers/clocked-worker.ts). No sleeps wait for a day to pass.

const DAY = 86_400_000;
const repo = path.resolve(import.meta.dirname, '../..');
const reminders = (smtp: TestSmtp, to: string) => smtp.to(to).filter((m) => /key expires in/.test(m.subject));

const settledIssued = (store: RequestStore, id: string, timeoutMs = 20_000) =>
  until(async () => {
    const r = await store.get(id);
    return r.state === 'issued' && r.notified === 'issued' ? r : undefined;
  }, `request ${id} issued and emailed`, timeoutMs);

const remindedUpTo = (store: RequestStore, id: string, days: number, what: string) =>
  until(async () => {
    const r = await store.get(id);
    return r.reminded === days && r.notifying === undefined ? r : undefined;
  }, what, 20_000);

/** The worker with its clock starting at `now`. */
function clockedWorker(configFile: string, now: Date, env: Record<string, string> = {}): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'tests/helpers/clocked-worker.ts')], {
    cwd: repo,
    env: { NODE_ENV: 'production', PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', KEYPORTAL_CONFIG: configFile, KEYPORTAL_LOG: 'silent', ...testEnv(), KEYPORTAL_TEST_NOW: now.toISOString(), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  return { child, stderr: () => tail };
}

describe('expiry reminders', () => {
  it('two loops on one namespace send the 7, 3 and 1-day reminders once each as the clock moves, then the key expires', async () => {
    const { smtp, setup, namespace } = await clusterWorld('remind');
    let offset = 0;
    const clock = () => new Date(Date.now() + offset);
    // Two replicas, each with its own cache, no leader election: only the claim keeps them honest.
    const stores = [0, 1].map(() => new KubernetesSecretStore({ namespace, kubeConfig: adminKubeConfig() }));
    const loops = stores.map((s) => buildLoop(testConfig(setup), s, {}, { clock }));
    for (const l of loops) l.loop.start();
    afterThisTest(async () => {
      await Promise.all(loops.map((l) => l.loop.stop()));
      for (const s of stores) s.close();
    });
    const [store] = stores as [KubernetesSecretStore, KubernetesSecretStore];
    const email = 'rem@example.com';
    const { request } = await store.create({ email, model: 'gpt-4o' });
    const issued = await settledIssued(store, request.id);
    // The test gateway gives gpt-4o's 30d duration: a real expiry, 30 days from now.
    const expires = Date.parse(issued.expiresAt ?? '');
    expect(expires - Date.now()).toBeGreaterThan(29 * DAY);
    expect(reminders(smtp, email)).toHaveLength(0);

    const moveTo = (t: number) => {
      offset = t - Date.now();
      for (const l of loops) l.loop.enqueue(request.id);
    };
    for (const days of [7, 3, 1]) {
      moveTo(expires - days * DAY + 60_000);
      await remindedUpTo(store, request.id, days, `the ${days}-day reminder`);
      // Both replicas look again (a resync, a watch event): nothing goes out twice.
      await Promise.all(loops.map((l) => l.reconciler.reconcile(request.id, new AbortController().signal)));
      const sent = reminders(smtp, email);
      expect(sent.map((m) => m.subject)).toEqual([7, 3, 1].filter((d) => d >= days).map((d) => `Your GPT-4o key expires in ${d} day${d === 1 ? '' : 's'}`));
    }
    const [seven] = reminders(smtp, email);
    expect(seven?.text).toContain(`(${issued.expiresAt}), in 7 days.`);
    expect(seven?.text).toMatch(/expires on \w+ \d{1,2} \w+ \d{4}, \d\d:\d\d UTC/);
    expect(seven?.text).toContain(`Renew it with one click: http://portal.test:3000/requests/${request.id}?renew=1`);

    // The key's end: one expiry email, and no reminder after it.
    moveTo(expires + 1000);
    await until(async () => (await store.get(request.id)).notified === 'expired', 'the expiry email');
    expect(reminders(smtp, email)).toHaveLength(3);
    expect(smtp.to(email).map((m) => m.subject)).toEqual([
      'Your API key for GPT-4o is ready',
      'Your GPT-4o key expires in 7 days',
      'Your GPT-4o key expires in 3 days',
      'Your GPT-4o key expires in 1 day',
      'Your GPT-4o key request has expired',
    ]);
  });

  it('a loop that was down through the 7 and 3-day moments sends one reminder, the 1-day one', async () => {
    const { smtp, setup, store } = await clusterWorld('remind-late');
    let offset = 0;
    const { loop } = buildLoop(testConfig(setup), store, {}, { clock: () => new Date(Date.now() + offset) });
    loop.start();
    afterThisTest(() => loop.stop());
    const { request } = await store.create({ email: 'late@example.com', model: 'gpt-4o' });
    const issued = await settledIssued(store, request.id);
    offset = Date.parse(issued.expiresAt ?? '') - 12 * 3_600_000 - Date.now();
    loop.enqueue(request.id);
    await remindedUpTo(store, request.id, 1, 'the 1-day reminder');
    expect(reminders(smtp, 'late@example.com').map((m) => m.subject)).toEqual(['Your GPT-4o key expires in about 12 hours']);
  });

  it('worker processes SIGKILLed mid-reminder and between reminders: 7, 3 and 1 days each emailed once', async () => {
    const { smtp, setup, store } = await clusterWorld('remind-kill');
    const configFile = writeConfigFile(setup);
    const workers: WorkerProcess[] = [];
    afterThisTest(() => Promise.all(workers.map(stopWorker)).then(() => undefined));
    const email = 'kill@example.com';

    const first = spawnWorker(configFile);
    workers.push(first);
    const { request } = await store.create({ email, model: 'gpt-4o' });
    const issued = await settledIssued(store, request.id, 30_000);
    await stopWorker(first);
    const expires = Date.parse(issued.expiresAt ?? '');
    const clocked = (t: number, env: Record<string, string> = {}) => {
      const w = clockedWorker(configFile, new Date(t), env);
      workers.push(w);
      return w;
    };
    const killed = async (w: WorkerProcess) => {
      w.child.kill('SIGKILL');
      expect((await exited(w.child)).signal).toBe('SIGKILL');
    };

    // 7 days out: the worker claims the reminder and is killed before the email leaves.
    const doomed = clocked(expires - 7 * DAY + 60_000, { KEYPORTAL_FAILPOINT: 'after-reminder-claimed' });
    expect((await until(() => (doomed.child.exitCode !== null || doomed.child.signalCode !== null ? exited(doomed.child) : undefined), 'the worker to die after claiming', 30_000)).signal).toBe('SIGKILL');
    expect((await store.get(request.id)).notifying).toMatchObject({ state: 'issued', reminder: 7 });
    expect(reminders(smtp, email)).toHaveLength(0);
    // Restarted a little later (past the claim's notifyClaimSeconds): the reminder goes out once.
    const second = clocked(expires - 7 * DAY + 120_000);
    await remindedUpTo(store, request.id, 7, `the 7-day reminder after the restart (stderr: ${second.stderr()})`);
    await killed(second);

    // 3 days out: two workers at once, one of them then SIGKILLed while idle.
    const [a, b] = [clocked(expires - 3 * DAY + 60_000), clocked(expires - 3 * DAY + 60_000)] as [WorkerProcess, WorkerProcess];
    await remindedUpTo(store, request.id, 3, `the 3-day reminder (stderr: ${a.stderr()} ${b.stderr()})`);
    await killed(a);
    await stopWorker(b);

    // 1 day out.
    const last = clocked(expires - DAY + 60_000);
    await remindedUpTo(store, request.id, 1, `the 1-day reminder (stderr: ${last.stderr()})`);
    await stopWorker(last);

    expect(reminders(smtp, email).map((m) => m.subject)).toEqual(['Your GPT-4o key expires in 7 days', 'Your GPT-4o key expires in 3 days', 'Your GPT-4o key expires in 1 day']);
    expect(smtp.to(email)).toHaveLength(4);
  });
});

describe('renewal through the plugin chain', () => {
  async function decider() {
    const seen: Array<Record<string, unknown>> = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        seen.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ decision: 'continue', reason: 'HR has no objection' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    afterThisTest(() => new Promise<void>((r) => server.close(() => r())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/decide`, seen };
  }

  it('a renewal is approved by a renewals-only whitelist, the http plugin is told what it renews, and the old key keeps working', async () => {
    const hr = await decider();
    const overrides: Partial<TestSetup> = {
      approvalsDefault: 'review',
      plugins: [
        { name: 'http', config: { url: hr.url, onError: 'continue' } },
        { name: 'whitelist', config: { models: ['gpt-4o'], renewalsOnly: true, reason: 'Renewals of GPT-4o keys are approved' } },
      ],
    };
    const { gateway, smtp, setup, store } = await clusterWorld('renew', overrides);
    const config = testConfig(setup);
    const { loop } = buildLoop(config, store, {});
    loop.start();
    afterThisTest(() => loop.stop());
    const deps = { store, config };
    const user: User = { email: 'ren@example.com', groups: [], approver: false };

    // A first key: the renewals-only entry lets it pass to a person.
    const first = (await createRequest(deps, user, 'gpt-4o')).request;
    const held = await until(async () => {
      const r = await store.get(first.id);
      return r.state === 'in-review' ? r : undefined;
    }, 'the first request held for review');
    expect(held.trace?.map((t) => `${t.plugin}:${t.outcome}`)).toEqual(['http:continue', 'whitelist:continue']);
    expect(hr.seen[0]).toEqual({ request_id: first.id, email: user.email, model: 'gpt-4o', renews: null, justification: null, manager: null, top_up: null, spend: null });
    // The approver reviews once told, as a person would: a review decided before its notice went out has none to send.
    await until(() => smtp.to('approvers@example.com').length === 1, 'the review notice to the approvers');
    await submitReview({ store, config: deps.config }, first.id, { reviewer: { kind: 'person', email: 'boss@example.com', groups: ['approvers'] }, decision: 'approve', reason: 'ok', now: () => new Date() });
    const old = await settledIssued(store, first.id);

    // Renewed: through the chain, approved by the renewals-only entry without a person.
    const renewal = await renewRequest(deps, user, first.id);
    expect(renewal).toMatchObject({ model: 'gpt-4o', state: 'pending', renews: first.id });
    const renewed = await settledIssued(store, renewal.id);
    expect(renewed).toMatchObject({ renews: first.id, decidedBy: 'plugin:whitelist', reason: 'Renewals of GPT-4o keys are approved' });
    expect(hr.seen[1]).toEqual({ request_id: renewal.id, email: user.email, model: 'gpt-4o', renews: first.id, justification: null, manager: null, top_up: null, spend: null });
    expect(smtp.to('approvers@example.com')).toHaveLength(1);

    // No cut-off: the old key is still issued and still at the gateway, beside the new one.
    expect((await store.get(first.id)).state).toBe('issued');
    expect(gateway.keysFor(first.id)).toHaveLength(1);
    expect(gateway.keysFor(renewal.id)).toHaveLength(1);
    expect(old.expiresAt).toBeDefined();

    // The chain, both ways.
    expect(await renewalChain(deps, user, first.id)).toMatchObject({ renews: [], renewedBy: [{ id: renewal.id, state: 'issued' }] });
    expect(await renewalChain(deps, user, renewal.id)).toMatchObject({ renews: [{ id: first.id, state: 'issued' }], renewedBy: [] });
  });

  it('two renewals at once: one goes through, the other is refused; a plain duplicate is still refused; a revoked key cannot be renewed', async () => {
    const { setup, store } = await clusterWorld('renew-dup');
    const config = testConfig(setup);
    const { loop } = buildLoop(config, store, {});
    loop.start();
    afterThisTest(() => loop.stop());
    const deps = { store, config };
    const user: User = { email: 'twice@example.com', groups: [], approver: false };
    const first = (await createRequest(deps, user, 'gpt-4o')).request;
    await settledIssued(store, first.id);

    const results = await Promise.allSettled([renewRequest(deps, user, first.id), renewRequest(deps, user, first.id)]);
    const ok = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof renewRequest>>> => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.reason).toBeInstanceOf(PortalError);
    expect((refused[0]?.reason as PortalError).status).toBe(409);
    await settledIssued(store, ok[0]?.value.id as string);
    // Both keys issued now; a plain new request for the model is a duplicate as before.
    await expect(createRequest(deps, user, 'gpt-4o')).rejects.toMatchObject({ status: 409 });
    // Someone else's request is not theirs to renew; a revoked one is not renewable.
    await expect(renewRequest(deps, { ...user, email: 'other@example.com' }, first.id)).rejects.toMatchObject({ status: 404 });
    const revoked: KeyRequest = await store.update(await store.get(first.id), { state: 'revoked', decision: 'revoked', decidedBy: 'user:admin@example.com', reason: 'left the team' });
    await expect(renewRequest(deps, user, revoked.id)).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/only issued or expired keys can be renewed/) });
  });
});
