'use client';

import { useEffect, useState } from 'react';

/**
 * One GET of a portal answer, asked again when `url` or `again` changes (a request's state): the
 * panels beside a request (renewal chain, proposal, top-ups) each need one. Undefined until it
 * answers, and when it fails: a panel then shows what it can without it.
 */
export function useJson<T>(url: string | undefined, again?: unknown): T | undefined {
  const [data, setData] = useState<T>();
  useEffect(() => {
    if (!url) return;
    let stopped = false;
    void fetch(url, { cache: 'no-store' })
      .then((res) => (res.ok ? (res.json() as Promise<T>) : undefined))
      .then((answer) => {
        if (!stopped && answer !== undefined) setData(answer);
      })
      .catch(() => undefined);
    return () => {
      stopped = true;
    };
  }, [url, again]);
  return data;
}
