import { z } from 'zod';
import { byName } from './errors';
import { STATES, type State } from './state-names';

export { QUEUE_ORDER, STATES, type State } from './state-names';

export const stateSchema = z.enum(STATES);

/**
 * The legal moves, as one table (DESIGN.md "States"). Code that changes a state asks
 * `assertTransition` first; `kubectl` can still write anything, which the loop then reads as
 * what an admin meant.
 */
const TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  pending: ['approved', 'denied', 'in-review'],
  'in-review': ['approved', 'denied'],
  approved: ['issued', 'failed', 'denied'],
  issued: ['revoked', 'expired'],
  failed: ['approved'],
  denied: [],
  revoked: [],
  expired: [],
};

/**
 * The label edits an administrator may make with `kubectl label … keyportal.dev/state=…`, from
 * the state the loop last accepted (`keyportal.dev/observed`). A subset of TRANSITIONS: the
 * moves a person decides. The loop's own moves (a plugin's verdict, a mint, an expiry) are not
 * for a label edit: `approved → issued` by hand would claim a key nobody minted, and
 * `issued → expired` would tell the requester a lie. `pending` belongs to the plugin chain, but
 * stopping it (`denied`) can mint nothing, so it is allowed. Anything else is put back.
 */
const LABEL_EDITS: Readonly<Record<State, readonly State[]>> = {
  pending: ['denied'],
  'in-review': ['approved', 'denied'],
  approved: ['denied'],
  issued: ['revoked'],
  failed: ['approved'],
  denied: [],
  revoked: [],
  expired: [],
};

/** Whether an administrator's label edit from `from` to `to` stands (the loop then acts on it). */
export function canEditLabel(from: State, to: State): boolean {
  return LABEL_EDITS[from].includes(to);
}

/** The label edits open from a state, for the message that refuses any other. */
export function labelEditsFrom(from: State): readonly State[] {
  return LABEL_EDITS[from];
}

/** States in which a request still counts: a second request for the same model is a duplicate. */
export const LIVE_STATES: readonly State[] = ['pending', 'in-review', 'approved', 'issued'];

export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';
  static override [Symbol.hasInstance](value: unknown): boolean {
    return byName(value, 'IllegalTransitionError');
  }
  constructor(
    readonly from: State,
    readonly to: State,
  ) {
    super(
      `a request cannot go from "${from}" to "${to}"; from "${from}" it can go to ${
        TRANSITIONS[from].length ? TRANSITIONS[from].map((s) => `"${s}"`).join(', ') : 'nothing (it is final)'
      }`,
    );
  }
}

export function canTransition(from: State, to: State): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(from: State, to: State): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
}

export function isLive(state: State): boolean {
  return LIVE_STATES.includes(state);
}
