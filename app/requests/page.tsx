import type { Metadata } from 'next';
import { requireUser } from '@/lib/http/pages';
import { listOwn } from '@/lib/portal/requests';
import { getRuntime } from '@/lib/runtime';
import { PAGE_SIZE } from '@/lib/validations/requests';
import { MyRequests } from './my-requests';

export const metadata: Metadata = { title: 'My requests' };
export const dynamic = 'force-dynamic';

export default async function MyRequestsPage() {
  const user = await requireUser('/requests');
  const { config, store } = getRuntime();
  const first = await listOwn({ store, config }, user, { limit: PAGE_SIZE });
  return (
    <main className="mx-auto max-w-5xl px-4 py-8">
      <h1 className="text-2xl font-semibold tracking-tight">My requests</h1>
      <MyRequests initial={first} pageSize={PAGE_SIZE} />
    </main>
  );
}
