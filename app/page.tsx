import { getRuntime } from '@/lib/runtime';

export const dynamic = 'force-dynamic';

export default function HomePage() {
  const { config } = getRuntime();
  const models = [...config.models].sort((a, b) => Number(b.featured) - Number(a.featured));
  return (
    <main className="mx-auto max-w-5xl px-4 py-10">
      <h1 className="text-3xl font-semibold tracking-tight">{config.portal.title}</h1>
      <p className="mt-2 text-slate-600 dark:text-slate-400">Pick a model and request an API key for it.</p>
      <ul className="mt-8 grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
        {models.map((m) => (
          <li key={m.id} className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
            <h2 className="font-medium">{m.title}</h2>
            <p className="mt-1 font-mono text-xs text-slate-500">{m.id}</p>
            <p className="mt-2 text-sm text-slate-700 dark:text-slate-300">{m.description}</p>
          </li>
        ))}
      </ul>
    </main>
  );
}
