import { describe, expect, it } from 'vitest';
import { ShippedKnowledge, versionNumber } from '@/lib/audit/cursor';
import type { AuditRecord } from '@/lib/audit/record';

const record = (id: string): AuditRecord => ({ id, type: 'request.created', time: '2026-12-06T00:00:00Z', subject: 'r1', data: {} });
const version = (rv: string, ...ids: string[]) => ({ id: 'r1', resourceVersion: rv, auditPending: JSON.stringify(ids.map(record)) });

describe('ShippedKnowledge', () => {
  it('reads resource versions as integers, anything else as none', () => {
    expect(versionNumber('18446744073709551617')).toBe(18446744073709551617n);
    for (const bad of [undefined, '', 'not-a-version', '12a', '-3', '1'.repeat(31)]) expect(versionNumber(bad)).toBeUndefined();
  });

  it('a version at or below the cursor holds nothing to send; above it, all but what was sent', () => {
    const k = new ShippedKnowledge();
    expect(k.unshipped(version('10', 'a')).map((x) => x.id)).toEqual(['a']);
    k.advance(10n);
    expect(k.unshipped(version('10', 'a'))).toEqual([]);
    expect(k.shippedOf(version('10', 'a'))).toEqual(['a']);
    k.add(version('12', 'b', 'c'), ['b']);
    expect(k.unshipped(version('12', 'b', 'c')).map((x) => x.id)).toEqual(['c']);
    expect(k.shippedOf(version('12', 'b', 'c'))).toEqual(['b']);
    // A version string that does not compare is never covered.
    expect(k.unshipped({ ...version('x', 'a') }).map((x) => x.id)).toEqual(['a']);
  });

  it('a request edited after its records went carries them along as sent; a cursor never moves back', () => {
    const k = new ShippedKnowledge();
    k.advance(20n);
    k.saw(version('25', 'a', 'b', 'c'), version('20', 'a', 'b'));
    expect(k.unshipped(version('25', 'a', 'b', 'c')).map((x) => x.id)).toEqual(['c']);
    // A previous version whose records the cache let go of: its last record's id stands for them.
    k.saw({ ...version('26', 'f', 'g', 'h'), id: 'r2' }, { id: 'r2', resourceVersion: '19', auditShippedUpTo: 'g' });
    expect(k.unshipped({ ...version('26', 'f', 'g', 'h'), id: 'r2' }).map((x) => x.id)).toEqual(['h']);
    // The previous version was not covered: nothing is learned from it.
    k.saw(version('40', 'd', 'e'), version('30', 'd'));
    expect(k.unshipped(version('40', 'd', 'e')).map((x) => x.id)).toEqual(['d', 'e']);
    k.advance(5n);
    expect(k.through).toBe(20n);
  });

  it('forgets sent ids once the cursor covers their request', () => {
    const k = new ShippedKnowledge();
    k.add(version('12', 'b'), ['b']);
    k.saw(version('15', 'b', 'c'));
    k.advance(14n);
    // Still above the cursor (15): the id is still needed.
    expect(k.shippedOf(version('15', 'b', 'c'))).toEqual(['b']);
    k.advance(15n);
    k.advance(16n);
    // Covered: everything counts as sent, whatever the map held.
    expect(k.shippedOf(version('15', 'b', 'c'))).toEqual(['b', 'c']);
    expect(k.shippedOf(version('17', 'b', 'c'))).toEqual([]);
  });
});
