import type { Metadata } from 'next';
import { notFound } from 'next/navigation';
import { requireUser } from '@/lib/http/pages';
import { PortalError } from '@/lib/portal/errors';
import { getRequest } from '@/lib/portal/requests';
import { getRuntime } from '@/lib/runtime';
import { RequestStatus } from './request-status';

export const metadata: Metadata = { title: 'Request' };
export const dynamic = 'force-dynamic';

export default async function RequestPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const user = await requireUser(`/requests/${id}`);
  const { config, store, archive } = getRuntime();
  let request;
  try {
    request = await getRequest({ store, config, archive }, user, id);
  } catch (err) {
    if (err instanceof PortalError && err.status === 404) notFound();
    if (err instanceof PortalError && err.code === 'archived') {
      return (
        <main className="mx-auto max-w-3xl px-4 py-8">
          <h1 className="text-xl font-semibold">Request archived</h1>
          <p className="mt-2 text-sm text-slate-700" data-testid="archived">{err.message}</p>
        </main>
      );
    }
    throw err;
  }
  const gatewayUrl = config.gateway.publicUrl ?? (config.gateway.type === 'litellm' ? config.gateway.baseUrl : undefined);
  return (
    <main className="mx-auto max-w-3xl px-4 py-8">
      <RequestStatus initial={request} own={request.email === user.email} gatewayUrl={gatewayUrl} />
    </main>
  );
}
