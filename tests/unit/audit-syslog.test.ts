import { type Server, type Socket, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CloudEvent } from '@/lib/audit/cloudevent';
import { AUDIT_TYPES } from '@/lib/audit/record';
import { AuditSinkError } from '@/lib/audit/sink';
import { SyslogSink, type SyslogSinkOptions } from '@/lib/audit/sinks/syslog';
import { closedPort } from '../helpers/net';
import { type RsyslogLine, type RunningRsyslog, gtlsAvailable, rsyslogAvailable, startRsyslog } from '../helpers/rsyslog';
import { until } from '../helpers/wait';

// Real rsyslogd (Debian's, /usr/sbin/rsyslogd; .ci/run installs rsyslog and rsyslog-gnutls).
// Every daemon runs on 127.0.0.1 in its own temporary directory.

const daemons: RunningRsyslog[] = [];
const servers: { server: Server; sockets: Set<Socket> }[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.dispose()));
  for (const { server, sockets } of servers.splice(0)) {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function rsyslog(options: { tls?: boolean } = {}): Promise<RunningRsyslog> {
  const d = await startRsyslog(options);
  daemons.push(d);
  return d;
}

function sinkFor(options: Partial<SyslogSinkOptions> & { port: number }): SyslogSink {
  return new SyslogSink({ host: '127.0.0.1', tls: false, appName: 'keyportal', facility: 'local3', timeoutSeconds: 5, hostname: 'portal-test', ...options });
}

function event(run: string, n: number, data: Record<string, unknown> = {}): CloudEvent {
  return {
    specversion: '1.0',
    id: `${run}-${n}`,
    source: 'https://keys.example.com',
    type: `dev.keyportal.${AUDIT_TYPES[n % AUDIT_TYPES.length]}`,
    subject: `req-${n}`,
    time: '2026-03-04T05:06:07.089Z',
    datacontenttype: 'application/json',
    dataschema: 'https://keyportal.dev/schemas/audit/v1',
    data: { n, ...data },
  };
}

const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as RsyslogLine);
const idsIn = (lines: string[]) => parsed(lines).map((l) => (JSON.parse(l.msg) as CloudEvent).id);
const never = new AbortController().signal;

/** Waits (bounded) until the file holds every id in `ids`. */
async function arrived(d: RunningRsyslog, ids: Iterable<string>, timeoutMs = 15_000): Promise<string[]> {
  const want = [...ids];
  let lines: string[] = [];
  try {
    await until(
      async () => {
        lines = await d.lines();
        const have = new Set(idsIn(lines));
        return want.every((id) => have.has(id));
      },
      `${want.length} records in ${d.file}`,
      timeoutMs,
    );
  } catch (err) {
    const have = new Set(idsIn(lines));
    throw new Error(`${String(err)}; missing ${want.filter((id) => !have.has(id)).slice(0, 20).join(', ')}; rsyslogd said:\n${d.output()}`);
  }
  return lines;
}

/** Expects `p` to reject with AuditSinkError; returns it and how long it took. */
async function rejected(p: Promise<unknown>): Promise<{ error: AuditSinkError; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    if (err instanceof AuditSinkError) return { error: err, ms: Date.now() - t0 };
    throw err;
  }
  throw new Error('expected the batch not to be acknowledged');
}

