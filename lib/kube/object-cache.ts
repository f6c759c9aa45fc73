import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { log } from '../log';
import { rawCall } from './raw';

/** What every cached object has. */
export interface CachedObject {
  metadata?: { name?: string; resourceVersion?: string };
}

interface RawList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

const BACKOFF_MS = [500, 30_000] as const;
const WATCH_SECONDS = 300;

/**
 * A list+watch cache of a few objects of one kind in one namespace, by name (the offboarding
 * records, the delegations): reads never ask the API server, so a check on every page view costs
 * nothing. Lists, then watches from the list's version; resumes a closed watch; relists on 410
 * Gone or any failure, with backoff. The request Secrets have their own, larger informer
 * (lib/store/secret-informer.ts), which this one keeps the same habits as.
 */
export class ObjectCache<T extends CachedObject> {
  private readonly items = new Map<string, T>();
  private version = '';
  private started = false;
  private stopped = false;
  private synced = false;
  private problem: string | undefined;
  private waiters: Array<() => void> = [];
  private backoff: number = BACKOFF_MS[0];
  private abort: AbortController | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly kc: KubeConfig,
    /** e.g. `/api/v1/namespaces/ns/configmaps` */
    private readonly path: string,
    private readonly labelSelector: string,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    clearTimeout(this.retry);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves true once listed; false after `timeoutMs` (the caller says the store is unavailable). */
  waitForSync(timeoutMs: number): Promise<boolean> {
    this.start();
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(this.synced);
      });
    });
  }

  /** Why it has not synced, for the error a caller shows. */
  get lastProblem(): string | undefined {
    return this.problem;
  }

  get(name: string): T | undefined {
    return this.items.get(name);
  }

  values(): T[] {
    return [...this.items.values()];
  }

  /** Takes an object a write of ours returned, unless a newer one is already here. */
  offer(obj: T): void {
    const name = obj.metadata?.name;
    if (!name) return;
    const current = this.items.get(name);
    if (!current || newer(obj.metadata?.resourceVersion, current.metadata?.resourceVersion)) this.items.set(name, obj);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const fresh = new Map<string, T>();
      let token: string | undefined;
      let rv = '';
      do {
        const page = await rawCall<RawList<T>>(this.kc, { method: 'GET', path: this.path, query: { labelSelector: this.labelSelector, limit: 500, continue: token } });
        for (const item of page.items ?? []) if (item.metadata?.name) fresh.set(item.metadata.name, item);
        token = page.metadata?.continue;
        rv = page.metadata?.resourceVersion ?? rv;
      } while (token && !this.stopped);
      this.items.clear();
      for (const [k, v] of fresh) this.items.set(k, v);
      this.version = rv;
      this.synced = true;
      this.problem = undefined;
      this.backoff = BACKOFF_MS[0];
      for (const wake of this.waiters.splice(0)) wake();
      this.watch();
    } catch (err) {
      this.fail(err);
    }
  }

  private watch(): void {
    if (this.stopped) return;
    const controller = new AbortController();
    this.abort = controller;
    let gone = false;
    const onEvent = (type: string, obj: T & { code?: number }) => {
      if (type === 'ADDED' || type === 'MODIFIED') this.offer(obj);
      else if (type === 'DELETED' && obj.metadata?.name) this.items.delete(obj.metadata.name);
      else if (type === 'ERROR') {
        if (obj.code === 410) gone = true;
        return;
      }
      if (obj.metadata?.resourceVersion) this.version = obj.metadata.resourceVersion;
    };
    const onDone = (err: unknown) => {
      if (this.stopped || controller.signal.aborted) return;
      if (gone || err) {
        if (err) this.problem = err instanceof Error ? err.message : String(err);
        return this.later(() => void this.relist());
      }
      this.watch();
    };
    new Watch(this.kc)
      .watch(this.path, { labelSelector: this.labelSelector, resourceVersion: this.version, allowWatchBookmarks: true, timeoutSeconds: WATCH_SECONDS }, onEvent, onDone)
      .then((request) => controller.signal.addEventListener('abort', () => request.abort(), { once: true }))
      .catch((err: unknown) => this.fail(err));
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.problem = err instanceof Error ? err.message.slice(0, 300) : String(err);
    log('warn', 'kube: a cache lost the API server; retrying', { path: this.path, error: this.problem, retryInMs: this.backoff });
    for (const wake of this.waiters.splice(0)) wake();
    this.later(() => void this.relist());
  }

  private later(fn: () => void): void {
    clearTimeout(this.retry);
    this.retry = setTimeout(fn, this.backoff);
    this.retry.unref();
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MS[1]);
  }
}

function newer(candidate: string | undefined, current: string | undefined): boolean {
  if (!candidate) return false;
  if (!current) return true;
  if (/^\d+$/.test(candidate) && /^\d+$/.test(current)) return BigInt(candidate) > BigInt(current);
  return candidate !== current;
}
