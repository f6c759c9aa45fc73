import type { KeyRequest } from '../domain/key-request';
import { versionNumber } from '../audit/cursor';
import { recordsOf } from '../audit/record';

/**
 * The request cache's side of the audit trail: it lets go of the audit records of every cached
 * version the audit cursor covers (they reached the sink, and the request's next write replaces
 * them), keeping only the last record's id. A resting request's cache entry stays as small as it
 * was when each request was acknowledged by a write of its own.
 */
export class AuditShedding {
  /** The audit cursor as last heard (lib/audit/cursor.ts); -1 before. */
  private through = -1n;
  /** Ids whose cached request still holds audit records (the ones a cursor move may let go of). */
  private readonly holding = new Set<string>();

  constructor(private readonly cached: (id: string) => KeyRequest | undefined) {}

  get covered(): bigint {
    return this.through;
  }

  /** The cursor moved: every cached version it now covers lets go of its records. */
  cover(through: bigint): void {
    if (through <= this.through) return;
    this.through = through;
    for (const id of this.holding) {
      const r = this.cached(id);
      if (!r || this.shed(r)) this.holding.delete(id);
    }
  }

  /** Before a request goes into the cache: its covered records go, and the ones left are remembered for the next move. */
  admit(r: KeyRequest): KeyRequest {
    if (this.shed(r)) this.holding.delete(r.id);
    else this.holding.add(r.id);
    return r;
  }

  /** Drops the records of a covered version; true when the request holds none any more. */
  private shed(r: KeyRequest): boolean {
    if (r.auditPending === undefined) return true;
    const version = versionNumber(r.resourceVersion);
    if (version === undefined || version > this.through) return false;
    const last = recordsOf(r).at(-1)?.id;
    if (last) r.auditShippedUpTo = last;
    delete r.auditPending;
    return true;
  }
}
