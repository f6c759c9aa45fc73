'use client';

import { useState } from 'react';

/**
 * Signs out with next-auth's own two requests (a CSRF token, then the POST), without
 * next-auth/react: that module put 12 kB gzip of client JS on every page for this one button.
 */
export function SignOutButton() {
  const [busy, setBusy] = useState(false);
  async function signOut() {
    setBusy(true);
    try {
      const { csrfToken } = (await (await fetch('/api/auth/csrf', { cache: 'no-store' })).json()) as { csrfToken?: string };
      const res = await fetch('/api/auth/signout', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrfToken: csrfToken ?? '', callbackUrl: '/', json: 'true' }),
      });
      const { url } = (await res.json()) as { url?: string };
      // Only ever a page of this portal, whatever the answer says.
      window.location.href = url && new URL(url, window.location.href).origin === window.location.origin ? url : '/';
    } catch {
      setBusy(false);
    }
  }
  return (
    <button type="button" disabled={busy} onClick={() => void signOut()} className="rounded-md px-2 py-1 text-sm text-slate-700 underline-offset-2 hover:underline disabled:opacity-60">
      Sign out
    </button>
  );
}
