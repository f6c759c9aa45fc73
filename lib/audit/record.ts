import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * What happened, once: the audit trail's unit (README "Audit and retention"). A record is
 * written into the request Secret in the same write as the change it describes (so it exists
 * exactly when the change does), shipped from there to the configured sink, and removed once the
 * sink took it (lib/audit/cursor.ts: on Kubernetes, with the request's next write). Its id is fixed when it is written, so a record sent again after a crash
 * carries the same id and a consumer can drop the repeat.
 */
export const AUDIT_TYPES = [
  'request.created',
  'plugin.answered',
  'review.given',
  'request.held',
  'request.approved',
  'request.denied',
  'request.failed',
  'request.revoked',
  'request.expired',
  'request.reminded',
  'request.emailed',
  'key.minted',
  'key.revealed',
  'key.erased',
  'key.deleted',
  'budget.changed',
  'edit.refused',
  'request.deleted',
  'person.offboarded',
  'person.readmitted',
  'key.orphan-removed',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

export const auditRecordSchema = z.object({
  id: z.string().min(1).max(64),
  type: z.enum(AUDIT_TYPES),
  time: z.string(),
  /** The request id, or for records about no request: `person:<hash>`, `key:<alias>`. */
  subject: z.string().min(1).max(200),
  data: z.record(z.string(), z.unknown()),
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;
export const auditRecordsSchema = z.array(auditRecordSchema);

/** A fact a caller states that no field of its write shows (a deletion, a refused edit). */
export interface AuditFact {
  type: AuditType;
  data: Record<string, unknown>;
}

export function newRecord(subject: string, fact: AuditFact, now: Date): AuditRecord {
  return { id: randomUUID(), type: fact.type, time: now.toISOString(), subject, data: fact.data };
}

/** The records an annotation holds; a hand-mangled one reads as none (and is reported by the shipper). */
export function parseRecords(text: string | undefined): AuditRecord[] {
  if (!text) return [];
  try {
    const parsed = auditRecordsSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

const parsedOf = new WeakMap<object, { text: string; records: readonly AuditRecord[] }>();

/**
 * The records a stored version holds, parsed once: the shipper, the audit cursor, the cache and
 * the next write each ask of every version, and the annotation grows with every step. Keyed by
 * the version's object and checked against its text, since the cache lets go of the text in place.
 */
export function recordsOf(r: { readonly auditPending?: string }): readonly AuditRecord[] {
  const text = r.auditPending;
  if (!text) return [];
  const hit = parsedOf.get(r);
  if (hit?.text === text) return hit.records;
  // Frozen: every caller shares it, so a caller that would add to it must copy it.
  const records = Object.freeze(parseRecords(text));
  parsedOf.set(r, { text, records });
  return records;
}
