import { createHash } from 'node:crypto';
import type { AuditRecord } from './record';

/** The audit schema's version: `dataschema` names it, so a consumer can tell a change apart. */
export const AUDIT_SCHEMA_VERSION = 1;

/** A record as the sinks send it: CloudEvents 1.0, structured JSON mode. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: `dev.keyportal.${string}`;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema: string;
  data: Record<string, unknown>;
}

export interface RenderOptions {
  /** `source`: which portal wrote it (its public URL). */
  source: string;
  /** Replace every email address in the data by its SHA-256 (audit.redactEmail). */
  redactEmail: boolean;
}

const EMAIL = /[^\s@"<>()]+@[^\s@"<>()]+\.[^\s@"<>()]+/g;
const hashed = (email: string): string => `sha256:${createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 40)}`;

function redact(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(EMAIL, (m) => hashed(m));
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v)]));
  return value;
}

export function toCloudEvent(record: AuditRecord, options: RenderOptions): CloudEvent {
  return {
    specversion: '1.0',
    id: record.id,
    source: options.source,
    type: `dev.keyportal.${record.type}`,
    subject: options.redactEmail ? (redact(record.subject) as string) : record.subject,
    time: record.time,
    datacontenttype: 'application/json',
    dataschema: `https://keyportal.dev/schemas/audit/v${AUDIT_SCHEMA_VERSION}`,
    data: options.redactEmail ? (redact(record.data) as Record<string, unknown>) : record.data,
  };
}
