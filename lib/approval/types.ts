import { z } from 'zod';

import { type Outcome, outcomeSchema } from '../domain/trace';
import type { SpendFigures } from '../budget/spend-figures';

export { OUTCOMES, type Outcome, outcomeSchema } from '../domain/trace';

/** A plugin's answer. Decisions are data, so the chain's trace can be stored and shown. */
export interface Decision {
  outcome: Outcome;
  reason: string;
  /** The requester's manager, when the plugin knows it (the http plugin's `manager`): a policy's `manager` stage asks them. */
  manager?: string;
}

/** What a plugin gets to see of a request. */
export interface PluginRequest {
  id: string;
  email: string;
  model: string;
  /**
   * Set when this request renews an earlier key of the same requester and model that was
   * issued (and may since have expired): the id of that request. A renewal of a key that was
   * revoked meanwhile is not one.
   */
  renews?: string;
  /** Why the requester says they need the key, when they said. */
  justification?: string;
  /** The requester's manager, as the identity provider said at request time. */
  manager?: string;
  /**
   * Set when this request is a top-up of an issued key of the same requester and model: the key's
   * request id, the amount (USD) and, for a temporary one, its end.
   */
  topUp?: { of: string; amount: number; until?: string };
  /** Money, as the gateway reports it (lib/budget/spend-figures.ts); absent when the loop has no figures to give. */
  spend?: SpendFigures;
}

export interface ApprovalPlugin {
  name: string;
  /** What the chain answers for this plugin when it throws or times out. */
  onError: Outcome;
  /** The chain gives up on the plugin after this long. */
  timeoutMs: number;
  decide(request: PluginRequest, signal: AbortSignal): Promise<Decision>;
  /** It reads `request.spend`: the loop asks the gateway for the figures only when some plugin does. */
  wantsSpend?: boolean;
}

/** Options every plugin accepts beside its own. */
export const commonOptionsSchema = z.object({
  onError: outcomeSchema.default('continue'),
  timeoutMs: z.int().positive().max(60_000).default(5_000),
});

/** Environment the plugin factories may read secrets from (never config.yaml). */
export type PluginEnv = Readonly<Record<string, string | undefined>>;

export interface PluginDefinition<S extends z.ZodType> {
  name: string;
  configSchema: S;
  create(config: z.infer<S>, env: PluginEnv): Omit<ApprovalPlugin, 'name' | 'onError' | 'timeoutMs'>;
}

export function definePlugin<S extends z.ZodType>(definition: PluginDefinition<S>): PluginDefinition<S> {
  return definition;
}

/** One `approvals.plugins[]` entry as config.yaml gives it; each plugin parses its own `config`. */
export interface PluginEntry {
  name: string;
  config: Record<string, unknown>;
}
