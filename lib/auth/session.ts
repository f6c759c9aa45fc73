import type { NextApiRequest } from 'next';
import type { Session } from 'next-auth';
import { getToken } from 'next-auth/jwt';
import { cookies } from 'next/headers';
import { cache } from 'react';
import { log } from '../log';
import { getRuntime } from '../runtime';
import { SessionEndedError } from './options';
import { type User, isApprover } from './roles';
import { getAuth } from './runtime';

/**
 * This request's session, read as next-auth's session endpoint reads it: the cookie (and its
 * chunks) decrypted and its expiry checked by next-auth's own getToken, with the codec next-auth
 * is given (session-cookie-codec.ts), then the rules its jwt and session callbacks apply
 * (lifetime, offboarding, the groups' age). Not getServerSession: in a page or a route handler
 * that runs the whole session endpoint (its options, a CSRF token, the callback URL) and then
 * encrypts a renewed cookie for a response it does not have, and throws it away: a third of
 * next-auth's cost on every call for nothing. What it answered is unchanged, failures included:
 * a session that may not go on, or cannot be checked, is no session.
 */
async function readSession(): Promise<Session | null> {
  const { options, rules } = getAuth();
  const jar = await cookies();
  // The request as getServerSession hands it to next-auth: the cookies, and no Authorization
  // header (getToken would take a bearer token from it; the session endpoint does not).
  const req = { cookies: Object.fromEntries(jar.getAll().map((c) => [c.name, c.value])), headers: {} } satisfies Pick<NextApiRequest, 'cookies' | 'headers'>;
  const token = await getToken({ req: req as NextApiRequest, secret: options.secret, secureCookie: options.useSecureCookies === true, decode: options.jwt?.decode });
  if (!token) return null;
  try {
    return rules.view({ user: {}, expires: '' }, await rules.goesOn(token));
  } catch (err) {
    if (err instanceof SessionEndedError) log('info', 'auth: a session ended', { why: err.message });
    else log('error', 'auth: JWT_SESSION_ERROR', { error: err instanceof Error ? err.message : String(err) });
    return null;
  }
}

/**
 * The signed-in user, or null. Approver rights are worked out on every request from config, so a
 * change of the approver list applies without anyone signing in again. Cached per request: the
 * layout and the page both ask, and the session cookie is decrypted once.
 */
export const currentUser = cache(async (): Promise<User | null> => {
  const session = await readSession();
  const email = session?.user?.email;
  if (!email) return null;
  const groups = session.groups ?? [];
  const { config } = getRuntime();
  const user: User = { email, name: session.user?.name ?? undefined, groups, approver: isApprover(config.approvals.approvers, email, groups) };
  if (session.groupsExpired) user.groupsExpired = true;
  if (session.manager) user.manager = session.manager;
  return user;
});
