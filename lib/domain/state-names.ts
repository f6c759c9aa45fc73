/**
 * The state names as plain constants, free of zod, so client components can import them without
 * pulling the validation library into the browser bundle. lib/domain/states.ts re-exports them.
 */

/** Every state a key request can be in; the `keyportal.dev/state` label holds exactly one. */
export const STATES = ['pending', 'in-review', 'approved', 'issued', 'denied', 'failed', 'revoked', 'expired'] as const;

export type State = (typeof STATES)[number];

/** The order approvers see states in: what waits for a person first, what has ended last. */
export const QUEUE_ORDER: readonly State[] = ['in-review', 'pending', 'approved', 'failed', 'issued', 'denied', 'revoked', 'expired'];

/** States from which nothing more happens on the request itself (`failed` can be retried). */
export const FINAL_STATES: readonly State[] = ['denied', 'revoked', 'expired'];
