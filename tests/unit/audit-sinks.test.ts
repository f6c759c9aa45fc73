import { type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { CloudEvent } from '@/lib/audit/cloudevent';
import { AuditSinkError } from '@/lib/audit/sink';
import { HttpSink } from '@/lib/audit/sinks/http';
import { StdoutSink } from '@/lib/audit/sinks/stdout';
import { verifySignature } from '@/lib/crypto/signature';
import { closedPort } from '../helpers/net';

const SECRET = 'audit-secret-5f2c9a7e1d';

function event(n: number, data: Record<string, unknown> = {}): CloudEvent {
  return {
    specversion: '1.0',
    id: `evt-${n}`,
    source: 'https://keys.example.com',
    type: 'dev.keyportal.request.approved',
    subject: `req${String(n).padStart(9, '0')}`,
    time: '2025-03-01T12:00:00Z',
    datacontenttype: 'application/json',
    dataschema: 'https://keyportal.dev/schemas/audit/v1',
    data: { by: 'boss@example.com', n, ...data },
  };
}
const batch = [event(1), event(2, { reason: 'line one\nline "two" ✓' }), event(3)];
const live = () => new AbortController().signal;

/** Why a promise rejected (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuditSinkError);
  return err as Error;
}

describe('the http audit sink against a real collector', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections(); // a hanging collector would otherwise hold close() open
    await new Promise<void>((r) => s.close(() => r()));
  });

  interface Seen {
    method?: string;
    url?: string;
    headers: IncomingHttpHeaders;
    body: string;
  }

  /** A collector on 127.0.0.1 that reads each request whole and answers as `answer` says; returns its base URL and what it saw. */
  async function collector(answer: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void = (_req, res) => res.writeHead(200).end()) {
    const seen: Seen[] = [];
    server = createServer((req, res) => {
      const s: Seen = { method: req.method, url: req.url, headers: req.headers, body: '' };
      req.setEncoding('utf8');
      req.on('data', (c: string) => (s.body += c));
      req.on('end', () => {
        seen.push(s);
        answer(req, res, s);
      });
    });
    await listen(server);
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  async function listen(s: Server): Promise<void> {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  }

  it('posts the whole batch once, as a signed CloudEvents JSON batch, and a 2xx acknowledges it', async () => {
    const { base, seen } = await collector((_req, res) => res.writeHead(202).end('queued'));
    const sink = new HttpSink({ url: `${base}/ingest/audit`, timeoutSeconds: 2, secret: SECRET });
    expect(sink.kind).toBe('http');
    await sink.send(batch, live());
    expect(seen).toHaveLength(1);
    const got = seen[0] as Seen;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/ingest/audit');
    expect(got.headers['content-type']).toBe('application/cloudevents-batch+json');
    expect(got.headers['user-agent']).toBe('keyportal');
    expect(got.headers.authorization).toBeUndefined();
    expect(JSON.parse(got.body)).toEqual(batch);
    const verdict = verifySignature(got.headers['x-keyportal-signature'] as string, 'audit', got.body, [SECRET]);
    expect(verdict.ok).toBe(true);
    // Signed for the audit endpoint only: the same body and header are worthless at a webhook.
    expect(verifySignature(got.headers['x-keyportal-signature'] as string, 'approval', got.body, [SECRET]).ok).toBe(false);
    await sink.close();
  });

  it('an empty batch sends nothing; a 204 acknowledges too', async () => {
    const { base, seen } = await collector((_req, res) => res.writeHead(204).end());
    const sink = new HttpSink({ url: base, timeoutSeconds: 2, secret: SECRET });
    await sink.send([], live());
    expect(seen).toHaveLength(0);
    await sink.send([event(9)], live());
    expect(seen).toHaveLength(1);
  });

  it('a 500 is no acknowledgement: the error names the status and a clean start of the body, never the secret or the query', async () => {
    const { base, seen } = await collector((req, res) =>
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`store down\r\n\u001b[31mrequest ${req.url} signed with ${SECRET}\u001b[0m ${'x'.repeat(5000)}`),
    );
    const sink = new HttpSink({ url: `${base}/in?token=abc&tenant=acme-7`, timeoutSeconds: 2, secret: SECRET });
    const err = await rejection(sink.send(batch, live()));
    expect(seen).toHaveLength(1);
    expect(err.message).toMatch(/^audit sink http: 127\.0\.0\.1:\d+ answered HTTP 500: store down \[31mrequest \/in\?\[redacted\] signed with \[redacted\]/);
    expect(err.message).not.toMatch(/[\u0000-\u001f]/);
    expect(err.message.length).toBeLessThan(320);
    for (const hidden of [SECRET, 'abc', 'acme-7', 'token=']) expect(err.message).not.toContain(hidden);
  });

  it('credentials in the URL go as Basic auth and never into a message', async () => {
    const { base, seen } = await collector((_req, res) => res.writeHead(401).end('who are you, ingest:pa55w0rd-x?'));
    const url = base.replace('http://', 'http://ingest:pa55w0rd-x@');
    const err = await rejection(new HttpSink({ url, timeoutSeconds: 2, secret: SECRET }).send(batch, live()));
    expect(seen[0]?.headers.authorization).toBe(`Basic ${Buffer.from('ingest:pa55w0rd-x').toString('base64')}`);
    expect(err.message).toMatch(/HTTP 401/);
    expect(err.message).not.toContain('pa55w0rd-x');
  });

  it('a redirect is no acknowledgement and is not followed', async () => {
    const { base, seen } = await collector((_req, res) => res.writeHead(307, { location: '/elsewhere' }).end());
    const err = await rejection(new HttpSink({ url: `${base}/in`, timeoutSeconds: 2, secret: SECRET }).send(batch, live()));
    expect(err.message).toMatch(/HTTP 307 \(a redirect/);
    expect(seen.map((s) => s.url)).toEqual(['/in']);
  });

  it('a collector that never answers fails the batch after timeoutSeconds', async () => {
    const { base, seen } = await collector(() => undefined);
    const sink = new HttpSink({ url: `${base}/?token=abc`, timeoutSeconds: 0.3, secret: SECRET });
    const started = Date.now();
    const err = await rejection(sink.send(batch, live()));
    const took = Date.now() - started;
    expect(seen).toHaveLength(1); // it got the whole batch, but never said so
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2000);
    expect(err.message).toMatch(/did not answer within 0\.3 s/);
    expect(err.message).not.toContain('abc');
  });

  it('a collector that cuts the connection halfway through the batch fails it', async () => {
    let received = 0;
    server = createServer((req) => {
      req.once('data', (c: Buffer) => {
        received += c.byteLength;
        req.socket.destroy();
      });
    });
    await listen(server);
    const big = Array.from({ length: 400 }, (_, i) => event(i, { note: 'y'.repeat(2000) }));
    const size = Buffer.byteLength(JSON.stringify(big));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/?token=abc`;
    const err = await rejection(new HttpSink({ url, timeoutSeconds: 2, secret: SECRET }).send(big, live()));
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(size);
    expect(err.message).toMatch(/127\.0\.0\.1:\d+ is unreachable or broke off the exchange \(.+\)/);
    expect(err.message).not.toContain('abc');
    expect(err.message).not.toContain(SECRET);
  });

  it('a refused connection fails the batch', async () => {
    const port = await closedPort();
    const err = await rejection(new HttpSink({ url: `http://127.0.0.1:${port}/in?token=abc`, timeoutSeconds: 2, secret: SECRET }).send(batch, live()));
    expect(err.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} is unreachable.*ECONNREFUSED`));
    expect(err.message).not.toContain('abc');
    expect(err.message).not.toContain(SECRET);
  });

  it('a batch the shipper abandons (shutdown) fails at once, before or during the exchange', async () => {
    const { base } = await collector(() => undefined);
    const sink = new HttpSink({ url: base, timeoutSeconds: 30, secret: SECRET });
    const gone = new AbortController();
    gone.abort();
    expect((await rejection(sink.send(batch, gone.signal))).message).toMatch(/abandoned/);
    const stop = new AbortController();
    const sending = sink.send(batch, stop.signal);
    setTimeout(() => stop.abort(), 50);
    const started = Date.now();
    expect((await rejection(sending)).message).toMatch(/sending to 127\.0\.0\.1:\d+ was abandoned/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses to sign with an empty secret', () => {
    expect(() => new HttpSink({ url: 'https://audit.example.com/', timeoutSeconds: 1, secret: '' })).toThrow(/secret/);
  });
});

describe('the stdout audit sink', () => {
  it('writes one CloudEvents JSON line per record, the batch in one write, and resolves once the stream took it', async () => {
    const out = new PassThrough();
    const writes: string[] = [];
    const write = out.write.bind(out);
    out.write = ((chunk: string, cb?: (err?: Error | null) => void) => {
      writes.push(String(chunk));
      return write(chunk, cb);
    }) as typeof out.write;
    const sink = new StdoutSink(out);
    expect(sink.kind).toBe('stdout');
    await sink.send(batch, live());
    await sink.send([], live());
    expect(writes).toHaveLength(1);
    const text = String(out.read());
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.split('\n').slice(0, -1);
    expect(lines).toHaveLength(3); // the newline inside a reason stays escaped inside its line
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(batch);
    await sink.close();
  });

  it('still acknowledges when the pipe is slow (write answers false), once the reader catches up', async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    const sink = new StdoutSink(out);
    const sending = sink.send(batch, live());
    let done = false;
    void sending.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false); // nobody has read it yet: not handed over
    out.resume(); // the log pipe drains
    await sending;
    expect(done).toBe(true);
  });

  it('a write that fails rejects the batch, and does not crash the process', async () => {
    const broken = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('EPIPE: broken pipe'));
      },
    });
    const sink = new StdoutSink(broken);
    const err = await rejection(sink.send(batch, live()));
    expect(err.message).toMatch(/^audit sink stdout: the write failed \(EPIPE: broken pipe\)/);
    await new Promise((r) => setTimeout(r, 10)); // the stream's own 'error' event comes after the callback
    expect((await rejection(sink.send(batch, live()))).message).toMatch(/the stream is closed/);
  });

  it('a batch the shipper abandons while the pipe is stuck fails rather than waiting for ever', async () => {
    const stuck = new Writable({ write: () => undefined });
    const sink = new StdoutSink(stuck);
    const stop = new AbortController();
    const sending = sink.send(batch, stop.signal);
    stop.abort();
    expect((await rejection(sending)).message).toMatch(/abandoned/);
  });
});
