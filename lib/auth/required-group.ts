import { log } from '../log';
import { type OffboardDeps, offboard } from '../portal/offboarding';

/**
 * `auth.oidc.requiredGroup`: a person who signs in without the group has lost the right to keys
 * (left the team, the company), so everything they hold ends through the offboarding path, the
 * same one as the webhook and the approvers' "revoke all". Recorded as decided by `keyportal`, as
 * the loop's own revocations are.
 */
export async function revokeForMissingGroup(deps: OffboardDeps, email: string, group: string): Promise<void> {
  const result = await offboard(deps, { email, reason: `You are no longer in the group ${group}, which keys require.`, decidedBy: 'keyportal', now: () => new Date() });
  if (result.changed) log('info', 'auth: signed in without the required group; keys revoked', { revoked: result.revoked.length, closed: result.closed.length, group });
}
