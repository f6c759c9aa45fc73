'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import type { RequestView } from '@/lib/portal/view';
import { postJson } from './api';

/**
 * POSTs what creates a request beside this one (a renewal, a top-up) and opens the new request's
 * page; meanwhile `busy`, and on a refusal the server's own message, which names the problem.
 */
export function useCreateRequest(): { busy: boolean; problem: string | undefined; create(url: string, body?: unknown): Promise<void> } {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  async function create(url: string, body?: unknown): Promise<void> {
    setBusy(true);
    setProblem(undefined);
    const res = await postJson<{ request: RequestView }>(url, body);
    if (res.ok) return router.push(`/requests/${res.data.request.id}`);
    setBusy(false);
    setProblem(res.message);
  }
  return { busy, problem, create };
}
