import type { Metadata } from 'next';
import { notFound } from 'next/navigation';
import { requireUser } from '@/lib/http/pages';
import { readOutbox } from '@/lib/mail/outbox-reader';
import { getRuntime } from '@/lib/runtime';
import { Time } from '../_components/time';

export const metadata: Metadata = { title: 'Outbox' };
export const dynamic = 'force-dynamic';

export default async function OutboxPage() {
  const user = await requireUser('/outbox');
  const { config } = getRuntime();
  if (!config.mail.outbox) notFound();
  const messages = await readOutbox(config.mail.outbox, user.email);
  return (
    <main className="mx-auto max-w-3xl px-4 py-8">
      <h1 className="text-2xl font-semibold tracking-tight">Outbox</h1>
      <p className="mt-2 text-slate-700">
        With no mail server configured, Keyportal writes each email here instead of sending it. You see the messages addressed to {user.email}.
      </p>
      {messages.length === 0 ? (
        <p className="mt-6 text-slate-700">No messages for you yet.</p>
      ) : (
        <ul className="mt-6 space-y-4">
          {messages.map((m) => (
            <li key={m.file} className="rounded-lg border border-slate-200 bg-white p-4" data-testid="outbox-message">
              <h2 className="font-semibold">{m.subject}</h2>
              <p className="mt-1 text-sm text-slate-600">
                To {m.to.join(', ')}
                {m.date && (
                  <>
                    {' '}
                    · <Time iso={m.date} />
                  </>
                )}
              </p>
              <pre className="mt-3 whitespace-pre-wrap break-words font-sans text-sm text-slate-800">{m.text}</pre>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
