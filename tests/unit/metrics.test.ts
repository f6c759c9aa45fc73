import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@/lib/config/load';
import { LocalGateway } from '@/lib/gateway/local';
import { GatewayAuthError, GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError } from '@/lib/gateway/types';
import type { EventRecorder } from '@/lib/loop/events';
import { Reconciler } from '@/lib/loop/reconciler';
import type { MailMessage, Mailer } from '@/lib/mail/types';
import { instrumentGateway, instrumentMailer } from '@/lib/metrics/instrument';
import { LABEL_VALUES, deciderLabel, gatewayOutcome } from '@/lib/metrics/labels';
import { countDecision, observeIssued } from '@/lib/metrics/record';
import { type KeyportalMetrics, createMetrics, metrics } from '@/lib/metrics/registry';
import { type MetricsServer, startMetricsServer } from '@/lib/metrics/server';
import { submitReview } from '@/lib/portal/reviews';
import { buildPlugins } from '@/plugins';
import { ChangeFeed } from '@/lib/store/change-feed';
import { MemoryStore } from '../helpers/memory-store';
import { TEST_MODELS, TEST_PLUGINS } from '../helpers/portal';
import { RECONCILER_SETTINGS } from '../helpers/reconciler-settings';

// What the metrics say, and what they must never say: every label value from a closed set.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, one sample a line (label values unescaped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

async function sample(m: KeyportalMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = parseExposition(await m.registry.metrics()).find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length,
  );
  return found?.value ?? 0;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyportal-metrics-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('metrics in config.yaml', () => {
  const parse = (metrics?: unknown) => parseConfig({ models: [{ id: 'gpt-4o', title: 'GPT-4o' }], ...(metrics === undefined ? {} : { metrics }) }, { source: 'test', env: {} });

  it('are off unless a port is set, and listen on loopback unless told otherwise', () => {
    expect(parse().metrics).toEqual({ port: null, host: '127.0.0.1' });
    expect(parse({ port: 9464 }).metrics).toEqual({ port: 9464, host: '127.0.0.1' });
    expect(parse({ port: 9464, host: '0.0.0.0' }).metrics).toEqual({ port: 9464, host: '0.0.0.0' });
  });

  it('refuses a port outside 1 to 65535, or a field it does not know, naming it', () => {
    expect(() => parse({ port: 0 })).toThrow(/metrics\.port/);
    expect(() => parse({ port: 70_000 })).toThrow(/metrics\.port/);
    expect(() => parse({ port: '9464' })).toThrow(/metrics\.port/);
    expect(() => parse({ port: 9464, path: '/m' })).toThrow(/metrics/);
  });
});

describe('who decided, as a metric label', () => {
  it.each([
    ['plugin:whitelist', 'whitelist'],
    ['plugin:blacklist', 'blacklist'],
    ['plugin:http', 'http'],
    ['plugin:email', 'email'],
    ['user:ada@example.com', 'approver'],
    ['webhook:workday', 'webhook'],
    ['kubectl', 'kubectl'],
    ['catalog', 'catalog'],
    ['duplicate', 'duplicate'],
    ['keyportal', 'keyportal'],
    ['default', 'default'],
  ])('"%s" is counted as %s', (decidedBy, label) => {
    expect(deciderLabel(decidedBy)).toBe(label);
  });

  it.each([
    'plugin:ada@example.com',
    'plugin:not-a-plugin',
    'plugin:',
    'user:',
    'webhook:',
    'ada@example.com',
    'kubectl:ada@example.com',
    'plugin:constructor',
    'plugin:__proto__',
    '',
    undefined,
  ])('a decider it does not know (%s) is "other", never passed through', (decidedBy) => {
    expect(deciderLabel(decidedBy)).toBe('other');
  });

  it('tells gateway failures apart by kind, not by message', () => {
    expect(gatewayOutcome(new GatewayAuthError('401 for ada@example.com'))).toBe('auth');
    expect(gatewayOutcome(new GatewayUnavailableError('timeout'))).toBe('unavailable');
    expect(gatewayOutcome(new GatewayRefusedError(403, 'no access'))).toBe('refused');
    expect(gatewayOutcome(new KeyAlreadyExistsError())).toBe('exists');
    expect(gatewayOutcome(new Error('bug'))).toBe('error');
  });
});

