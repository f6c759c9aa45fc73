import { log } from '../log';
import { countAuditShipped } from '../metrics/record';
import type { CloudEvent } from './cloudevent';
import { type AuditSink, AuditSinkError } from './sink';

const MAX_BACKOFF_MS = 60_000;

/**
 * The sink as a shipping round meets it: a batch taken, or the sink's complaint, after which it is
 * left alone for a backoff (0.5 s doubling to a minute). The first failure and the recovery are
 * logged once each, not once a batch.
 */
export class SinkSender {
  private failures = 0;
  private retryAt = 0;
  private lastError: string | undefined;

  constructor(
    private readonly sink: AuditSink,
    private readonly now: () => number,
    /** Records waiting, for the two log lines. */
    private readonly backlog: () => number,
  ) {}

  /** Still backing off from the last failure: no batch now. */
  get resting(): boolean {
    return this.now() < this.retryAt;
  }

  /** The sink's last failure while it keeps failing; undefined once a batch went through. */
  get error(): string | undefined {
    return this.lastError;
  }

  /** Sends a batch; the sink's complaint when it did not take it. */
  async send(events: CloudEvent[], signal: AbortSignal): Promise<string | undefined> {
    try {
      await this.sink.send(events, signal);
    } catch (err) {
      if (!(err instanceof AuditSinkError)) throw err;
      countAuditShipped(events.length, true);
      this.failures++;
      this.retryAt = this.now() + Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.failures, 10));
      if (this.lastError === undefined) log('warn', 'audit: the sink did not take a batch; its records wait in their requests and are sent again', { error: err.message.slice(0, 300), backlog: this.backlog() });
      this.lastError = err.message;
      return err.message;
    }
    if (this.lastError !== undefined) log('info', 'audit: the sink takes records again', { backlog: this.backlog() });
    this.failures = 0;
    this.lastError = undefined;
    countAuditShipped(events.length, false);
    return undefined;
  }
}
