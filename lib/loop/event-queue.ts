/**
 * Writes that may wait, kept in memory and sent by a few writers in the order they came, the way
 * client-go's event broadcaster sends Events: the steps users wait for (a decision, a key, an
 * email) never queue behind them, and under a burst the API server serves those first while
 * these follow. The queue is bounded: past `capacity`, a write is dropped and counted, never
 * allowed to grow the heap without end.
 */
export interface EventQueueOptions {
  /** Writes waiting at most; one more is dropped (client-go keeps 1,000). */
  capacity: number;
  /** Writes in flight at once. */
  writers: number;
  /** Told of each write dropped because the queue was full or the flush ran out of time. */
  onDrop: (count: number) => void;
}

interface Entry<T> {
  item: T;
  done: () => void;
}

export class EventQueue<T> {
  private waiting: Array<Entry<T> | undefined> = [];
  private head = 0;
  private inFlight = 0;
  private idle: Array<() => void> = [];

  constructor(
    private readonly write: (item: T) => Promise<void>,
    private readonly options: EventQueueOptions,
  ) {}

  /** Writes waiting for a writer now. */
  get depth(): number {
    return this.waiting.length - this.head;
  }

  /** Queues a write; resolves once it was written (or failed, or was dropped). Never rejects. */
  push(item: T): Promise<void> {
    if (this.depth >= this.options.capacity) {
      this.options.onDrop(1);
      return Promise.resolve();
    }
    return new Promise<void>((done) => {
      this.waiting.push({ item, done });
      this.pump();
    });
  }

  /**
   * Resolves once every write queued so far has ended, or after `withinMs`: then the ones still
   * waiting are dropped (and counted), so a stopping process is never held up by them.
   */
  async flush(withinMs: number): Promise<void> {
    if (this.depth === 0 && this.inFlight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const drained = new Promise<void>((resolve) => this.idle.push(resolve));
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, withinMs);
    });
    await Promise.race([drained, late]);
    clearTimeout(timer);
    const left = this.depth;
    if (left > 0) {
      for (let i = this.head; i < this.waiting.length; i++) this.waiting[i]?.done();
      this.waiting = [];
      this.head = 0;
      this.options.onDrop(left);
    }
  }

  private pump(): void {
    while (this.inFlight < this.options.writers && this.depth > 0) {
      const entry = this.take();
      this.inFlight++;
      this.write(entry.item)
        .catch(() => undefined)
        .finally(() => {
          this.inFlight--;
          entry.done();
          this.pump();
          if (this.depth === 0 && this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }

  // A head index instead of Array.shift, which copies the whole array on every call.
  private take(): Entry<T> {
    const entry = this.waiting[this.head] as Entry<T>;
    this.waiting[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    return entry;
  }
}
