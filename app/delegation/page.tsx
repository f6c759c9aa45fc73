import type { Metadata } from 'next';
import { requireUser } from '@/lib/http/pages';
import { MAX_DELEGATION_DAYS, delegationsOf } from '@/lib/portal/delegation';
import { getRuntime } from '@/lib/runtime';
import { DelegationForm } from './delegation-form';

export const metadata: Metadata = { title: 'Delegation' };
export const dynamic = 'force-dynamic';

export default async function DelegationPage() {
  const user = await requireUser('/delegation');
  const { people } = getRuntime();
  const state = await delegationsOf({ people }, user);
  return (
    <main className="mx-auto max-w-3xl px-4 py-8">
      <h1 className="text-2xl font-semibold tracking-tight">Delegation</h1>
      <p className="mt-2 text-slate-700">
        Away for a while? Name someone who reviews for you until a date (at most {MAX_DELEGATION_DAYS} days). Their reviews are recorded as theirs, made for you. They can never
        review their own requests through you, and cannot pass your delegation on.
      </p>
      <DelegationForm initial={state} />
    </main>
  );
}
