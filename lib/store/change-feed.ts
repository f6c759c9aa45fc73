import type { RequestStore, WatchEvent } from './types';

/** A space never appears in a request id: a requester's key is never one. */
const REQUESTER = 'requester ';

/**
 * The key a requester's list waits on (`wait(requesterKey(email), …)`): a change to any of their
 * requests wakes it, a new one too.
 */
export function requesterKey(email: string): string {
  return `${REQUESTER}${email.toLowerCase()}`;
}

/**
 * The key the approvers' queue waits on: it changes with every step of every request, so its
 * waiters are woken at once by a change and then at most once every `queueEveryMs` (a queue read
 * every few seconds under steady traffic, as its poll did; at once when things are quiet).
 */
export const QUEUE_KEY = 'queue *';

/** Why a wait ended. */
export type WaitOutcome = 'changed' | 'timeout' | 'aborted' | 'closed';

/**
 * One process-wide subscription to the store's changes, shared by every caller waiting for one
 * request to change (a status page's long poll), any of one person's ("My requests") or any at
 * all (the approvers' queue): a watch per waiter would replay every stored request to each. The subscription starts with the web
 * server (or the first waiter) and stays (the store's cache runs anyway); waiters are counted, and
 * past `maxWaiters` a wait is refused, so the caller answers at once and its client pauses instead.
 */
export class ChangeFeed {
  private readonly waiters = new Map<string, Set<() => void>>();
  private count = 0;
  private subscription: AbortController | undefined;
  private closed = false;
  /** When the queue's waiters were last woken (monotonic), and the wake pending until its turn. */
  private queueWokenAt = Number.NEGATIVE_INFINITY;
  private queueTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Pick<RequestStore, 'watch'>,
    private readonly maxWaiters = 2000,
    private readonly queueEveryMs = 3000,
  ) {}

  /** Waiters now holding (metrics, tests). */
  get waiting(): number {
    return this.count;
  }

  /** False when no wait can be held now (full, or closing): answer at once. */
  canWait(): boolean {
    return !this.closed && this.count < this.maxWaiters;
  }

  /**
   * Resolves when what `key` names changes — a request by its id, any request of a person by
   * `requesterKey`, any request at all by QUEUE_KEY (batched) — or is deleted, or the store lost
   * track of changes; at `timeoutMs`, when `signal` aborts (the client went away) or when the
   * feed closes. Only changes after this call wake it: a caller waits first and reads after
   * (lib/portal/status-wait.ts), so a change between its read and its wait is not missed.
   */
  wait(key: string, timeoutMs: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (!this.canWait()) return Promise.resolve('closed');
    if (signal?.aborted) return Promise.resolve('aborted');
    this.subscribe();
    return new Promise<WaitOutcome>((resolve) => {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const waiters = set;
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!waiters.delete(wake)) return;
        this.count--;
        if (!waiters.size && this.waiters.get(key) === waiters) this.waiters.delete(key);
        resolve(outcome);
      };
      const wake = () => finish(this.closed ? 'closed' : 'changed');
      const onAbort = () => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      waiters.add(wake);
      this.count++;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Subscribes now: the store's watch begins by offering every stored request once, which would
   * wake (harmlessly, but all at once) whatever is held at that moment. The web server starts the
   * feed with the store, before any page waits.
   */
  start(): void {
    if (!this.closed) this.subscribe();
  }

  /** Releases every waiter (the process is stopping) and refuses new ones. */
  close(): void {
    this.closed = true;
    clearTimeout(this.queueTimer);
    this.wakeAll();
    this.subscription?.abort();
  }

  private subscribe(): void {
    if (this.subscription) return;
    const subscription = new AbortController();
    this.subscription = subscription;
    void this.store.watch((event) => this.onEvent(event), subscription.signal).catch(() => {
      // The store's watch ended in error: the next wait subscribes anew. The waiters now held end
      // at their time, not at once: woken, each would subscribe again straight away, and a watch
      // that keeps failing would become a busy loop.
      if (this.subscription === subscription) this.subscription = undefined;
    });
  }

  private onEvent(event: WatchEvent): void {
    if (event.type === 'resync') return this.wakeAll();
    if (event.type === 'malformed') return;
    this.wake(event.id);
    this.wakeQueue();
    const whose = [event.type === 'upsert' ? event.request?.email : undefined, event.previous?.email].filter((e) => e !== undefined);
    // A store that does not say whose request it was (the local folder's): every list may show it.
    if (!whose.length) return this.wakeAll(REQUESTER);
    for (const email of new Set(whose.map((e) => e.toLowerCase()))) this.wake(requesterKey(email));
  }

  private wakeQueue(): void {
    if (this.queueTimer || !this.waiters.has(QUEUE_KEY)) return;
    const wait = this.queueWokenAt + this.queueEveryMs - performance.now();
    const wake = () => {
      this.queueTimer = undefined;
      this.queueWokenAt = performance.now();
      this.wake(QUEUE_KEY);
    };
    if (wait <= 0) return wake();
    this.queueTimer = setTimeout(wake, wait);
  }

  private wake(key: string): void {
    for (const wake of [...(this.waiters.get(key) ?? [])]) wake();
  }

  private wakeAll(prefix = ''): void {
    for (const [key, set] of [...this.waiters]) if (key.startsWith(prefix)) for (const wake of [...set]) wake();
  }
}
