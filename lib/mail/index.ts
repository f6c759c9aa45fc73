import path from 'node:path';
import type { Config } from '../config/load';
import { OutboxMailer } from './outbox';
import { SmtpMailer } from './smtp';
import type { Mailer } from './types';

export function createMailer(config: Config): Mailer {
  const { mail } = config;
  if (mail.smtp) return new SmtpMailer(mail.from, mail.smtp, config.secrets.SMTP_PASSWORD);
  return new OutboxMailer(mail.from, path.resolve(/*turbopackIgnore: true*/ mail.outbox ?? '.data/outbox'));
}
