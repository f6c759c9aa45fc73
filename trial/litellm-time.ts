// LiteLLM's time arithmetic, as the test gateway needs it to answer like LiteLLM does.

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * litellm_core_utils/duration_parser.py `duration_in_seconds`: s, m, h, d, w; `mo` is a calendar
 * month counted from now, and only `1mo` is understood (any other count raises, which LiteLLM
 * turns into a 500). Returns undefined for what LiteLLM cannot parse.
 */
export function liteLLMDurationEnd(duration: string, now: Date): Date | undefined {
  const m = /^(\d+)(mo|[smhdw])$/.exec(duration);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2] === 'mo') {
    if (n !== 1) return undefined;
    // The same day next month, clamped to that month's last day (Jan 31 → Feb 28).
    const year = now.getUTCFullYear() + (now.getUTCMonth() === 11 ? 1 : 0);
    const month = (now.getUTCMonth() + 1) % 12;
    const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    return new Date(Date.UTC(year, month, Math.min(now.getUTCDate(), lastDay), now.getUTCHours(), now.getUTCMinutes(), now.getUTCSeconds()));
  }
  return new Date(now.getTime() + n * (UNITS[m[2] as string] as number) * 1000);
}

/**
 * proxy/common_utils/timezone_utils.py `get_budget_reset_time` → `get_next_standardized_reset_time`:
 * budgets reset at standard points, not a duration after creation: `1d` at the next midnight
 * (UTC), `7d`/`1w` on the next Monday, `30d`/`1mo` on the 1st of the next month.
 */
export function liteLLMBudgetResetAt(budgetDuration: string, now: Date): Date | undefined {
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  if (budgetDuration === '1d' || budgetDuration === '24h') return new Date(day.getTime() + 86_400_000);
  if (budgetDuration === '7d' || budgetDuration === '1w') return new Date(day.getTime() + (((8 - day.getUTCDay()) % 7) || 7) * 86_400_000);
  if (budgetDuration === '30d' || budgetDuration === '1mo') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return liteLLMDurationEnd(budgetDuration, now);
}
