import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { MailConfig } from '../config/schema';
import { smtpSocket } from './smtp-socket';
import { type MailMessage, type Mailer, MailUnavailableError, MailUnreachableError } from './types';

type SmtpConfig = NonNullable<MailConfig['smtp']>;

const CONNECT_TIMEOUT_MS = 10_000;

/** Sends through an SMTP server: TLS from the first byte, required STARTTLS, or plain (loopback). */
export class SmtpMailer implements Mailer {
  readonly kind = 'smtp' as const;
  private readonly transport: nodemailer.Transporter;

  constructor(
    private readonly from: string,
    private readonly smtp: SmtpConfig,
    password: string | undefined,
  ) {
    // Pooled: the loop emails in bursts, and a new TCP (and TLS) session per message was most
    // of the time between `issued` and the email. Idle connections close after the server's
    // own timeout or socketTimeout, whichever comes first.
    this.transport = nodemailer.createTransport({
      pool: true,
      maxConnections: smtp.maxConnections,
      maxMessages: 100,
      host: smtp.host,
      port: smtp.port,
      secure: smtp.security === 'tls',
      requireTLS: smtp.security === 'starttls',
      ignoreTLS: smtp.security === 'none',
      auth: smtp.user ? { user: smtp.user, pass: password ?? '' } : undefined,
      tls: smtp.caFile ? { ca: readFileSync(smtp.caFile, 'utf8') } : undefined,
      connectionTimeout: CONNECT_TIMEOUT_MS,
      // Our own TCP connect, with Nagle off (lib/mail/smtp-socket.ts says why).
      getSocket: smtpSocket(smtp.host, smtp.port, CONNECT_TIMEOUT_MS),
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  close(): void {
    this.transport.close();
  }

  /** Connects, upgrades to TLS as configured, and logs in: what an admin's `keyportal check` asks. */
  async verify(): Promise<void> {
    try {
      await this.transport.verify();
    } catch (err) {
      const e = err as { code?: string; syscall?: string; command?: string; responseCode?: number; message?: string };
      // nodemailer keeps the socket's error (its syscall) and relabels its code: refused, no
      // route and no DNS name come from connect or getaddrinfo, a silent host is ETIMEDOUT on CONN.
      const unreachable = e.syscall === 'connect' || e.syscall === 'getaddrinfo' || e.code === 'EDNS' || (e.code === 'ETIMEDOUT' && e.command === 'CONN');
      throw new (unreachable ? MailUnreachableError : MailUnavailableError)(`SMTP ${this.smtp.host}:${this.smtp.port} (${this.smtp.security}): ${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}: ${e.message ?? String(err)}`);
    }
  }

  async send(message: MailMessage): Promise<void> {
    try {
      await this.transport.sendMail({ from: this.from, ...message });
    } catch (err) {
      const e = err as { code?: string; responseCode?: number; message?: string };
      // nodemailer's messages name the server and the SMTP reply, never the password.
      throw new MailUnavailableError(
        `SMTP ${this.smtp.host}:${this.smtp.port} did not take the message (${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}): ${e.message ?? String(err)}`,
      );
    }
  }
}
