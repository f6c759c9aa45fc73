import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import type { KeyRequest } from '@/lib/domain/key-request';
import { OutboxMailer } from '@/lib/mail/outbox';
import { SmtpMailer } from '@/lib/mail/smtp';
import { endingMessage, issuedMessage, oneLine, reviewNotice } from '@/lib/mail/templates';
import { MailUnavailableError, MailUnreachableError } from '@/lib/mail/types';
import { makeServerCert } from '../helpers/tls';
import { TestSmtp } from '@/trial/smtp';

const request: KeyRequest = {
  id: 'abcdefghijkl',
  email: 'ada@example.com',
  model: 'gpt-4o',
  state: 'denied',
  createdAt: '2026-01-01T00:00:00Z',
  reason: '<script>alert(1)</script> & "quotes"',
  hasKey: false,
  resourceVersion: '1',
};
const ctx = { portalUrl: 'https://keys.example.com', portalTitle: 'Keyportal', gatewayUrl: 'https://llm.example.com', modelTitle: 'GPT-4o\r\nBcc: victim@example.com' };
const message = { to: ['ada@example.com'], subject: 'Hello', text: 'plain', html: '<p>html</p>' };

const servers: TestSmtp[] = [];
const mailers: SmtpMailer[] = [];
afterEach(async () => {
  // The mailer pools its connections, as the loop's does; the loop closes it when it stops.
  for (const m of mailers.splice(0)) m.close();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
type SmtpConfig = ConstructorParameters<typeof SmtpMailer>[1];
function mailerFor(from: string, config: Omit<SmtpConfig, 'maxConnections'> & Partial<SmtpConfig>, password: string | undefined): SmtpMailer {
  const m = new SmtpMailer(from, { maxConnections: 2, ...config }, password);
  mailers.push(m);
  return m;
}
async function smtp(options: ConstructorParameters<typeof TestSmtp>[0]) {
  const s = new TestSmtp(options);
  await s.start();
  servers.push(s);
  return s;
}

describe('mail templates', () => {
  it('escape whatever a user or admin typed in HTML, and keep subjects on one line', () => {
    const m = endingMessage('denied', request, ctx);
    expect(m.html).not.toContain('<script>');
    expect(m.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;');
    expect(m.text).toContain('Reason: <script>alert(1)</script> & "quotes"');
    expect(m.subject).toBe('Your GPT-4o Bcc: victim@example.com key request was denied');
    expect(oneLine('a\r\nb\u0000c\td')).toBe('a b c d');
  });

  it('the issued message carries the key only for email delivery', () => {
    const byEmail = issuedMessage({ ...request, state: 'issued' }, ctx, { key: 'sk-kp-secret' });
    expect(byEmail.text).toContain('API key: sk-kp-secret');
    const byPortal = issuedMessage({ ...request, state: 'issued' }, ctx, { revealUrl: 'https://keys.example.com/requests/abcdefghijkl' });
    expect(byPortal.text).not.toContain('sk-kp-secret');
    expect(byPortal.html).toContain('href="https://keys.example.com/requests/abcdefghijkl"');
  });

  it('the review notice links to the queue and names the kubectl command', () => {
    const m = reviewNotice({ ...request, state: 'in-review' }, ctx);
    expect(m.text).toContain('https://keys.example.com/approvals');
    expect(m.text).toContain('kubectl label secret keyreq-abcdefghijkl keyportal.dev/state=approved --overwrite');
  });
});

describe('SMTP delivery to a real SMTP server', () => {
  it('sends over plain SMTP and the header block holds no injected header', async () => {
    const server = await smtp({});
    const mailer = mailerFor('Keyportal <k@example.com>', { ...server.address, security: 'none' }, undefined);
    await mailer.send({ ...endingMessage('denied', request, ctx), to: ['ada@example.com'] });
    expect(server.messages).toHaveLength(1);
    expect(server.messages[0]?.to).toEqual(['ada@example.com']);
    expect(server.messages[0]?.headerLines.some((l) => /^bcc:/i.test(l))).toBe(false);
  });

  it('sends a burst over at most maxConnections connections at once, every message delivered', async () => {
    const server = await smtp({});
    const mailer = mailerFor('k@example.com', { ...server.address, security: 'none', maxConnections: 3 }, undefined);
    await Promise.all(Array.from({ length: 12 }, (_, i) => mailer.send({ ...message, to: [`u${i}@example.com`] })));
    expect(server.messages.map((m) => m.to[0]).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `u${i}@example.com`).sort());
    // Pooled and parallel: more than one connection, never more than allowed, each reused.
    expect(server.peakConnections).toBeGreaterThan(1);
    expect(server.peakConnections).toBeLessThanOrEqual(3);
    expect(server.connectionsOpened).toBeLessThanOrEqual(3);
  });

  it('requires STARTTLS and authenticates, trusting the CA named in config', async () => {
    const { key, cert, caFile } = makeServerCert();
    const server = await smtp({ starttls: true, tls: { key, cert }, auth: { user: 'mailer', pass: 'pw-123' } });
    const mailer = mailerFor('k@example.com', { ...server.address, security: 'starttls', user: 'mailer', caFile }, 'pw-123');
    await mailer.send(message);
    expect(server.messages[0]?.authUser).toBe('mailer');
  });

  it('speaks TLS from the first byte', async () => {
    const { key, cert, caFile } = makeServerCert();
    const server = await smtp({ secure: true, tls: { key, cert } });
    await mailerFor('k@example.com', { ...server.address, security: 'tls', caFile }, undefined).send(message);
    expect(server.messages).toHaveLength(1);
  });

  it('refuses a server whose certificate it cannot verify', async () => {
    const { key, cert } = makeServerCert();
    const server = await smtp({ starttls: true, tls: { key, cert } });
    const err = await mailerFor('k@example.com', { ...server.address, security: 'starttls' }, undefined).send(message).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailUnavailableError);
    expect(server.messages).toHaveLength(0);
  });

  it('a wrong password or a server that is down gives MailUnavailableError without the password', async () => {
    const { key, cert, caFile } = makeServerCert();
    const server = await smtp({ starttls: true, tls: { key, cert }, auth: { user: 'mailer', pass: 'right' } });
    const wrong = await mailerFor('k@example.com', { ...server.address, security: 'starttls', user: 'mailer', caFile }, 'wrong-pw-987')
      .send(message)
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(MailUnavailableError);
    expect((wrong as Error).message).toMatch(/EAUTH/);
    expect((wrong as Error).message).not.toContain('wrong-pw-987');
    const down = await mailerFor('k@example.com', { host: '127.0.0.1', port: 1, security: 'none' }, undefined).send(message).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(MailUnavailableError);
    expect((down as Error).message).toContain('127.0.0.1:1');
  });

  it('check (verify) tells a server that is down from one that refuses the login, over the socket the mailer opens itself', async () => {
    const down = await mailerFor('k@example.com', { host: '127.0.0.1', port: 1, security: 'none' }, undefined).verify().catch((e: unknown) => e);
    expect(down).toBeInstanceOf(MailUnreachableError);
    expect((down as Error).message).toMatch(/127\.0\.0\.1:1 \(none\): ECONNREFUSED/);
    const { key, cert, caFile } = makeServerCert();
    const server = await smtp({ secure: true, tls: { key, cert }, auth: { user: 'mailer', pass: 'right' } });
    const refused = await mailerFor('k@example.com', { ...server.address, security: 'tls', user: 'mailer', caFile }, 'wrong-pw-654').verify().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MailUnavailableError);
    expect(refused).not.toBeInstanceOf(MailUnreachableError);
    expect((refused as Error).message).toMatch(/EAUTH/);
    expect((refused as Error).message).not.toContain('wrong-pw-654');
    await mailerFor('k@example.com', { ...server.address, security: 'tls', user: 'mailer', caFile }, 'right').verify();
    // TLS from the first byte is now an upgrade of the socket we opened: the certificate is still checked.
    const untrusted = await mailerFor('k@example.com', { ...server.address, security: 'tls', user: 'mailer' }, 'right').verify().catch((e: unknown) => e);
    expect(untrusted).toBeInstanceOf(MailUnavailableError);
    expect(untrusted).not.toBeInstanceOf(MailUnreachableError);
    expect((untrusted as Error).message).toMatch(/certificate/);
  });
});

