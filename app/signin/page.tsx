import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { getAuth } from '@/lib/auth/runtime';
import { currentUser } from '@/lib/auth/session';
import { localPath } from '@/lib/http/local-path';
import { SignInForm } from './sign-in-form';

export const metadata: Metadata = { title: 'Sign in' };
export const dynamic = 'force-dynamic';

const ERRORS: Record<string, string> = {
  CredentialsSignin: 'That is not an email address we can sign in.',
  AccessDenied: 'Your identity provider did not confirm an email address for you.',
  OAuthSignin: 'The identity provider could not be reached. Try again in a moment.',
  OAuthCallback: 'The identity provider answered something we could not use. Try again.',
  Offboarded: 'Your access to API keys was withdrawn. If that is a mistake, ask an approver to let you back in.',
  RequiredGroup: 'You are not in the group that API keys require, so your keys were revoked. Ask your administrator if that is a mistake.',
  GroupsClaimMissing:
    'Your identity provider did not say which groups you are in, so we cannot tell whether you may have keys. Ask your administrator to send the groups claim (Azure AD: use group filtering or app roles when a user is in more than 200 groups).',
};

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; error?: string }> }) {
  const { callbackUrl, error } = await searchParams;
  // Only same-site paths: a sign-in link must not bounce users to someone else's site.
  const next = localPath(callbackUrl);
  if (await currentUser()) redirect(next);
  const { settings } = getAuth();
  return (
    <main className="mx-auto max-w-md px-4 py-12">
      <h1 className="text-2xl font-semibold tracking-tight">Sign in</h1>
      {error && (
        <p role="alert" className="mt-4 rounded-md bg-rose-50 p-3 text-sm text-rose-900">
          {ERRORS[error] ?? 'Sign-in failed. Try again.'}
        </p>
      )}
      <SignInForm callbackUrl={next} oidc={settings.oidc ? { name: settings.oidc.name } : undefined} devSignIn={settings.devSignIn} />
    </main>
  );
}
