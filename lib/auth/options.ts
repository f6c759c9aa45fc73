import type { NextAuthOptions, Session } from 'next-auth';
import type { JWT } from 'next-auth/jwt';
import CredentialsProvider from 'next-auth/providers/credentials';
import { z } from 'zod';
import type { Config } from '../config';
import { emailSchema, normalizeEmail } from '../domain/key-request';
import { log } from '../log';
import { sessionCookie } from './session-cookie-codec';
import type { AuthSettings } from './settings';

declare module 'next-auth/jwt' {
  interface JWT {
    groups?: string[];
    /** When the groups were read from the identity provider (ms since the epoch). */
    groupsAt?: number;
    /** When the person signed in (ms since the epoch): the session ends a fixed time after, however often it is used. */
    signedInAt?: number;
    /** The person's manager, from auth.oidc.managerClaim at sign-in. */
    manager?: string;
  }
}

declare module 'next-auth' {
  interface Session {
    /** The user's OIDC groups, for approver rights; the user may see their own groups. */
    groups?: string[];
    /** The groups were dropped for age: sign in again to use them. */
    groupsExpired?: boolean;
    /** The person's manager, from auth.oidc.managerClaim at sign-in. */
    manager?: string;
  }
}

const devCredentials = z.object({ email: emailSchema });
const groupsSchema = z.array(z.string()).catch([]);

/**
 * Why a sign-in was refused, as the `error` the sign-in page reads (app/signin/page.tsx words it).
 * A signIn callback that returns a URL sends the browser there instead of next-auth's generic page.
 */
export const SIGN_IN_REFUSED = {
  offboarded: '/signin?error=Offboarded',
  requiredGroup: '/signin?error=RequiredGroup',
  groupsClaimMissing: '/signin?error=GroupsClaimMissing',
} as const;

/** A session that may not go on: the person was offboarded, or it reached its absolute lifetime. next-auth then clears the cookie. */
export class SessionEndedError extends Error {
  override readonly name = 'SessionEndedError';
}

/** The id-token claims we read; everything else in the profile is ignored. */
const oidcProfile = z.looseObject({
  sub: z.string(),
  email: z.string().optional(),
  email_verified: z.union([z.boolean(), z.string()]).optional(),
  name: z.string().optional(),
});

/** What sign-in does beyond next-auth, injected so options stay free of the store. */
export interface AuthHooks {
  /** Someone signed in without `auth.oidc.requiredGroup`: their keys are revoked before the sign-in is refused. */
  missingRequiredGroup?: (email: string, group: string) => Promise<void>;
  /**
   * This person's offboarding, if any: whether it stands (not let back in) and when it was made
   * (ms). Checked at sign-in and on every use of a session: a standing one refuses both, and a
   * session signed in before any offboarding never comes back, even once the person is let back in.
   */
  offboarding?: (email: string) => Promise<{ standing: boolean; at: number } | undefined>;
}

/**
 * What every use of a session checks, and what a session shows: next-auth's jwt and session
 * callbacks below, and the portal's own read of a session (session.ts), are these two.
 */
export interface SessionRules {
  /** The token if its session may go on; else throws SessionEndedError. */
  goesOn(token: JWT): Promise<JWT>;
  /** The session a token shows (its groups only while fresh). */
  view(session: Session, token: JWT): Session;
}

/** This person's offboarding, if any, asked by their normalized address (sign-in and every use of a session). */
const offboardingOf = async (hooks: AuthHooks, email: string) => (hooks.offboarding ? hooks.offboarding(normalizeEmail(email)) : undefined);

export function sessionRules(config: Config, auth: AuthSettings, hooks: AuthHooks = {}): SessionRules {
  const groupsMaxAgeMs = (auth.oidc?.groupsMaxAgeSeconds ?? 900) * 1000;
  const sessionMaxAgeMs = config.auth.sessionMaxAgeHours * 3_600_000;
  return {
    async goesOn(token) {
      // Every use of a session: a fixed lifetime from sign-in (sessions from before it was
      // recorded count from their groups' time), and nobody who left keeps one.
      const since = token.signedInAt ?? token.groupsAt;
      if (typeof since !== 'number' || Date.now() - since > sessionMaxAgeMs) throw new SessionEndedError('the session reached its lifetime (auth.sessionMaxAgeHours); sign in again');
      const offboarding = token.email ? await offboardingOf(hooks, token.email) : undefined;
      // Offboarding times are recorded to the second: one in the second of the sign-in counts
      // as after it, since ending a session wrongly costs a sign-in and keeping one costs trust.
      if (offboarding && (offboarding.standing || offboarding.at >= Math.floor(since / 1000) * 1000)) throw new SessionEndedError('the person was offboarded');
      return token;
    },
    view(session, token) {
      session.user = { email: token.email ?? null, name: token.name ?? null };
      if (token.manager) session.manager = token.manager;
      // Groups are as fresh as the sign-in: past their age they count for nothing until the
      // user signs in again, so a removal from the approver group takes effect within it.
      const fresh = typeof token.groupsAt === 'number' && Date.now() - token.groupsAt < groupsMaxAgeMs;
      session.groups = fresh ? (token.groups ?? []) : [];
      session.groupsExpired = !fresh && (token.groups?.length ?? 0) > 0;
      return session;
    },
  };
}