describe('no metric label carries an email, a request id or a key', () => {
  it('after decisions, gateway calls and mail that are full of addresses, every label value is from its closed set', async () => {
    const m = metrics();
    for (const who of ['user:ada@example.com', 'webhook:hr@corp.example', 'plugin:eve@example.com', 'sk-kp-0123456789abcdef', 'k3x9q2m7abcd']) {
      countDecision(who, 'approve');
      countDecision(who, 'revoke');
    }
    const failing = instrumentGateway({
      kind: 'litellm',
      newKey: () => 'sk-kp-secret-key-value',
      generateKey: async (input) => {
        throw new GatewayRefusedError(403, `refused ${input.userId} ${input.key}`);
      },
      keyInfo: async () => undefined,
      listKeys: async () => [{ token: 'f'.repeat(64), alias: 'keyportal-k3x9q2m7abcd' }],
      deleteKey: async () => {
        throw new GatewayAuthError('master key refused for ada@example.com');
      },
      listModels: async () => ['gpt-4o'],
      alive: async () => undefined,
      updateBudget: async () => {
        throw new GatewayRefusedError(404, 'no such key for ada@example.com');
      },
      spendReport: async () => undefined,
    }, m);
    await expect(
      failing.generateKey({ key: 'sk-kp-secret-key-value', alias: 'keyportal-k3x9q2m7abcd', model: 'gpt-4o', userId: 'ada@example.com', requestId: 'k3x9q2m7abcd', limits: {} }),
    ).rejects.toThrow(GatewayRefusedError);
    await expect(failing.deleteKey('keyportal-k3x9q2m7abcd')).rejects.toThrow(GatewayAuthError);
    await failing.keyInfo('ab'.repeat(32));
    await expect(failing.updateBudget('ab'.repeat(32), { maxBudget: 5 })).rejects.toThrow(GatewayRefusedError);
    await failing.spendReport({ userId: 'ada@example.com' }, '2026-01-01', '2026-01-31');
    const mailer = instrumentMailer({
      kind: 'smtp',
      send: async (message: MailMessage) => {
        throw new Error(`cannot reach SMTP for ${message.to.join(', ')}`);
      },
      close: () => undefined,
    }, m);
    await expect(mailer.send({ to: ['ada@example.com'], subject: 's', text: 't', html: 'h' })).rejects.toThrow();

    const store = new MemoryStore();
    await store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, { store });
    cleanups.push(() => server.close());
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();

    expect(text).not.toMatch(/@|sk-kp-|k3x9q2m7abcd/);
    const ours = parseExposition(text).filter((s) => s.name.startsWith('keyportal_'));
    expect(ours.length).toBeGreaterThan(20);
    for (const s of ours) {
      for (const [name, value] of Object.entries(s.labels)) {
        if (name === 'le') continue; // histogram buckets: numbers
        expect(LABEL_VALUES[name], `label ${name} of ${s.name}`).toBeDefined();
        expect(LABEL_VALUES[name], `${s.name}{${name}="${value}"}`).toContain(value);
      }
    }
    expect(await sample(m, 'keyportal_decisions_total', { decider: 'approver', outcome: 'approve' })).toBeGreaterThanOrEqual(1);
    expect(await sample(m, 'keyportal_decisions_total', { decider: 'other', outcome: 'approve' })).toBeGreaterThanOrEqual(3);
    expect(await sample(m, 'keyportal_gateway_calls_total', { operation: 'generate', outcome: 'refused' })).toBeGreaterThanOrEqual(1);
    expect(await sample(m, 'keyportal_gateway_calls_total', { operation: 'info', outcome: 'not_found' })).toBeGreaterThanOrEqual(1);
    expect(await sample(m, 'keyportal_mail_sends_total', { outcome: 'error' })).toBeGreaterThanOrEqual(1);
  });
});