describe.skipIf(!rsyslogAvailable())('the syslog audit sink against a real rsyslogd', () => {
  it('delivers a batch of 200 records, each once, with the RFC 5424 header rsyslog parses back', { timeout: 30_000 }, async () => {
    const d = await rsyslog();
    const sink = sinkFor({ port: d.port });
    const events = Array.from({ length: 200 }, (_, n) => event('batch', n));
    // Multi-byte UTF-8 and a newline (and DEL) in the data: octet counting frames by bytes.
    events[7] = event('batch', 7, { reason: 'café, 日本語のキー, 🔑' });
    events[8] = event('batch', 8, { reason: 'first line\nsecond line\r\n\tthird\u007f' });

    await sink.send(events, never);
    const lines = await arrived(
      d,
      events.map((e) => e.id),
    );

    expect(lines).toHaveLength(200);
    const byId = new Map(parsed(lines).map((l) => [(JSON.parse(l.msg) as CloudEvent).id, l]));
    expect(byId.size).toBe(200);
    for (const e of events) {
      const line = byId.get(e.id)!;
      // local3 = 19; informational = 6.
      expect(line.pri).toBe(String(19 * 8 + 6));
      expect(line.appname).toBe('keyportal');
      expect(line.hostname).toBe('portal-test');
      expect(line.procid).toBe(String(process.pid));
      expect(line.msgid).toBe(e.type.slice('dev.keyportal.'.length));
      expect(line.time).toBe(e.time);
      expect(line.sd).toBe('-');
      expect(JSON.parse(line.msg)).toEqual(e);
    }
    expect((JSON.parse(byId.get('batch-7')!.msg) as CloudEvent).data.reason).toBe('café, 日本語のキー, 🔑');
    expect((JSON.parse(byId.get('batch-8')!.msg) as CloudEvent).data.reason).toBe('first line\nsecond line\r\n\tthird\u007f');
    await sink.close();
  });

  it.skipIf(!gtlsAvailable())('delivers over TLS to rsyslog with the gtls driver, and refuses a server it cannot verify', { timeout: 30_000 }, async () => {
    const d = await rsyslog({ tls: true });
    const events = Array.from({ length: 50 }, (_, n) => event('tls', n, n === 3 ? { reason: 'naïve 日本\nnext' } : {}));
    await sinkFor({ port: d.port, tls: true, ca: d.ca }).send(events, never);
    const lines = await arrived(
      d,
      events.map((e) => e.id),
    );
    expect(lines).toHaveLength(50);
    expect(parsed(lines).map((l) => JSON.parse(l.msg) as CloudEvent)).toEqual(expect.arrayContaining(events));

    // Without the CA the system's trust store knows nothing of the test CA.
    const { error } = await rejected(sinkFor({ port: d.port, tls: true }).send([event('untrusted', 1)], never));
    expect(error.message).toContain(`127.0.0.1:${d.port}`);
    expect(error.message).toMatch(/certificate/i);
  });

  it('says at once that nothing listens, naming host and port', async () => {
    const port = await closedPort();
    const sink = sinkFor({ port, timeoutSeconds: 5 });
    const { error, ms } = await rejected(sink.send([event('down', 1)], never));
    expect(error.sink).toBe('syslog');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(ms).toBeLessThan(1000);
    // An empty batch needs no server at all.
    await expect(sink.send([], never)).resolves.toBeUndefined();
  });

  it('gives up after timeoutSeconds on a server that accepts and never reads or closes, and on abort', { timeout: 10_000 }, async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.pause();
      s.on('error', () => s.destroy());
    });
    servers.push({ server, sockets });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };

    const { error, ms } = await rejected(sinkFor({ port, timeoutSeconds: 0.5 }).send([event('hang', 1)], never));
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toMatch(/within 0\.5s/);
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(2000);

    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const aborted = await rejected(sinkFor({ port, timeoutSeconds: 5 }).send([event('hang', 2)], abort.signal));
    expect(aborted.error.message).toMatch(/aborted/);
    expect(aborted.ms).toBeLessThan(1000);
  });

  it('keeps every record acknowledged by a running rsyslog while it restarts during a burst; refused batches sent again arrive', { timeout: 90_000 }, async () => {
    const d = await rsyslog();
    const sink = sinkFor({ port: d.port, timeoutSeconds: 2 });
    const batchSize = 400;
    const restarts = 4;

    // The daemon's state, as the batches see it: `epoch` counts stops begun, `stopping` is one under way.
    let epoch = 0;
    let stopping = false;
    let restarted = 0;
    const restarter = (async () => {
      for (let r = 0; r < restarts; r++) {
        await new Promise((res) => setTimeout(res, 150));
        stopping = true;
        epoch++;
        await d.stop();
        stopping = false;
        await d.restart();
        restarted++;
      }
    })();

    // One shipper, like the real one: take a batch (a refused one first), send it, and on
    // refusal put it back to send again, whole.
    const wanted = new Set<string>();
    /** Acknowledged while rsyslog ran throughout: the close was its answer to our EOF. */
    const acknowledged = new Set<string>();
    /** Acknowledged by a daemon that was being stopped meanwhile (see the end of the test). */
    const acknowledgedInShutdown = new Set<string>();
    const retry: CloudEvent[][] = [];
    const refusals = new Map<string, number>();
    let made = 0;
    let sends = 0;
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline && (restarted < restarts || retry.length > 0)) {
      let batch = retry.shift();
      if (!batch) {
        const first = made;
        made += batchSize;
        batch = Array.from({ length: batchSize }, (_, i) => event('burst', first + i));
        for (const e of batch) wanted.add(e.id);
      }
      const before = { epoch, stopping };
      sends++;
      try {
        await sink.send(batch, never);
        const clean = !before.stopping && !stopping && before.epoch === epoch;
        for (const e of batch) (clean ? acknowledged : acknowledgedInShutdown).add(e.id);
      } catch (err) {
        expect(err).toBeInstanceOf(AuditSinkError);
        const reason = (err as Error).message.replace(/^.*not acknowledged: /, '').replace(/\d+/g, 'N');
        refusals.set(reason, (refusals.get(reason) ?? 0) + 1);
        retry.push(batch);
        await new Promise((res) => setTimeout(res, 20));
      }
    }
    await restarter;
    expect(restarted).toBe(restarts);
    expect(retry).toHaveLength(0);
    expect(refusals.size).toBeGreaterThan(0);

    // Wait (bounded) for everything acknowledged by a running daemon; then look at the rest.
    await arrived(d, acknowledged, 30_000);
    const lines = await d.lines();
    const inFile = new Set(idsIn(lines));
    const missing = [...wanted].filter((id) => !inFile.has(id));
    expect([...acknowledged].filter((id) => !inFile.has(id))).toEqual([]);
    // Every refused batch was sent again until acknowledged, so a record can only be missing if
    // a daemon that was shutting down closed the connection after reading the batch but before
    // writing it: it exits, the kernel closes the socket with nothing unread, and that FIN looks
    // exactly like the answer to our EOF. rsyslog 8.2302 does this now and then (its imtcp reads
    // on after SIGTERM); no plain-TCP client can tell, so it is counted here, not failed.
    expect(missing.filter((id) => !acknowledgedInShutdown.has(id))).toEqual([]);
    console.info(
      `burst: ${made / batchSize} batches of ${batchSize}, ${sends} sends, ${restarts} restarts; refusals ${JSON.stringify(Object.fromEntries(refusals))}; ` +
        `${wanted.size} records, ${lines.length} lines (${lines.length - inFile.size} repeats); ` +
        `${acknowledgedInShutdown.size} acknowledged during a shutdown, of which ${missing.length} lost by rsyslog`,
    );
  });
});
