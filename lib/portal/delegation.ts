import type { User } from '../auth/roles';
import { normalizeEmail, rfc3339 } from '../domain/key-request';
import type { DelegationRecord, PeopleStore } from '../people/types';
import { PortalError, badInput } from './errors';

/**
 * "Review for me until Friday": an approver (or a manager) names a delegate until a date. The
 * delegate reviews what the approver may, with the groups the approver had when delegating,
 * recorded as "delegate for approver". It never chains (lib/approval/policy.ts uses only
 * delegations made to the reviewer), and never lets anyone review their own request.
 */

export interface DelegationDeps {
  people?: PeopleStore;
  clock?: () => Date;
}

/** The longest a delegation may run: a holiday, not a standing arrangement nobody remembers. */
export const MAX_DELEGATION_DAYS = 90;

export interface DelegationState {
  /** The delegation this person made, while it runs. */
  mine?: DelegationRecord;
  /** Delegations to this person that run now. */
  toMe: DelegationRecord[];
}

const peopleOf = (deps: DelegationDeps): PeopleStore => {
  if (!deps.people) throw new PortalError(503, 'unavailable', 'delegations are not available: the portal runs without a people store');
  return deps.people;
};

const running = (d: DelegationRecord | undefined, now: number): d is DelegationRecord => d !== undefined && Date.parse(d.until) > now;

export async function delegationsOf(deps: DelegationDeps, user: User): Promise<DelegationState> {
  const people = peopleOf(deps);
  const now = (deps.clock?.() ?? new Date()).getTime();
  const [mine, toMe] = await Promise.all([people.delegationOf(user.email), people.delegationsTo(user.email)]);
  return { ...(running(mine, now) ? { mine } : {}), toMe: toMe.filter((d) => running(d, now)) };
}

export async function delegate(deps: DelegationDeps, user: User, input: { delegate: string; until: string }): Promise<DelegationRecord> {
  const people = peopleOf(deps);
  const now = deps.clock?.() ?? new Date();
  const to = normalizeEmail(input.delegate);
  if (to === normalizeEmail(user.email)) throw badInput('delegate', 'name someone other than yourself');
  const until = Date.parse(input.until);
  if (until <= now.getTime()) throw badInput('until', `${input.until} is already past: a delegation runs until a date in the future`);
  if (until > now.getTime() + MAX_DELEGATION_DAYS * 86_400_000) throw badInput('until', `a delegation runs at most ${MAX_DELEGATION_DAYS} days; make a new one when it ends`);
  const record: DelegationRecord = { approver: normalizeEmail(user.email), groups: [...user.groups], delegate: to, until: rfc3339(new Date(until)), createdAt: rfc3339(now) };
  await people.setDelegation(record);
  return record;
}

export async function endDelegation(deps: DelegationDeps, user: User): Promise<{ ended: boolean }> {
  return { ended: await peopleOf(deps).endDelegation(user.email) };
}
