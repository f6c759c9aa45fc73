'use client';

import { useEffect, useState } from 'react';
import { readFailure } from './api';

/** How long a read asks the server to hold its answer for a change (at most MAX_WAIT_SECONDS of lib/validations/requests.ts). */
const WAIT_SECONDS = 25;
/** The pause after an error, or when the server cannot hold reads (it says how long with Retry-After). */
const PAUSE_MS = 2000;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Follows `url` while the tab is visible and `active` holds. Each read sends the tag of what is
 * shown (`If-None-Match`) and asks the server to hold its answer until that changes, up to
 * WAIT_SECONDS (app/api/requests/[id]/route.ts): a decision or a minted key shows the moment the
 * server sees it, and a page where nothing happens costs two reads a minute, not thirty. A hidden
 * tab lets go of its read (a browser has few connections per host). A new `url` (another page of
 * a list) is read at once; until it answers, `data` is still the old URL's and `loading` is true.
 * `initial` is the data of the first `url`. `pick` must be a stable (module-level) function.
 */
export function useFollow<T>(url: string, initial: T, pick: (json: unknown) => T | undefined, active = true): { data: T; error?: string; loading: boolean } {
  const [shown, setShown] = useState({ url, data: initial });
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!active) return;
    const stopped = new AbortController();
    let reading: AbortController | undefined;
    let running = false;
    let etag: string | undefined;
    const follow = async () => {
      while (!stopped.signal.aborted && document.visibilityState === 'visible') {
        const read = (reading = new AbortController());
        const target = new URL(url, window.location.href);
        if (etag) target.searchParams.set('wait', String(WAIT_SECONDS));
        const started = Date.now();
        let pause = 0;
        try {
          const res = await fetch(target, { cache: 'no-store', headers: etag ? { 'if-none-match': etag } : {}, signal: read.signal });
          if (res.status === 304) {
            if (!stopped.signal.aborted) setError(undefined);
            // Refused at once (the server is full or stopping), or an answer that came too soon to be a hold: never a tight loop.
            const retryAfter = Number(res.headers.get('retry-after'));
            if (retryAfter > 0 || Date.now() - started < 1000) pause = Math.max(retryAfter * 1000, PAUSE_MS);
          } else if (!res.ok) {
            throw await readFailure(res);
          } else {
            const next = pick(await res.json());
            // A server that sends no tag cannot hold reads: ask again after a pause, as a poll.
            etag = res.headers.get('etag') ?? undefined;
            if (!etag) pause = PAUSE_MS;
            if (!stopped.signal.aborted && next !== undefined) {
              setShown({ url, data: next });
              setError(undefined);
            }
          }
        } catch (err) {
          if (read.signal.aborted) continue;
          setError(`Live updates paused: ${(err as Error).message}`);
          pause = PAUSE_MS;
        }
        if (pause) await sleep(pause, stopped.signal);
      }
    };
    const start = () => {
      if (running || stopped.signal.aborted) return;
      running = true;
      void follow().finally(() => (running = false));
    };
    const onVisibility = () => (document.visibilityState === 'visible' ? start() : reading?.abort());
    document.addEventListener('visibilitychange', onVisibility);
    start();
    return () => {
      stopped.abort();
      reading?.abort();
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [url, active, pick]);
  return { data: shown.data, error, loading: shown.url !== url };
}
