import { describe, expect, it } from 'vitest';
import { EventQueue } from '@/lib/loop/event-queue';

// The queue alone: writes are promises the test settles by hand, so every step is observable.

/** A write the test ends when it chooses. */
function gatedWrites() {
  const started: number[] = [];
  const finish = new Map<number, (ok: boolean) => void>();
  const write = (n: number) =>
    new Promise<void>((resolve, reject) => {
      started.push(n);
      finish.set(n, (ok) => (ok ? resolve() : reject(new Error(`write ${n} failed`))));
    });
  const end = async (n: number, ok = true) => {
    const f = finish.get(n);
    if (!f) throw new Error(`write ${n} has not started`);
    f(ok);
    // Let the queue's finally() and the next pump run.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { started, write, end };
}

describe('EventQueue', () => {
  it('keeps at most `writers` writes in flight and starts the rest in the order they came', async () => {
    const { started, write, end } = gatedWrites();
    const q = new EventQueue(write, { capacity: 100, writers: 2, onDrop: () => undefined });
    const done = [1, 2, 3, 4, 5].map((n) => q.push(n));
    expect(started).toEqual([1, 2]);
    expect(q.depth).toBe(3);
    await end(2);
    expect(started).toEqual([1, 2, 3]);
    await end(1, false); // a failed write frees its writer like any other
    expect(started).toEqual([1, 2, 3, 4]);
    await end(3);
    await end(4);
    await end(5);
    await Promise.all(done);
    expect(q.depth).toBe(0);
  });

  it('drops and counts what comes past capacity, and resolves it at once', async () => {
    const { started, write, end } = gatedWrites();
    const dropped: number[] = [];
    const q = new EventQueue(write, { capacity: 2, writers: 1, onDrop: (n) => dropped.push(n) });
    const pushed = [1, 2, 3, 4, 5].map((n) => q.push(n)); // 1 in flight, 2 and 3 wait, 4 and 5 dropped
    expect(dropped).toEqual([1, 1]);
    await Promise.all([pushed[3], pushed[4]]);
    for (const n of [1, 2, 3]) await end(n);
    expect(started).toEqual([1, 2, 3]);
    await Promise.all(pushed);
  });

  it('flush waits for every write queued so far', async () => {
    const { write, end } = gatedWrites();
    const q = new EventQueue(write, { capacity: 10, writers: 1, onDrop: () => undefined });
    void q.push(1);
    void q.push(2);
    let flushed = false;
    const flush = q.flush(60_000).then(() => (flushed = true));
    await end(1);
    expect(flushed).toBe(false);
    await end(2);
    await flush;
    expect(flushed).toBe(true);
    await q.flush(60_000); // nothing left: at once
  });

  it('flush gives up after its time, dropping (and counting) what still waits', async () => {
    const { started, write } = gatedWrites();
    const dropped: number[] = [];
    const q = new EventQueue(write, { capacity: 10, writers: 1, onDrop: (n) => dropped.push(n) });
    const pushed = [1, 2, 3].map((n) => q.push(n));
    const t0 = Date.now();
    await q.flush(50);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(dropped).toEqual([2]); // 2 and 3; 1 is still in flight and ends on its own
    await Promise.all([pushed[1], pushed[2]]);
    expect(started).toEqual([1]);
    expect(q.depth).toBe(0);
  });

  it('keeps the order across its compactions: 5,000 writes through one writer', async () => {
    const written: number[] = [];
    const q = new EventQueue(async (n: number) => void written.push(n), { capacity: 10_000, writers: 1, onDrop: () => undefined });
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => q.push(i)));
    expect(written).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    expect(q.depth).toBe(0);
  });
});
