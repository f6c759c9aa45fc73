'use client';

import { signIn } from 'next-auth/react';
import { useState } from 'react';

export function SignInForm({ callbackUrl, oidc, devSignIn }: { callbackUrl: string; oidc?: { name: string }; devSignIn: boolean }) {
  const [email, setEmail] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <div className="mt-6 space-y-8">
      {oidc && (
        <button
          type="button"
          onClick={() => void signIn('oidc', { callbackUrl })}
          className="w-full rounded-md bg-slate-900 px-4 py-2.5 text-sm font-medium text-white hover:bg-slate-700"
        >
          Sign in with {oidc.name}
        </button>
      )}
      {devSignIn && (
        <form
          className="rounded-lg border border-amber-300 bg-amber-50 p-4"
          onSubmit={(e) => {
            e.preventDefault();
            setBusy(true);
            void signIn('dev', { email, callbackUrl });
          }}
        >
          <h2 className="text-sm font-semibold text-amber-950">Development sign-in</h2>
          <p className="mt-1 text-sm text-amber-950">No password: for trying Keyportal on a laptop. A real deployment signs in through its identity provider.</p>
          <label htmlFor="dev-email" className="mt-3 block text-sm font-medium text-slate-900">
            Email
          </label>
          <input
            id="dev-email"
            name="email"
            type="email"
            required
            autoComplete="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            className="mt-1 w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm"
          />
          <button type="submit" disabled={busy} className="mt-3 rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-60">
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      )}
    </div>
  );
}