describe('the loop and the portal count what they decide', () => {
  function reconcilerWorld() {
    const store = new MemoryStore();
    const gateway = instrumentGateway(new LocalGateway(tempDir(), TEST_MODELS.map((m) => m.id)));
    const sent: MailMessage[] = [];
    const mailer: Mailer = instrumentMailer({ kind: 'outbox', send: async (message) => void sent.push(message), close: () => undefined });
    const events: EventRecorder = { record: async () => undefined, recordOnSecret: async () => undefined };
    const settings = RECONCILER_SETTINGS;
    const reconciler = new Reconciler({ store, gateway, mailer, events, plugins: buildPlugins(TEST_PLUGINS, {}), settings, failpoint: () => undefined });
    const signal = new AbortController().signal;
    return { store, sent, run: (id: string) => reconciler.reconcile(id, signal) };
  }

  it('a whitelisted request counts one approval by the whitelist, one key minted, one email and one issue time', async () => {
    const m = metrics();
    const before = {
      approvals: await sample(m, 'keyportal_decisions_total', { decider: 'whitelist', outcome: 'approve' }),
      generated: await sample(m, 'keyportal_gateway_calls_total', { operation: 'generate', outcome: 'ok' }),
      mails: await sample(m, 'keyportal_mail_sends_total', { outcome: 'ok' }),
      issued: await sample(m, 'keyportal_issue_duration_seconds_count'),
    };
    const { store, sent, run } = reconcilerWorld();
    const { request } = await store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await run(request.id);
    expect((await store.get(request.id)).state).toBe('issued');
    expect(sent).toHaveLength(1);
    expect(await sample(m, 'keyportal_decisions_total', { decider: 'whitelist', outcome: 'approve' })).toBe(before.approvals + 1);
    expect(await sample(m, 'keyportal_gateway_calls_total', { operation: 'generate', outcome: 'ok' })).toBe(before.generated + 1);
    expect(await sample(m, 'keyportal_mail_sends_total', { outcome: 'ok' })).toBe(before.mails + 1);
    expect(await sample(m, 'keyportal_issue_duration_seconds_count')).toBe(before.issued + 1);
  });

  it('a model held for review counts "review" by the default, and the approver’s decision counts as "approver"', async () => {
    const m = metrics();
    const reviews = await sample(m, 'keyportal_decisions_total', { decider: 'default', outcome: 'review' });
    const approver = await sample(m, 'keyportal_decisions_total', { decider: 'approver', outcome: 'deny' });
    const { store, run } = reconcilerWorld();
    const { request } = await store.create({ email: 'ada@example.com', model: 'experimental' });
    await run(request.id);
    expect((await store.get(request.id)).state).toBe('in-review');
    expect(await sample(m, 'keyportal_decisions_total', { decider: 'default', outcome: 'review' })).toBe(reviews + 1);

    const deps = { store, config: { models: RECONCILER_SETTINGS.models, approvals: parseConfig({ models: [{ id: 'x', title: 'x' }], approvals: { approvers: { emails: ['grace@example.com'] } } }, { source: 'test', env: {} }).approvals } };
    const grace = { kind: 'person' as const, email: 'grace@example.com', groups: [] };
    await submitReview(deps, request.id, { reviewer: grace, decision: 'deny', reason: 'no', now: () => new Date() });
    // The same decision again changes nothing and counts nothing.
    await submitReview(deps, request.id, { reviewer: grace, decision: 'deny', reason: 'no', now: () => new Date() });
    expect(await sample(m, 'keyportal_decisions_total', { decider: 'approver', outcome: 'deny' })).toBe(approver + 1);
  });

  it('an issue time is observed in seconds from creation, never negative', async () => {
    const m = createMetrics();
    const own = metrics();
    const count = await sample(own, 'keyportal_issue_duration_seconds_count');
    observeIssued('2026-02-01T12:00:00Z', new Date('2026-02-01T12:00:30Z'));
    observeIssued('2026-02-01T12:00:00Z', new Date('2026-02-01T11:59:59Z'));
    observeIssued('not a time', new Date());
    expect(await sample(own, 'keyportal_issue_duration_seconds_count')).toBe(count + 2);
    // A fresh registry starts empty: the process-wide one is the only one that accumulates.
    expect(await sample(m, 'keyportal_issue_duration_seconds_count')).toBe(0);
  });
});

