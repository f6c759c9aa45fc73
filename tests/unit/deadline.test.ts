import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { deadline } from '@/lib/io/deadline';

describe('a call\'s deadline', () => {
  it('aborts when its time is up, saying so', async () => {
    const d = deadline(20, new AbortController().signal);
    await new Promise((resolve) => d.signal.addEventListener('abort', resolve, { once: true }));
    expect(d.timedOut).toBe(true);
    expect((d.signal.reason as Error).name).toBe('TimeoutError');
    d.release();
  });

  it('aborts with its caller, with the caller\'s reason, and is then not a timeout', () => {
    const parent = new AbortController();
    const d = deadline(60_000, parent.signal);
    parent.abort(new Error('stopping'));
    expect(d.signal.aborted).toBe(true);
    expect((d.signal.reason as Error).message).toBe('stopping');
    expect(d.timedOut).toBe(false);
    d.release();
    expect(deadline(60_000, parent.signal).signal.aborted).toBe(true);
  });

  it('leaves nothing on a long-lived caller\'s signal once released, however many calls it made', () => {
    const { signal } = new AbortController();
    for (let i = 0; i < 1000; i++) deadline(60_000, signal).release();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});
