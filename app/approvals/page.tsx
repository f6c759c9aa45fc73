import type { Metadata } from 'next';
import { requireUser } from '@/lib/http/pages';
import { listQueue } from '@/lib/portal/requests';
import { getRuntime } from '@/lib/runtime';
import { PAGE_SIZE } from '@/lib/validations/requests';
import { listOffboarded } from '@/lib/portal/offboarding';
import { listAwaiting } from '@/lib/portal/awaiting';
import type { Config } from '@/lib/config';
import { ApprovalQueue } from './approval-queue';
import { AwaitingReview } from './awaiting-review';
import type { TierLimits } from './decision-dialog';
import { OffboardedPeople } from './offboarded-people';

export const metadata: Metadata = { title: 'Approvals' };
export const dynamic = 'force-dynamic';

/** What "approve with changes" may lower, per model. */
const tierLimits = (config: Config): TierLimits =>
  Object.fromEntries(config.models.map((m) => [m.id, { duration: m.limits.duration, max_budget: m.limits.max_budget, rpm_limit: m.limits.rpm_limit, tpm_limit: m.limits.tpm_limit }]));

export default async function ApprovalsPage() {
  const user = await requireUser('/approvals');
  const { config, store, people, gatewayStatus, spendFigures } = getRuntime();
  // Managers and delegates who are no approvers see what waits for them, and only that.
  const awaiting = await listAwaiting({ store, people, config }, user, spendFigures);
  if (!user.approver && awaiting.total > 0) {
    return (
      <main className="mx-auto max-w-6xl px-4 py-8">
        <h1 className="text-2xl font-semibold tracking-tight">Approvals</h1>
        <p className="mt-2 text-slate-700">These requests wait for you: as the requester&apos;s manager, or as someone&apos;s delegate.</p>
        <AwaitingReview initial={awaiting} limits={tierLimits(config)} />
      </main>
    );
  }
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
  const gateway = await gatewayStatus.current();
  // One page, not the namespace: the browser asks for the others as the approver moves.
  const first = await listQueue({ store, config }, user, { limit: PAGE_SIZE });
  const offboarded = await listOffboarded({ store, people, config }, user);
  return (
    <main className="mx-auto max-w-6xl px-4 py-8">
      <h1 className="text-2xl font-semibold tracking-tight">Approvals</h1>
      <p className="mt-2 text-slate-700">Requests waiting for a person come first. Every action asks you to confirm.</p>
      {(gateway.missingModels.length > 0 || gateway.problems.length > 0) && (
        <div role="status" data-testid="gateway-problems" className="mt-4 rounded-md bg-amber-50 p-3 text-sm text-amber-950">
          {gateway.missingModels.length > 0 && <p>The gateway does not serve these catalog models, so keys for them cannot work: {gateway.missingModels.join(', ')}.</p>}
          {gateway.problems.map((p) => (
            <p key={p}>Gateway: {p}</p>
          ))}
        </div>
      )}
      <AwaitingReview initial={awaiting} limits={tierLimits(config)} />
      <h2 className="mt-10 text-lg font-semibold">Every request</h2>
      <ApprovalQueue initial={first} pageSize={PAGE_SIZE} models={config.models.map((m) => ({ id: m.id, title: m.title }))} limits={tierLimits(config)} />
      <OffboardedPeople initial={offboarded} />
    </main>
  );
}
