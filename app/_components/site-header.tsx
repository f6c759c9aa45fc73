import Link from 'next/link';
import type { User } from '@/lib/auth/roles';
import { SignOutButton } from './sign-out-button';

export function SiteHeader({ title, user, embedded, devSignIn, outbox, trial }: { title: string; user: User | null; embedded: boolean; devSignIn: boolean; outbox: boolean; trial: boolean }) {
  const link = 'rounded-md px-2 py-1 text-sm font-medium text-slate-700 hover:bg-slate-100 hover:text-slate-900';
  return (
    <header className="border-b border-slate-200 bg-white">
      {embedded && (
        <p className="bg-amber-100 px-4 py-1.5 text-center text-xs text-amber-950">
          Embedded mode: requests stay on this machine, keys are development keys, mail goes to the outbox
          {devSignIn ? ', and anyone can sign in as any email address' : ''}.
        </p>
      )}
      {trial && (
        <p className="bg-violet-100 px-4 py-1.5 text-center text-xs text-violet-950" data-testid="trial-banner">
          Trial installation: the gateway, the mail relay and the sign-in are stand-ins. Keys from here work with no model, mail goes to a log, and any password signs in.
        </p>
      )}
      {devSignIn && !embedded && (
        <p className="bg-rose-100 px-4 py-1.5 text-center text-xs text-rose-950" data-testid="dev-signin-banner">
          Development sign-in is on: anyone who reaches this portal can sign in as any email address. Not for real users.
        </p>
      )}
      <div className="mx-auto flex max-w-5xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3">
        <Link href="/" className="text-lg font-semibold tracking-tight text-slate-900">
          {title}
        </Link>
        <nav aria-label="Main" className="flex flex-wrap items-center gap-1">
          <Link href="/" className={link}>
            Catalog
          </Link>
          {user && (
            <Link href="/requests" className={link}>
              My requests
            </Link>
          )}
          {user?.approver && (
            <Link href="/approvals" className={link}>
              Approvals
            </Link>
          )}
          {user?.approver && (
            <Link href="/delegation" className={link}>
              Delegation
            </Link>
          )}
          {user && outbox && (
            <Link href="/outbox" className={link}>
              Outbox
            </Link>
          )}
        </nav>
        <div className="ml-auto flex items-center gap-2 text-sm">
          {user ? (
            <>
              <span className="text-slate-700" data-testid="signed-in-as">
                {user.email}
              </span>
              <SignOutButton />
            </>
          ) : (
            <Link href="/signin" className="rounded-md bg-slate-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-slate-700">
              Sign in
            </Link>
          )}
        </div>
      </div>
    </header>
  );
}
