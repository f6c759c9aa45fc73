import { currentUser } from '@/lib/auth/session';
import { catalog } from '@/lib/portal/catalog';
import { getRuntime } from '@/lib/runtime';
import { Catalog } from './_components/catalog';

export const dynamic = 'force-dynamic';

export default async function CatalogPage() {
  const { config } = getRuntime();
  const user = await currentUser();
  return (
    <main className="mx-auto max-w-5xl px-4 py-8">
      <h1 className="text-2xl font-semibold tracking-tight sm:text-3xl">Request an API key</h1>
      <p className="mt-2 text-slate-700">Pick a model; most keys are issued within seconds, some wait for a reviewer.</p>
      <Catalog models={catalog(config)} signedIn={Boolean(user)} />
    </main>
  );
}
