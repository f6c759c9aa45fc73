import type { Metadata } from 'next';
import { requireUser } from '@/lib/http/pages';
import { listQueue } from '@/lib/portal/requests';
import { getRuntime } from '@/lib/runtime';
import { PAGE_SIZE } from '@/lib/validations/requests';
import { ApprovalQueue } from './approval-queue';

export const metadata: Metadata = { title: 'Approvals' };
export const dynamic = 'force-dynamic';

export default async function ApprovalsPage() {
  const user = await requireUser('/approvals');
  if (!user.approver) {
    return (
      <main className="mx-auto max-w-3xl px-4 py-8">
        <h1 className="text-2xl font-semibold tracking-tight">Approvals</h1>
        <p role="alert" className="mt-4 rounded-md bg-rose-50 p-4 text-rose-900" data-testid="not-an-approver">
          {user.groupsExpired ? (
            <>
              Your approver rights come from a group, and groups are read again every few minutes.{' '}
              <a href="/signin?callbackUrl=%2Fapprovals" className="font-medium underline">
                Sign in again
              </a>{' '}
              to use them.
            </>
          ) : (
            <>Only approvers can see the queue. Approvers are named in the portal&apos;s configuration; ask your platform team.</>
          )}
        </p>
      </main>
    );
  }
  const { config, store } = getRuntime();
  // One page, not the namespace: the browser asks for the others as the approver moves.
  const first = await listQueue({ store, config }, user, { limit: PAGE_SIZE });
  return (
    <main className="mx-auto max-w-6xl px-4 py-8">
      <h1 className="text-2xl font-semibold tracking-tight">Approvals</h1>
      <p className="mt-2 text-slate-700">Requests waiting for a person come first. Every action asks you to confirm.</p>
      <ApprovalQueue initial={first} pageSize={PAGE_SIZE} models={config.models.map((m) => ({ id: m.id, title: m.title }))} />
    </main>
  );
}