describe('the SMTP double as the benches run it (parse: false)', () => {
  it('takes every message and records its envelope, leaving the body unread', async () => {
    const server = await smtp({ parse: false });
    const mailer = mailerFor('k@example.com', { ...server.address, security: 'none' }, undefined);
    await Promise.all(['a@example.com', 'b@example.com', 'c@example.com'].map((to) => mailer.send({ ...message, to: [to] })));
    expect(server.messages.map((m) => m.to[0]).sort()).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
    expect(server.messages.every((m) => m.from === 'k@example.com' && m.subject === '' && m.text === '')).toBe(true);
  });
});

describe('the outbox (embedded default)', () => {
  it('writes each message as a real .eml file that a mail parser reads back', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'keyportal-outbox-'));
    await new OutboxMailer('Keyportal <k@example.com>', dir).send({ ...endingMessage('denied', request, ctx), to: ['ada@example.com'] });
    const files = (await readdir(dir)).filter((f) => f.endsWith('.eml'));
    expect(files).toHaveLength(1);
    const parsed = await simpleParser(await readFile(path.join(dir, files[0] as string)));
    expect(parsed.subject).toBe('Your GPT-4o Bcc: victim@example.com key request was denied');
    expect(parsed.text).toContain('Reason: <script>');
  });
});
