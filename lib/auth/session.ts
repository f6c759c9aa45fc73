import { getServerSession } from 'next-auth/next';
import { getRuntime } from '../runtime';
import { type User, isApprover } from './roles';
import { getAuth } from './runtime';

/**
 * The signed-in user, or null. Approver rights are worked out on every request from config, so a
 * change of the approver list applies without anyone signing in again.
 */
export async function currentUser(): Promise<User | null> {
  const session = await getServerSession(getAuth().options);
  const email = session?.user?.email;
  if (!email) return null;
  const groups = session.groups ?? [];
  const { config } = getRuntime();
  return { email, name: session.user?.name ?? undefined, groups, approver: isApprover(config.approvals.approvers, email, groups) };
}
