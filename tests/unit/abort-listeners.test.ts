import { getEventListeners } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { runChain } from '@/lib/approval/chain';
import type { ApprovalPlugin } from '@/lib/approval/types';
import { HttpSink } from '@/lib/audit/sinks/http';
import { SlackWebApi } from '@/lib/chat/slack-api';
import { rfc3339 } from '@/lib/domain/key-request';
import { LiteLLMGateway } from '@/lib/gateway/litellm';
import { ApprovalLoop } from '@/lib/loop/loop';
import { sweepRetention } from '@/lib/retention/sweep';
import { MemoryStore } from '../helpers/memory-store';
import { until } from '../helpers/wait';
import { TestGateway } from '@/trial/litellm';
import { TestSlack } from '@/trial/slack';

const abortListeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;

/**
 * The signals Node keeps on `signal` for those made from it with AbortSignal.any: on Node 20 a
 * WeakRef each, never pruned (an internal set; 0 where the Node in use has none).
 */
function dependants(signal: AbortSignal): number {
  const symbol = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  return symbol ? ((signal as unknown as Record<symbol, Set<unknown>>)[symbol]?.size ?? 0) : 0;
}

// A process runs for months: whatever waits on the loop's signal must let go of it when the wait
// ends, or every turn of a task leaves a listener behind (the audit shipper turns every second).
describe('waits on a long-lived signal', () => {
  it('a periodic task of the loop leaves no listener behind after its turns', async () => {
    let signal: AbortSignal | undefined;
    let turns = 0;
    const loop = new ApprovalLoop(new MemoryStore(), async () => ({}), {
      concurrency: 1,
      resyncMs: 3_600_000,
      errorBackoff: { initialSeconds: 1, maxSeconds: 10 },
      watch: false,
      periodic: [{ name: 'a quick task', everyMs: 2, firstAfterMs: 1, run: async (s) => void ((signal = s), turns++) }],
    });
    loop.start();
    try {
      await until(() => turns >= 3 || undefined, 'three turns', 5000, 5);
      const early = abortListeners(signal as AbortSignal);
      await until(() => turns >= 60 || undefined, 'sixty turns', 5000, 5);
      expect(abortListeners(signal as AbortSignal)).toBeLessThanOrEqual(early);
    } finally {
      await loop.stop();
    }
  });


  it('32 workers, each waiting for a plugin at once, are no leak: Node gives no warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    let asked = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    const slow: ApprovalPlugin = { name: 'slow', onError: 'continue', timeoutMs: 10_000, decide: async () => (asked++, await released, { outcome: 'approve', reason: 'ok' }) };
    let decided = 0;
    const loop = new ApprovalLoop(new MemoryStore(), async (id, signal) => {
      await runChain([slow], { id, email: 'a@example.com', model: 'gpt-4o' }, { fallback: 'review', signal });
      decided++;
      return {};
    }, { concurrency: 32, resyncMs: 3_600_000, errorBackoff: { initialSeconds: 1, maxSeconds: 10 }, watch: false });
    loop.start();
    try {
      for (let i = 0; i < 32; i++) loop.enqueue(`r${i}`);
      await until(() => asked === 32 || undefined, '32 plugins asked at once', 5000, 5);
      release();
      await until(() => decided === 32 || undefined, '32 decided', 5000, 5);
      // A warning is emitted on the next tick of its listener's addition.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await loop.stop();
    }
  });

  it('the gateway, Slack and the audit sink, called with the loop\'s signal, keep nothing on it after', async () => {
    const { signal } = new AbortController();
    const gateway = new TestGateway('sk-master-abort');
    await gateway.start();
    const slack = new TestSlack({ token: 'xoxb-abort' });
    await slack.start();
    const audit = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
    await new Promise<void>((r) => audit.listen(0, '127.0.0.1', r));
    try {
      const gw = new LiteLLMGateway({ baseUrl: gateway.url, masterKey: 'sk-master-abort', timeoutMs: 2000 });
      const api = new SlackWebApi({ baseUrl: slack.apiUrl, token: 'xoxb-abort', timeoutMs: 2000, postIntervalMs: 1, burst: 1000 });
      const sink = new HttpSink({ url: `http://127.0.0.1:${(audit.address() as AddressInfo).port}/`, timeoutSeconds: 2, secret: 'audit-secret-0123456789abcdef' });
      const event = { specversion: '1.0', id: 'e1', source: 'test', type: 'dev.keyportal.request.created', time: rfc3339(new Date()), data: {} };
      for (let i = 0; i < 50; i++) {
        expect(await gw.keyInfo('0'.repeat(64), signal)).toBeUndefined();
        await api.call('auth.test', {}, z.object({ ok: z.literal(true) }), signal);
        await sink.send([event as never], signal);
      }
      expect(abortListeners(signal)).toBe(0);
      expect(dependants(signal)).toBe(0);
    } finally {
      await gateway.stop();
      await slack.stop();
      await new Promise((r) => audit.close(r));
    }
  });
  it('the retention sweep, pausing between deletions, leaves none either', async () => {
    const t0 = Date.parse('2025-01-01T00:00:00Z');
    let now = t0;
    const store = new MemoryStore(() => new Date(now));
    for (let i = 0; i < 20; i++) {
      const { request } = await store.create({ email: `old${i}@example.com`, model: 'gpt-4o' });
      await store.update(request, { state: 'denied', decision: 'denied', decidedBy: 'plugin:blacklist', decidedAt: rfc3339(new Date(now)), reason: 'closed', notified: 'denied' });
    }
    now = t0 + 400 * 86_400_000;
    const archive = { add: async () => undefined, find: async () => undefined };
    const { signal } = new AbortController();
    // 60,000 a minute: a 1 ms pause between deletions, the sweep's own (no `pause` given).
    const report = await sweepRetention({ store, archive, endedDays: 90, maxDeletesPerMinute: 60_000, clock: () => new Date(now), auditOwed: () => false }, signal);
    expect(report.deleted).toBe(20);
    expect(abortListeners(signal)).toBe(0);
  });
});