describe('the metrics endpoint', () => {
  async function serve(store: MemoryStore, ready?: () => Promise<boolean>): Promise<{ m: KeyportalMetrics; server: MetricsServer; url: string }> {
    const m = createMetrics();
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, { store, metrics: m, ...(ready ? { ready } : {}) });
    cleanups.push(() => server.close());
    return { m, server, url: `http://127.0.0.1:${server.port}` };
  }

  it('answers GET /metrics with request counts per state from the store’s index, and 404 elsewhere', async () => {
    let now = Date.parse('2026-02-01T12:00:00Z');
    const store = new MemoryStore(() => new Date(now));
    const a = (await store.create({ email: 'a@example.com', model: 'gpt-4o' })).request;
    await store.update(a, { state: 'in-review' });
    now += 60_000;
    const b = (await store.create({ email: 'b@example.com', model: 'gpt-4o' })).request;
    await store.update(b, { state: 'in-review' });
    await store.create({ email: 'c@example.com', model: 'gpt-4o' });
    const { url } = await serve(store);
    const queriesBefore = store.calls.query;

    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await res.text());
    const count = (state: string) => samples.find((s) => s.name === 'keyportal_requests' && s.labels.state === state)?.value;
    expect(count('in-review')).toBe(2);
    expect(count('pending')).toBe(1);
    expect(count('issued')).toBe(0);
    // The oldest in review is the first one, created a minute before the second (and long ago).
    const oldest = samples.find((s) => s.name === 'keyportal_oldest_in_review_seconds')?.value ?? 0;
    expect(oldest).toBeGreaterThan((Date.now() - Date.parse('2026-02-01T12:00:00Z')) / 1000 - 60);
    expect(samples.find((s) => s.name === 'keyportal_ready')?.value).toBe(1);
    expect(samples.find((s) => s.name === 'keyportal_loop_leader')?.value).toBe(0);
    expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    // A scrape reads the index as it is: no query, no listing.
    expect(store.calls.query).toBe(queriesBefore);

    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/api/requests`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('reports not ready when the readiness check fails or hangs, without the scrape hanging', async () => {
    const store = new MemoryStore();
    const failing = await serve(store, async () => {
      throw new Error('cache not synced');
    });
    expect(await sample(failing.m, 'keyportal_ready')).toBe(0);
    const hanging = await serve(store, () => new Promise<boolean>(() => undefined));
    const started = Date.now();
    expect(await sample(hanging.m, 'keyportal_ready')).toBe(0);
    expect(Date.now() - started).toBeLessThan(6_000);
  }, 15_000);

  it('shows the loop’s queue and leadership while the loop is watched', async () => {
    const store = new MemoryStore();
    const { m } = await serve(store);
    const loop = { queueDepth: 3, leading: true };
    m.sources.loops.add(loop);
    expect(await sample(m, 'keyportal_loop_leader')).toBe(1);
    expect(await sample(m, 'keyportal_loop_queue_depth')).toBe(3);
    m.sources.loops.delete(loop);
    expect(await sample(m, 'keyportal_loop_leader')).toBe(0);
  });

  it('shows the status reads held open for a change, and lets them go when their client leaves', async () => {
    const store = new MemoryStore();
    const { m } = await serve(store);
    const feed = new ChangeFeed(store);
    m.sources.held = feed;
    const gone = new AbortController();
    const held = feed.wait('aaaaaaaaaaaa', 20_000, gone.signal);
    expect(await sample(m, 'keyportal_status_reads_held')).toBe(1);
    gone.abort();
    expect(await held).toBe('aborted');
    expect(await sample(m, 'keyportal_status_reads_held')).toBe(0);
    feed.close();
  });
});
