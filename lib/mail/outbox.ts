import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { newRequestId } from '../domain/key-request';
import { writeFileAtomic } from '../fs/atomic-write';
import { type MailMessage, type Mailer, MailUnavailableError } from './types';

/**
 * The embedded default: each message, built by nodemailer exactly as SMTP would carry it, is
 * written to `<dir>/<time>-<random>.eml` atomically, for the portal's outbox page.
 */
export class OutboxMailer implements Mailer {
  readonly kind = 'outbox' as const;
  private readonly transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });

  constructor(
    private readonly from: string,
    readonly dir: string,
  ) {}

  close(): void {
    // Nothing is kept open: every message is one file.
  }

  async send(message: MailMessage): Promise<void> {
    try {
      const info = await this.transport.sendMail({ from: this.from, ...message });
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${newRequestId()}.eml`;
      await writeFileAtomic(path.join(this.dir, name), info.message as Buffer);
    } catch (err) {
      throw new MailUnavailableError(`cannot write to the outbox ${this.dir}: ${(err as Error).message}`);
    }
  }
}
