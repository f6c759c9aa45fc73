import { getServerSession } from 'next-auth/next';
import { cache } from 'react';
import { getRuntime } from '../runtime';
import { type User, isApprover } from './roles';
import { getAuth } from './runtime';

/**
 * The signed-in user, or null. Approver rights are worked out on every request from config, so a
 * change of the approver list applies without anyone signing in again. Cached per request: the
 * layout and the page both ask, and the session cookie is decrypted once.
 */
export const currentUser = cache(async (): Promise<User | null> => {
  const session = await getServerSession(getAuth().options);
  const email = session?.user?.email;
  if (!email) return null;
  const groups = session.groups ?? [];
  const { config } = getRuntime();
  const user: User = { email, name: session.user?.name ?? undefined, groups, approver: isApprover(config.approvals.approvers, email, groups) };
  if (session.groupsExpired) user.groupsExpired = true;
  if (session.manager) user.manager = session.manager;
  return user;
});
