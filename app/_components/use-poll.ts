'use client';

import { useEffect, useState } from 'react';
import { readFailure } from './api';

/**
 * Re-fetches `url` every `intervalMs` while the tab is visible and `active` holds, so a status
 * changes on screen within seconds of the loop acting, without a reload. A new `url` (a changed
 * filter, another page) is fetched at once; until it answers, `data` is still the old URL's and
 * `loading` is true. `initial` is the data of the first `url`. `pick` must be a stable
 * (module-level) function.
 */
export function usePoll<T>(
  url: string,
  initial: T,
  pick: (json: unknown) => T | undefined,
  intervalMs = 2000,
  active = true,
): { data: T; error?: string; loading: boolean } {
  const [shown, setShown] = useState({ url, data: initial });
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!active) return;
    let stopped = false;
    const tick = async () => {
      if (document.visibilityState !== 'visible') return;
      try {
        const res = await fetch(url, { cache: 'no-store' });
        if (!res.ok) {
          throw await readFailure(res);
        }
        const next = pick(await res.json());
        if (!stopped && next !== undefined) {
          setShown({ url, data: next });
          setError(undefined);
        }
      } catch (err) {
        if (!stopped) setError(`Live updates paused: ${(err as Error).message}`);
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), intervalMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [url, intervalMs, active, pick]);
  return { data: shown.data, error, loading: shown.url !== url };
}
