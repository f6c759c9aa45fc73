import type { CloudEvent } from './cloudevent';

/**
 * Where audit records go. `send` resolves only once the receiver has taken the whole batch (the
 * acknowledgement the shipper waits for before it removes the records from the store); it throws
 * AuditSinkError when it could not be sure, and the batch is sent again later, whole (a consumer
 * drops repeats by `id`).
 */
export interface AuditSink {
  readonly kind: 'stdout' | 'syslog' | 'http';
  send(events: readonly CloudEvent[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** The sink did not acknowledge the batch: down, refusing, hanging, or closed mid-batch. */
export class AuditSinkError extends Error {
  constructor(
    readonly sink: AuditSink['kind'],
    message: string,
  ) {
    super(`audit sink ${sink}: ${message}`);
    this.name = 'AuditSinkError';
  }
}
