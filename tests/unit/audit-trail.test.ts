import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CloudEvent } from '@/lib/audit/cloudevent';
import { AuditShipper } from '@/lib/audit/shipper';
import { type AuditSink, AuditSinkError } from '@/lib/audit/sink';
import { StdoutSink } from '@/lib/audit/sinks/stdout';
import { parseRecords } from '@/lib/audit/record';
import { world } from '../helpers/reconciler-world';

/** A stdout sink into a stream the test reads, that refuses while `down` is set. */
function sinkOf(): { sink: AuditSink; lines: CloudEvent[]; setDown(v: boolean): void } {
  const out = new PassThrough();
  const lines: CloudEvent[] = [];
  out.on('data', (c: Buffer) => lines.push(...c.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as CloudEvent)));
  const real = new StdoutSink(out);
  let down = false;
  const sink: AuditSink = {
    kind: 'stdout',
    send: (events, signal) => (down ? Promise.reject(new AuditSinkError('stdout', 'the pipe is closed')) : real.send(events, signal)),
    close: () => real.close(),
  };
  return { sink, lines, setDown: (v) => void (down = v) };
}

describe('the audit shipper', () => {
  it('waits for a request to settle, ships its records once, and removes exactly what was acknowledged', async () => {
    const w = world();
    const { sink, lines } = sinkOf();
    let now = Date.now();
    const shipper = new AuditShipper({ store: w.store, sink, render: { source: 'https://keys.example.com', redactEmail: false }, settleMs: 2_000, batchSize: 500, now: () => now });
    const signal = new AbortController().signal;
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    await w.run(request.id);
    expect(await shipper.run(signal)).toEqual({ shipped: 0, batches: 0 });
    expect(shipper.backlog()).toBe(parseRecords((await w.store.get(request.id)).auditPending).length);
    now += 2_500;
    const report = await shipper.run(signal);
    expect(report.shipped).toBe(lines.length);
    expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
    expect((await w.store.get(request.id)).auditPending).toBeUndefined();
    expect(shipper.backlog()).toBe(0);
    // The minted key is nowhere in the trail; the key's hash only as a 12-character prefix.
    const key = w.gateway.keys.values().next().value?.key as string;
    expect(JSON.stringify(lines)).not.toContain(key);
    expect(JSON.stringify(lines)).not.toContain((await w.store.get(request.id)).keySha256 as string);
  });

  it('holds a request the loop still has a step for, so the acknowledgement never races its next write; at most a minute', async () => {
    const w = world();
    const { sink, lines } = sinkOf();
    let now = Date.now();
    const shipper = new AuditShipper({ store: w.store, sink, render: { source: 'x', redactEmail: false }, settleMs: 2_000, batchSize: 500, busy: (r) => w.reconciler.busy(r), now: () => now });
    const signal = new AbortController().signal;
    // Pending: the loop has yet to decide it, so its request.created record waits although settled.
    const { request: held } = await w.store.create({ email: 'ada@example.com', model: 'gpt-4o' });
    // The shipper's clock starts at the record's time (the world's clock, not the wall's).
    now = Date.parse(parseRecords(held.auditPending)[0]?.time ?? '') + 2_500;
    expect(await shipper.run(signal)).toEqual({ shipped: 0, batches: 0 });
    expect(shipper.backlog()).toBe(1);
    // Once the loop is done with it, everything goes in one batch and one acknowledgement.
    await w.run(held.id);
    const writes = w.store.calls.update;
    now += 2_500;
    const report = await shipper.run(signal);
    expect(report).toMatchObject({ batches: 1, shipped: lines.length });
    expect(lines[0]?.type).toBe('dev.keyportal.request.created');
    expect(w.store.calls.update - writes).toBe(1);
    // A request the loop never gets to (its steps keep failing) holds its records a minute at most.
    const { request: stuck } = await w.store.create({ email: 'bob@example.com', model: 'gpt-4o' });
    now += 30_000;
    expect((await shipper.run(signal)).shipped).toBe(0);
    now += 31_000;
    expect((await shipper.run(signal)).shipped).toBe(1);
    expect((await w.store.get(stuck.id)).auditPending).toBeUndefined();
  });

  it('a clock that jumped back does not hold records written before the jump', async () => {
    const w = world();
    const { sink, lines } = sinkOf();
    // An hour behind the time the records were written with.
    const shipper = new AuditShipper({ store: w.store, sink, render: { source: 'x', redactEmail: false }, settleMs: 2_000, batchSize: 500, now: () => Date.now() - 3_600_000 });
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'internal/secret-model' });
    await w.run(request.id);
    const report = await shipper.run(new AbortController().signal);
    expect(report.shipped).toBeGreaterThan(0);
    expect(lines).toHaveLength(report.shipped);
  });

  it('a sink that refuses keeps every record in the Secret and backs off; once it takes them, all arrive', async () => {
    const w = world();
    const { sink, lines, setDown } = sinkOf();
    let later = 0;
    const shipper = new AuditShipper({ store: w.store, sink, render: { source: 'x', redactEmail: false }, settleMs: 0, batchSize: 500, now: () => Date.now() + later });
    const signal = new AbortController().signal;
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'internal/secret-model' });
    await w.run(request.id);
    const waiting = parseRecords((await w.store.get(request.id)).auditPending).length;
    setDown(true);
    expect((await shipper.run(signal)).error).toMatch(/the pipe is closed/);
    expect(parseRecords((await w.store.get(request.id)).auditPending)).toHaveLength(waiting);
    setDown(false);
    // Backing off: the next round within the backoff sends nothing.
    expect((await shipper.run(signal)).shipped).toBe(0);
    later += 60_000;
    expect((await shipper.run(signal)).shipped).toBe(waiting);
    expect(lines.map((l) => l.type)).toEqual(['dev.keyportal.request.created', 'dev.keyportal.plugin.answered', 'dev.keyportal.request.denied', 'dev.keyportal.request.emailed']);
  });

  it('with audit.redactEmail no address leaves the portal, the same person hashing alike', async () => {
    const w = world();
    const { sink, lines } = sinkOf();
    const shipper = new AuditShipper({ store: w.store, sink, render: { source: 'x', redactEmail: true }, settleMs: 0, batchSize: 500 });
    const { request } = await w.store.create({ email: 'Ada@Example.com', model: 'gpt-4o' });
    await w.run(request.id);
    const issued = await w.store.get(request.id);
    await w.store.update(issued, { state: 'revoked', decision: 'revoked', decidedBy: 'user:bob@example.com', decidedAt: '2026-02-01T12:05:00Z', reason: 'ada@example.com left' });
    await shipper.run(new AbortController().signal);
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/@/);
    const requesters = new Set(lines.map((l) => l.data.requester));
    expect(requesters.size).toBe(1);
    expect([...requesters][0]).toMatch(/^sha256:[0-9a-f]{40}$/);
    expect(lines.find((l) => l.type === 'dev.keyportal.request.revoked')?.data.reason).toBe(`${[...requesters][0]} left`);
  });

  it('a label edit the table refuses is put back with an edit.refused record', async () => {
    const w = world();
    const { request } = await w.store.create({ email: 'ada@example.com', model: 'internal/secret-model' });
    await w.run(request.id);
    w.store.edit(request.id, (s) => void (s.metadata.labels['keyportal.dev/state'] = 'approved'));
    await w.run(request.id);
    await w.ship();
    const refused = w.shipped().find((e) => e.type === 'dev.keyportal.edit.refused');
    expect(refused?.data).toMatchObject({ label: 'approved', kept: 'denied' });
  });
});
