import type { Metadata, Viewport } from 'next';
import type { ReactNode } from 'react';
import { isEmbedded } from '@/lib/auth/settings';
import { getAuth } from '@/lib/auth/runtime';
import { currentUser } from '@/lib/auth/session';
import { getRuntime } from '@/lib/runtime';
import { SiteHeader } from './_components/site-header';
import './globals.css';

export const metadata: Metadata = {
  title: { default: 'Keyportal', template: '%s · Keyportal' },
  description: 'Request an API key for an LLM model.',
};

export const viewport: Viewport = { width: 'device-width', initialScale: 1 };

export default async function RootLayout({ children }: { children: ReactNode }) {
  const { config } = getRuntime();
  const user = await currentUser();
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 text-slate-900 antialiased">
        <SiteHeader title={config.portal.title} user={user} embedded={isEmbedded(config)} devSignIn={getAuth().settings.devSignIn} outbox={Boolean(config.mail.outbox)} trial={config.portal.trial} />
        {children}
      </body>
    </html>
  );
}
