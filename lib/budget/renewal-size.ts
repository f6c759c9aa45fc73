import type { SpendDay } from '../gateway/types';
import { round2 } from './ceiling';

/** A renewal's proposed budget, and why: the old key's highest period of spend with headroom, within the tier. */
export interface BudgetProposal {
  /** USD; undefined when the model has no budget (nothing to size). */
  maxBudget?: number;
  /** The most the requester may choose (the tier's ceiling), if any. */
  ceiling?: number;
  /** The model's own budget, what a fresh key gets. */
  modelDefault?: number;
  /** The old key's highest spend in one budget period, when the gateway could say. */
  highestPeriod?: number;
  /** One sentence for the requester: what the proposal rests on. */
  basis: string;
}

const DAY_S = 86_400;
const UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: DAY_S, w: 7 * DAY_S, mo: 30 * DAY_S };

/** A budget period in whole days (at least one): `30d`, `1mo` → 30; `24h` → 1. Undefined when it does not parse. */
export function periodDays(duration: string | null | undefined): number | undefined {
  const m = duration ? /^(\d+)(mo|[smhdw])$/.exec(duration) : null;
  if (!m) return undefined;
  return Math.max(1, Math.round((Number(m[1]) * (UNIT_S[m[2] as string] as number)) / DAY_S));
}

/**
 * The old key's spend per budget period, from its daily spend (by its hash), periods counted from
 * the day it was issued: the highest of them, and of the spend the gateway reports for the
 * period running now.
 */
export function highestPeriodSpend(days: readonly SpendDay[], keySha256: string, issuedDay: string, periodLength: number, currentPeriod: number | undefined): number {
  const start = Date.parse(`${issuedDay}T00:00:00Z`);
  const buckets = new Map<number, number>();
  for (const d of days) {
    const spent = d.byKey[keySha256] ?? 0;
    if (spent <= 0) continue;
    const index = Math.max(0, Math.floor((Date.parse(`${d.date}T00:00:00Z`) - start) / (periodLength * DAY_S * 1000)));
    buckets.set(index, (buckets.get(index) ?? 0) + spent);
  }
  return round2(Math.max(0, currentPeriod ?? 0, ...buckets.values()));
}

/**
 * The proposal: the highest period's spend plus `headroomPercent`, rounded up to a whole dollar,
 * at least `minimum`, at most the ceiling. With no spend figures, the model's own budget, saying so.
 */
export function proposeBudget(input: { highestPeriod?: number; headroomPercent: number; minimum: number; ceiling?: number; modelDefault?: number; periodLabel: string }): BudgetProposal {
  const { highestPeriod, headroomPercent, minimum, ceiling, modelDefault } = input;
  const base = { ...(ceiling !== undefined ? { ceiling } : {}), ...(modelDefault !== undefined ? { modelDefault } : {}) };
  if (modelDefault === undefined && ceiling === undefined) return { ...base, basis: 'keys for this model have no budget' };
  if (highestPeriod === undefined) {
    return { ...base, ...(modelDefault !== undefined ? { maxBudget: modelDefault } : {}), basis: 'the old key\'s spend is unknown (the gateway could not say), so the model\'s own budget is proposed' };
  }
  const wanted = Math.max(minimum, Math.ceil(highestPeriod * (1 + headroomPercent / 100)));
  const maxBudget = ceiling !== undefined ? Math.min(wanted, ceiling) : wanted;
  const capped = ceiling !== undefined && wanted > ceiling ? `, capped at the tier's ${ceiling}` : '';
  return { ...base, maxBudget, highestPeriod, basis: `the old key spent at most $${highestPeriod} in a ${input.periodLabel}; with ${headroomPercent}% headroom that is $${maxBudget}${capped}` };
}
