import { redirect } from 'next/navigation';
import { currentUser } from '../auth/session';
import type { User } from '../auth/roles';

/** A page for signed-in users: anyone else goes to sign-in and comes back here after. */
export async function requireUser(path: string): Promise<User> {
  const user = await currentUser();
  if (!user) redirect(`/signin?callbackUrl=${encodeURIComponent(path)}`);
  return user;
}
