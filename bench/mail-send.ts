/**
 * `npx tsx bench/mail-send.ts`: what sending an email through lib/mail/smtp.ts takes, to a real SMTP
 * server (npm smtp-server, the tests' TestSmtp) on loopback: 200 messages one at a time (the
 * median, as a request's life meets it when the loop is not busy), then 1,000 from 32 senders
 * at once (messages a second; the loop's concurrency) over the pool's 16 connections. With
 * MAIL_BASE (a clone of an earlier commit) its mailer is measured side by side, alternating,
 * two rounds each; the CPU figure is this process's, client and server together.
 */
import path from 'node:path';
import { TestSmtp } from '@/trial/smtp';
import { type KeyRequest, newRequestId, rfc3339 } from '@/lib/domain/key-request';
import { issuedMessage } from '@/lib/mail/templates';
import type { MailMessage } from '@/lib/mail/types';
import { checkoutsToCompare } from './checkouts';
import { pool } from './portal/clients';
import { median } from './stats';

interface Mailer {
  send(m: MailMessage): Promise<void>;
  close(): void;
}
type MailerClass = new (from: string, smtp: Record<string, unknown>, password: string | undefined) => Mailer;

const context = { portalUrl: 'https://keys.example.com', portalTitle: 'Keyportal', gatewayUrl: 'https://llm.example.com', modelTitle: 'GPT-4o' };
/** The portal's own "your key is ready" email (lib/mail/templates.ts), as the loop sends it. */
const message = (i: number): MailMessage => {
  const email = `user${i}@bench.example.com`;
  const request: KeyRequest = { id: newRequestId(), email, model: 'gpt-4o', state: 'issued', createdAt: rfc3339(new Date()), hasKey: true, resourceVersion: '1' };
  return { to: [email], ...issuedMessage(request, context, { key: `sk-kp-${'x'.repeat(40)}` }) };
};

async function mailerOf(checkout: string): Promise<MailerClass> {
  return ((await import(path.join(checkout, 'lib/mail/smtp.ts'))) as { SmtpMailer: MailerClass }).SmtpMailer;
}

async function round(Mailer: MailerClass): Promise<{ oneMs: number; perSecond: number; cpuMs: number }> {
  const smtp = new TestSmtp({ parse: false });
  await smtp.start();
  const mailer = new Mailer('Keyportal <keys@example.com>', { ...smtp.address, security: 'none', maxConnections: 16 }, undefined);
  try {
    for (let i = 0; i < 20; i++) await mailer.send(message(i));
    const ms: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await mailer.send(message(i));
      ms.push(performance.now() - t);
    }
    const cpu = process.cpuUsage(cpu0);
    const t = performance.now();
    await pool(Array.from({ length: 1000 }, (_, i) => i), 32, (i) => mailer.send(message(i)));
    const perSecond = 1000 / ((performance.now() - t) / 1000);
    return { oneMs: median(ms), perSecond, cpuMs: (cpu.user + cpu.system) / 1000 / 200 };
  } finally {
    mailer.close();
    await smtp.stop();
  }
}

const checkouts = await Promise.all(checkoutsToCompare('MAIL_BASE').map(async ([name, dir]) => [name, await mailerOf(dir)] as const));
for (let r = 1; r <= 2; r++) {
  for (const [name, Mailer] of checkouts) {
    const f = await round(Mailer);
    process.stdout.write(`${name}, round ${r}: one at a time ${f.oneMs.toFixed(1)} ms an email (median of 200, CPU ${f.cpuMs.toFixed(2)} ms); 1,000 from 32 senders ${f.perSecond.toFixed(0)} a second\n`);
  }
}
