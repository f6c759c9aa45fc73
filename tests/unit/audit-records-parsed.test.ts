import { afterEach, describe, expect, it, vi } from 'vitest';
import { type AuditRecord, newRecord, recordsOf } from '@/lib/audit/record';

const records = (n: number): AuditRecord[] => Array.from({ length: n }, (_, i) => newRecord('aaaaaaaaaaaa', { type: 'request.created', data: { i } }, new Date(Date.UTC(2026, 0, 1, 0, 0, i))));

afterEach(() => vi.restoreAllMocks());

describe("a stored version's audit records", () => {
  it('are parsed once per version, however often the shipper, the cursor, the cache and the next write ask', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const version = { auditPending: JSON.stringify(records(3)) };
    const first = recordsOf(version);
    for (let i = 0; i < 10; i++) expect(recordsOf(version)).toBe(first);
    expect(first.map((r) => r.data.i)).toEqual([0, 1, 2]);
    expect(parse).toHaveBeenCalledTimes(1);
    // Another version with the same text is another object: parsed for itself.
    expect(recordsOf({ auditPending: version.auditPending })).toEqual(first);
    expect(parse).toHaveBeenCalledTimes(2);
  });

  it('follow the text when the cache lets go of it in place, and cannot be added to by one caller behind the others', () => {
    const version: { auditPending?: string } = { auditPending: JSON.stringify(records(2)) };
    const held = recordsOf(version);
    expect(() => (held as AuditRecord[]).push(records(1)[0] as AuditRecord)).toThrow(TypeError);
    expect(recordsOf(version)).toHaveLength(2);
    version.auditPending = JSON.stringify(records(5));
    expect(recordsOf(version)).toHaveLength(5);
    delete version.auditPending;
    expect(recordsOf(version)).toEqual([]);
    // A hand-mangled annotation reads as none, as before.
    expect(recordsOf({ auditPending: '{not json' })).toEqual([]);
  });
});
