import { PLUGINS } from '@/plugins';
import { STATES, type State } from '../domain/states';
import { GatewayAuthError, GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError } from '../gateway/types';

/**
 * Every label value Keyportal's metrics can carry comes from one of the closed sets below, so a
 * series can never hold an email, a request id, a key or a message, and the number of series
 * stays fixed whatever users type. Mapping functions never pass their input through: anything
 * they do not recognise becomes `other`.
 */

/** Who decided, as a category: a person, a system, or the built-in plugin by its own name. */
export const DECIDER_CATEGORIES = ['approver', 'webhook', 'kubectl', 'catalog', 'duplicate', 'keyportal', 'default', 'other'] as const;
export type DeciderCategory = (typeof DECIDER_CATEGORIES)[number];
export type DeciderLabel = DeciderCategory | keyof typeof PLUGINS;

export const DECISION_OUTCOMES = ['approve', 'deny', 'review', 'revoke'] as const;
export type DecisionOutcome = (typeof DECISION_OUTCOMES)[number];

/** What the gateway sweep did with the orphans it found (config `loop.orphans`). */
export const SWEEP_ACTIONS = ['deleted', 'reported'] as const;

export const GATEWAY_OPERATIONS = ['generate', 'info', 'delete', 'list', 'models', 'health', 'update', 'spend'] as const;
export type GatewayOperation = (typeof GATEWAY_OPERATIONS)[number];

/**
 * `ok`; `not_found` (info: the gateway has no such key, an answer rather than a failure);
 * `exists` (generate: the alias is taken, which a retry after a crash expects); `auth` (the
 * master key was refused); `refused` (another 4xx: final); `unavailable` (network, timeout, 5xx,
 * 429: retried); `error` (anything else, a bug).
 */
export const GATEWAY_OUTCOMES = ['ok', 'not_found', 'exists', 'auth', 'refused', 'unavailable', 'error'] as const;
export type GatewayOutcome = (typeof GATEWAY_OUTCOMES)[number];

export const MAIL_OUTCOMES = ['ok', 'error'] as const;

/** The Slack Web API methods Keyportal calls. */
export const CHAT_METHODS = ['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'views.open', 'users.info', 'users.lookupByEmail', 'usergroups.users.list', 'conversations.open', 'conversations.history', 'conversations.list'] as const;
export type ChatMethod = (typeof CHAT_METHODS)[number];
/** `ratelimited` (429 or paced here), `unavailable` (network, 5xx, transient ok:false), `auth` (the token), `refused` (another ok:false). */
export const CHAT_OUTCOMES = ['ok', 'ratelimited', 'unavailable', 'auth', 'refused'] as const;
export type ChatOutcome = (typeof CHAT_OUTCOMES)[number];
export type MailOutcome = (typeof MAIL_OUTCOMES)[number];

export const STATE_LABELS: readonly State[] = STATES;

/** Fixed words the loop and the portal record as `decided-by` (lib/loop/reconciler.ts). */
const FIXED_DECIDERS: ReadonlySet<string> = new Set(['kubectl', 'catalog', 'duplicate', 'keyportal', 'default']);

/**
 * The stored `decided-by` value as a label: `plugin:<name>` is the built-in plugin's name,
 * `user:<email>` an approver in the portal, `webhook:<caller>` the approval webhook; the loop's
 * own words stay as they are. Caller names and emails are dropped, never shortened into the label.
 */
export function deciderLabel(decidedBy: string | undefined): DeciderLabel {
  if (!decidedBy) return 'other';
  if (FIXED_DECIDERS.has(decidedBy)) return decidedBy as DeciderCategory;
  const colon = decidedBy.indexOf(':');
  const kind = colon < 0 ? decidedBy : decidedBy.slice(0, colon);
  const rest = colon < 0 ? '' : decidedBy.slice(colon + 1);
  if (kind === 'user' && rest) return 'approver';
  if (kind === 'webhook' && rest) return 'webhook';
  // Only names the plugin registry defines, so a hand-written `plugin:<anything>` stays `other`.
  if (kind === 'plugin' && Object.hasOwn(PLUGINS, rest)) return rest as keyof typeof PLUGINS;
  return 'other';
}

/** Every value deciderLabel can return. */
export function deciderLabels(): string[] {
  return [...DECIDER_CATEGORIES, ...Object.keys(PLUGINS)];
}

/** How a failed gateway call ended, from what it threw (a call that returns is `ok` or `not_found`). */
export function gatewayOutcome(err: unknown): Exclude<GatewayOutcome, 'ok' | 'not_found'> {
  if (err instanceof KeyAlreadyExistsError) return 'exists';
  if (err instanceof GatewayAuthError) return 'auth';
  if (err instanceof GatewayUnavailableError) return 'unavailable';
  if (err instanceof GatewayRefusedError) return 'refused';
  return 'error';
}

/** Every label name and the values it may take: what the unit tests hold each series to. */
export const LABEL_VALUES: Readonly<Record<string, readonly string[]>> = {
  state: STATE_LABELS,
  decider: deciderLabels(),
  outcome: [...new Set<string>([...DECISION_OUTCOMES, ...GATEWAY_OUTCOMES, ...MAIL_OUTCOMES, ...CHAT_OUTCOMES])],
  operation: GATEWAY_OPERATIONS,
  method: CHAT_METHODS,
  action: SWEEP_ACTIONS,
};
