import type { Writable } from 'node:stream';
import type { CloudEvent } from '../cloudevent';
import { type AuditSink, AuditSinkError } from '../sink';

/**
 * One CloudEvents JSON line per record on stdout (the portal's own logs then go to stderr, see
 * lib/log.ts), for a cluster whose log pipeline (Fluent Bit, Vector, the cloud's agent) already
 * collects container output.
 *
 * The acknowledgement here is "handed to the container runtime's log pipe": `send` resolves in
 * the write's callback, once the stream has passed the batch on. At-least-once ends there; the
 * cluster's log pipeline takes it on from the runtime's log file. A batch is one `write`, so its
 * lines are never interleaved with another writer's. When the pipe is slow (`write` answers
 * false), the callback, and so the acknowledgement, simply comes later.
 *
 * A stream error rejects the pending batches and every later one (they stay in the store) rather
 * than crashing the process: the sink listens for `error` on the stream for as long as it is open.
 */
export class StdoutSink implements AuditSink {
  readonly kind = 'stdout' as const;
  private readonly pending = new Set<(err: Error) => void>();
  private readonly onError = (err: Error): void => this.fail(`the stream failed (${err.message})`);
  private readonly onClose = (): void => this.fail('the stream closed before it took the batch');

  constructor(private readonly stream: Writable = process.stdout) {
    stream.on('error', this.onError);
    stream.on('close', this.onClose);
  }

  send(events: readonly CloudEvent[], signal: AbortSignal): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    if (signal.aborted) return Promise.reject(new AuditSinkError('stdout', 'the batch was abandoned before it was written'));
    if (this.stream.destroyed || this.stream.writableEnded) return Promise.reject(new AuditSinkError('stdout', 'the stream is closed'));
    const text = events.map((e) => `${JSON.stringify(e)}\n`).join('');
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        this.pending.delete(fail);
        signal.removeEventListener('abort', abandon);
        if (err) reject(err);
        else resolve();
      };
      const fail = (err: Error): void => settle(err);
      // Already handed over in part: the batch may yet appear, and then again when it is re-sent (consumers drop repeats by id).
      const abandon = (): void => settle(new AuditSinkError('stdout', 'the batch was abandoned while the stream was still taking it'));
      this.pending.add(fail);
      signal.addEventListener('abort', abandon, { once: true });
      this.stream.write(text, (err) => settle(err ? new AuditSinkError('stdout', `the write failed (${err.message})`) : undefined));
    });
  }

  async close(): Promise<void> {
    // The stream is not ended: process.stdout (or the caller's stream) belongs to its owner.
    this.stream.off('error', this.onError);
    this.stream.off('close', this.onClose);
  }

  private fail(message: string): void {
    for (const reject of [...this.pending]) reject(new AuditSinkError('stdout', message));
  }
}