/** All next-auth options in one place; pages and handlers only ask `currentUser()`. */
export function buildAuthOptions(config: Config, auth: AuthSettings, hooks: AuthHooks = {}, rules: SessionRules = sessionRules(config, auth, hooks)): NextAuthOptions {
  const providers: NextAuthOptions['providers'] = [];
  if (auth.oidc) {
    const { issuer, clientId, clientSecret, name, groupsClaim, trustUnverifiedEmail, managerClaim } = auth.oidc;
    providers.push({
      id: 'oidc',
      name,
      type: 'oauth',
      wellKnown: `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
      clientId,
      clientSecret,
      idToken: true,
      checks: ['pkce', 'state'],
      authorization: { params: { scope: 'openid email profile' } },
      profile(raw: unknown) {
        const p = oidcProfile.parse(raw);
        const groups = groupsSchema.parse((raw as Record<string, unknown>)[groupsClaim]);
        // The requester's address comes only from the identity provider, only when the provider
        // says it verified it (or the deployment said, knowingly, that it never says), and only
        // when it is an address at all.
        const verified = p.email_verified === true || p.email_verified === 'true' || (trustUnverifiedEmail && p.email_verified === undefined);
        const email = p.email && verified ? normalizeEmail(p.email) : undefined;
        // Whether the provider sent the claim at all: Azure AD leaves it out past 200 groups (the
        // "group overage"), and a missing claim says nothing about membership.
        const groupsClaimed = Array.isArray((raw as Record<string, unknown>)[groupsClaim]);
        // A manager claim that is no address is no manager: the policy then says nobody is on record.
        const claimedManager = managerClaim ? emailSchema.safeParse((raw as Record<string, unknown>)[managerClaim]) : undefined;
        const manager = claimedManager?.success ? normalizeEmail(claimedManager.data) : undefined;
        return { id: p.sub, email: email && emailSchema.safeParse(email).success ? email : null, name: p.name ?? null, groups, groupsClaimed, ...(manager ? { manager } : {}) };
      },
    });
  }
  if (auth.devSignIn) {
    providers.push(
      CredentialsProvider({
        id: 'dev',
        name: 'Development sign-in',
        credentials: { email: { label: 'Email', type: 'email' } },
        authorize(credentials) {
          const parsed = devCredentials.safeParse(credentials);
          if (!parsed.success) return null;
          const email = normalizeEmail(parsed.data.email);
          return { id: email, email };
        },
      }),
    );
  }
  return {
    secret: auth.secret,
    providers,
    // The cookie lasts no longer than the session may (the jwt callback holds the absolute bound).
    session: { strategy: 'jwt', maxAge: config.auth.sessionMaxAgeHours * 3600 },
    // next-auth's cookie format, its key derived once (session-cookie-codec.ts).
    jwt: sessionCookie,
    pages: { signIn: '/signin', error: '/signin' },
    // An ended session is expected traffic, not an error worth a stack trace.
    logger: {
      error(code, metadata) {
        const err = (metadata as { error?: unknown } | undefined)?.error ?? metadata;
        if (err instanceof Error && err.name === 'SessionEndedError') return log('info', 'auth: a session ended', { why: err.message });
        log('error', `auth: ${code}`, { error: err instanceof Error ? err.message : String(code) });
      },
      warn(code) {
        log('warn', `auth: ${code}`);
      },
      debug() {},
    },
    // Secure cookies follow the public URL's scheme: https in production, http on a laptop.
    useSecureCookies: config.portal.publicUrl.startsWith('https://'),
    callbacks: {
      async signIn({ user, account }) {
        if (!user.email) return false;
        if ((await offboardingOf(hooks, user.email))?.standing) return SIGN_IN_REFUSED.offboarded;
        // Only an OIDC sign-in carries groups; the development sign-in has none to check.
        const required = auth.oidc?.requiredGroup;
        if (required && account?.provider === 'oidc') {
          const claimed = (user as { groupsClaimed?: unknown }).groupsClaimed === true;
          // No claim is no answer: refuse, and take nothing away on a guess.
          if (!claimed) return SIGN_IN_REFUSED.groupsClaimMissing;
          if (!groupsSchema.parse((user as { groups?: unknown }).groups ?? []).includes(required)) {
            await hooks.missingRequiredGroup?.(normalizeEmail(user.email), required);
            return SIGN_IN_REFUSED.requiredGroup;
          }
        }
        return true;
      },
      async jwt({ token, user }) {
        if (user) {
          token.email = user.email ? normalizeEmail(user.email) : null;
          token.groups = groupsSchema.parse((user as { groups?: unknown }).groups ?? []);
          token.groupsAt = Date.now();
          token.signedInAt = Date.now();
          const manager = (user as { manager?: unknown }).manager;
          if (typeof manager === 'string') token.manager = manager;
          return token;
        }
        return rules.goesOn(token);
      },
      session({ session, token }) {
        return rules.view(session, token);
      },
    },
  };
}
