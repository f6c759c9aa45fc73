import { z } from 'zod';

/**
 * What the gateway says a key has used and may use, under our names. Every limit is null when
 * the key has none (LiteLLM sends null, not 0, for "no budget"), so "unlimited" is never shown
 * as "0 of 0".
 */
export interface KeyUsage {
  /** Spend so far in this budget period, in USD. */
  spend: number;
  maxBudget: number | null;
  /** How often the budget resets (`30d`, `1mo`), if it does. */
  budgetDuration: string | null;
  budgetResetAt: string | null;
  rpmLimit: number | null;
  tpmLimit: number | null;
  expiresAt: string | null;
}

/** A timestamp as LiteLLM writes it (Python isoformat, with or without an offset); anything unparseable is treated as absent. */
const instant = z
  .string()
  .nullish()
  .transform((s) => {
    if (!s) return null;
    const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`);
    return Number.isNaN(t) ? null : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
  });
const nullableNumber = z.number().nullish().transform((n) => n ?? null);

/**
 * The `info` object of LiteLLM's `GET /key/info` (the LiteLLM_VerificationToken row without the
 * key): only the fields shown here are read, the rest (metadata, team, aliases) is let through
 * unread. `spend` is a float that LiteLLM defaults to 0.0; a missing one reads as 0.
 */
export const liteLLMKeyInfoSchema = z
  .object({
    spend: z.number().nullish().transform((n) => n ?? 0),
    max_budget: nullableNumber,
    budget_duration: z.string().nullish().transform((s) => s ?? null),
    budget_reset_at: instant,
    rpm_limit: nullableNumber,
    tpm_limit: nullableNumber,
    expires: instant,
  })
  .loose();

export function usageFromLiteLLM(info: z.infer<typeof liteLLMKeyInfoSchema>): KeyUsage {
  return {
    spend: info.spend,
    maxBudget: info.max_budget,
    budgetDuration: info.budget_duration,
    budgetResetAt: info.budget_reset_at,
    rpmLimit: info.rpm_limit,
    tpmLimit: info.tpm_limit,
    expiresAt: info.expires,
  };
}
