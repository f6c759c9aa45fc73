import type { State } from './state-names';

/*
 * What tells a top-up from a key request, free of zod like state-names.ts: the status page's
 * client components ask it (through renewal.ts), and importing top-up.ts pulled the validation
 * library into that page's browser bundle (first-load JS 141 → 305 kB gzip).
 * lib/domain/top-up.ts re-exports both.
 */

/** A top-up in these states is not yet decided and applied: one at a time per key. */
export const OPEN_TOP_UP_STATES: readonly State[] = ['pending', 'in-review', 'approved'];

export const isTopUp = (r: { topsUp?: string }): boolean => r.topsUp !== undefined;
