export interface MailMessage {
  to: string[];
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(message: MailMessage): Promise<void>;
  /** Closes kept-open connections (the loop stopping). */
  close(): void;
}

/** The message did not go out; worth retrying. Never carries the SMTP password. */
export class MailUnavailableError extends Error {
  override readonly name: string = 'MailUnavailableError';
}

/** Nothing answered at mail.smtp's host and port (refused, no route, no DNS name yet, no answer in time). */
export class MailUnreachableError extends MailUnavailableError {
  override readonly name = 'MailUnreachableError';
}
