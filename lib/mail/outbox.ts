import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { newRequestId } from '../domain/key-request';
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

  async send(message: MailMessage): Promise<void> {
    try {
      const info = await this.transport.sendMail({ from: this.from, ...message });
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${newRequestId()}.eml`;
      const tmp = path.join(this.dir, `.${name}.tmp`);
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(info.message as Buffer);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path.join(this.dir, name));
    } catch (err) {
      throw new MailUnavailableError(`cannot write to the outbox ${this.dir}: ${(err as Error).message}`);
    }
  }
}
