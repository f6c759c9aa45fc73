import { z } from 'zod';
import { type KeyRequest, timestampSchema } from './key-request';

/**
 * A top-up: a request of its own for more budget on an issued key (`keyportal.dev/tops-up` names
 * the key's request). It goes through the same chain and policies as a key; "issued" means it was
 * applied at the gateway, "expired" that a temporary one ended and was put back, "revoked" that an
 * approver took it back (also put back).
 */
export const topUpSchema = z.strictObject({
  /** USD added to the key's budget. */
  amount: z.number().positive('expected an amount above 0').max(1_000_000, 'expected an amount of at most 1,000,000'),
  /** A temporary top-up ends here and is put back; a permanent one has none. */
  until: timestampSchema.optional(),
});
export type TopUp = z.infer<typeof topUpSchema>;

/**
 * The key's budget around a top-up, written before the gateway hears of it, so a retry after a
 * crash sets the same absolute budget again instead of adding twice: `from` the budget it had,
 * `to` the budget applied; `back` the budget it is put back to when the top-up ends.
 */
export const budgetMoveSchema = z.strictObject({
  from: z.number().nonnegative(),
  to: z.number().nonnegative(),
  back: z.number().nonnegative().optional(),
});
export type BudgetMove = z.infer<typeof budgetMoveSchema>;

/** States of a top-up not yet applied, denied or failed (a key has at most one at a time), and what tells a top-up apart. */
export { OPEN_TOP_UP_STATES, isTopUp } from './top-up-kind';
/** Whether a top-up holds budget at the gateway right now (applied and not yet put back). */
export const holdsBudget = (r: Pick<KeyRequest, 'state' | 'budgetMove'>): boolean => r.state === 'issued' && r.budgetMove !== undefined && r.budgetMove.back === undefined;

/** USD, as people read it: "$12.50", "$1,200". */
export function usd(n: number): string {
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: Number.isInteger(n) ? 0 : 2, maximumFractionDigits: 2 })}`;
}

/** "a top-up of $20 until 2026-12-31" / "a top-up of $20". */
export function describeTopUp(t: TopUp): string {
  return `a top-up of ${usd(t.amount)}${t.until ? ` until ${t.until.slice(0, 10)}` : ''}`;
}
