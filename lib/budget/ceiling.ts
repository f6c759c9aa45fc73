import { type Policy, policyFor } from '../approval/policy';
import type { Config } from '../config';
import { LIFECYCLE_DEFAULTS } from '../config/lifecycle-schema';
import type { KeyRequest } from '../domain/key-request';
import type { LifecycleConfig } from '../config/lifecycle-schema';
import type { ModelConfig } from '../config/schema';

/**
 * The most a key of this model may have as its budget (USD), top-ups included, and what a
 * renewal may be sized to: the tier's `maxBudget`, else `lifecycle.topUp.ceilingFactor` times the
 * model's own `max_budget`. Undefined for a model without a budget: nothing to top up.
 */
export function budgetCeiling(model: Pick<ModelConfig, 'limits'> | undefined, policy: Pick<Policy, 'maxBudget'> | undefined, lifecycle: LifecycleConfig): number | undefined {
  if (policy?.maxBudget !== undefined) return policy.maxBudget;
  const base = model?.limits.max_budget;
  return base === undefined ? undefined : round2(base * lifecycle.topUp.ceilingFactor);
}

/** The ceiling for a request's model from the whole configuration (its catalog entry, its policy, lifecycle). */
export function ceilingFor(config: Pick<Config, 'models' | 'approvals'> & Partial<Pick<Config, 'lifecycle'>>, r: Pick<KeyRequest, 'model'>): number | undefined {
  const model = config.models.find((m) => m.id === r.model);
  return budgetCeiling(model, policyFor(config.approvals, model, r.model), config.lifecycle ?? LIFECYCLE_DEFAULTS);
}

/** Cents: budgets are money, and 0.1 + 0.2 must not reach the gateway as 0.30000000000000004. */
export const round2 = (n: number): number => Math.round(n * 100) / 100;
