import { setTimeout as wait } from 'node:timers/promises';
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { type KeyRequest, SECRET_PREFIX } from '../domain/key-request';
import { rawCall } from '../kube/raw';
import { log } from '../log';
import { RequestIndex } from './request-index';
import { MalformedSecretError } from './errors';
import { REQUEST_SELECTOR, decodeRequest } from './secret-codec';
import type { WatchEvent } from './types';
import { KubernetesAuditCursor } from '../audit/cursor';
import { AuditShedding } from './audit-shedding';

const LIST_PAGE = 500;
/** The API server ends a watch after this long; we then resume from the last version seen. */
const WATCH_SECONDS = [240, 360] as const;
/** No event and no bookmark for this long: the connection is dead even if the socket is not. */
const SILENCE_MS = (WATCH_SECONDS[1] + 60) * 1000;
const BACKOFF_MS = [500, 30_000] as const;
/** How often every process reads the audit cursor, to let go of the records it covers. */
const AUDIT_CURSOR_READ_MS = 10_000;

interface RawObject {
  metadata?: { name?: string; resourceVersion?: string; uid?: string };
}

/** A list page as the API server writes it. */
interface RawList {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: RawObject[];
}

/** The newer of two versions: etcd's are integers, which is all Kubernetes stores here. */
function isNewer(candidate: string | undefined, current: string | undefined): boolean {
  if (!candidate) return false;
  if (!current) return true;
  if (/^\d+$/.test(candidate) && /^\d+$/.test(current)) return BigInt(candidate) > BigInt(current);
  return candidate !== current;
}

export type InformerListener = (event: WatchEvent) => void;

/**
 * One list+watch of the request Secrets per store, the way controller-runtime's cache works:
 * lists page by page, then watches from the list's resourceVersion with bookmarks; resumes a
 * watch the server closed from the last version seen; relists on 410 Gone. It keeps requests
 * decoded, metadata only (the key stays in the API server), in a RequestIndex.
 *
 * Not client-node's ListWatch: that one lists in a single call (100,000 Secrets in one
 * response), keeps every object whole with its `data` (every key in memory), asks for no
 * bookmarks, and reports a failed relist only once.
 */
export class SecretInformer {
  readonly index = new RequestIndex();
  /** Request Secrets that do not decode, by name: reported once per version. */
  readonly malformed = new Map<string, MalformedSecretError>();
  private readonly listeners = new Set<InformerListener>();
  private resourceVersion = '';
  private started = false;
  private stopped = false;
  private syncedOnce = false;
  private healthy = false;
  private lastError: string | undefined;
  private syncWaiters: Array<() => void> = [];
  private watchAbort: AbortController | undefined;
  private readonly cursorAbort = new AbortController();
  /** Lets go of the audit records the audit cursor covers. */
  private readonly shedding = new AuditShedding((id) => this.index.get(id));
  private silenceTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoff: number = BACKOFF_MS[0];
  private lastActivity = 0;

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
  ) {}

  /** Synced once, and the watch is running (or being resumed after a server-side close). */
  get ready(): boolean {
    return this.syncedOnce && this.healthy;
  }

  /** Loaded at least once (its index may since have fallen behind a lost watch). */
  get synced(): boolean {
    return this.syncedOnce;
  }

  /** Why it is not ready, for readyz. */
  get problem(): string | undefined {
    if (!this.syncedOnce) return this.lastError ? `the request cache has not synced: ${this.lastError}` : 'the request cache is still syncing';
    return this.healthy ? undefined : `the request cache lost its watch: ${this.lastError ?? 'reconnecting'}`;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.relist();
    void this.followAuditCursor();
  }

  stop(): void {
    this.stopped = true;
    this.cursorAbort.abort();
    this.watchAbort?.abort();
    clearTimeout(this.silenceTimer);
    clearTimeout(this.retryTimer);
    for (const wake of this.syncWaiters.splice(0)) wake();
  }

  /**
   * Drops the running watch and resumes from `resourceVersion`, as after a cut connection. A
   * version the API server no longer keeps takes the 410 Gone path: a full relist.
   */
  resumeFrom(resourceVersion: string): void {
    this.watchAbort?.abort();
    this.resourceVersion = resourceVersion;
    this.watch();
  }

  /** The audit cursor as this cache last heard it (-1 before). */
  get auditCursor(): bigint {
    return this.shedding.covered;
  }

  /** The audit cursor moved: cached versions it covers let go of their records (audit-shedding.ts). */
  coverAudit(through: bigint): void {
    this.shedding.cover(through);
  }

  /** Reads the cursor now and then (the leader's shipper also hands it over as it moves). */
  private async followAuditCursor(): Promise<void> {
    const cursor = new KubernetesAuditCursor(this.kc, this.namespace);
    const signal = this.cursorAbort.signal;
    while (!signal.aborted) {
      const through = await cursor.read().catch(() => undefined);
      if (through !== undefined) this.coverAudit(through);
      await wait(AUDIT_CURSOR_READ_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  /** The version the next watch resumes from. */
  get version(): string {
    return this.resourceVersion;
  }

  /** Resolves once the first list has been loaded; false if `timeoutMs` passed first. */
  waitForSync(timeoutMs: number): Promise<boolean> {
    this.start();
    if (this.syncedOnce) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.syncWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.syncedOnce);
      });
    });
  }

  subscribe(listener: InformerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Takes an object a write returned (read-your-writes within the process), unless the cache
   * already holds a newer version. Returns the request as decoded.
   */
  offer(raw: unknown): KeyRequest {
    // The watch may have brought this very version first: it is decoded and held already. (Not
    // a newer one: the writer gets back the version its write made.)
    const held = this.heldVersion(raw as RawObject);
    if (held && held.resourceVersion === (raw as RawObject).metadata?.resourceVersion) return held;
    const request = decodeRequest(raw);
    const current = this.index.get(request.id);
    // A write that removed the last finalizer of a Secret being deleted: the API server has deleted it.
    if (request.deletingSince && !request.finalizers) {
      this.dropped(request.id);
      return request;
    }
    if (!current || isNewer(request.resourceVersion, current.resourceVersion)) {
      this.index.put(this.shedding.admit(request));
      this.malformed.delete((raw as RawObject).metadata?.name ?? '');
      // Watchers in this process hear of it now; the watch event that follows is then old news.
      this.emit({ type: 'upsert', id: request.id, request, ...(current ? { previous: current } : {}) });
    }
    return request;
  }

  /** Takes a request out of the index, telling watchers whose it was (a requester's list follows it). */
  private dropped(id: string): void {
    const gone = this.index.remove(id);
    if (gone) this.emit({ type: 'delete', id, previous: gone });
  }

  private emit(event: WatchEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** The cached request, when it is this object's version or a newer one: nothing to decode. */
  private heldVersion(raw: RawObject): KeyRequest | undefined {
    const name = raw.metadata?.name;
    const held = name?.startsWith(SECRET_PREFIX) ? this.index.get(name.slice(SECRET_PREFIX.length)) : undefined;
    return held && !isNewer(raw.metadata?.resourceVersion, held.resourceVersion) ? held : undefined;
  }

  /** Applies one object seen on the list or the watch, telling watchers when it is news. */
  private apply(raw: RawObject): void {
    const name = raw.metadata?.name ?? '(unnamed)';
    // Most watch events repeat a version this process already took from its own write (`offer`):
    // decoding one costs a schema parse and two hashes, for nothing.
    if (this.heldVersion(raw)) return;
    try {
      const request = decodeRequest(raw);
      // Any cached version is older than this one: heldVersion returned above otherwise (the same
      // id, and nothing awaited between).
      const current = this.index.get(request.id);
      this.malformed.delete(name);
      this.index.put(this.shedding.admit(request));
      this.emit({ type: 'upsert', id: request.id, request, ...(current ? { previous: current } : {}) });
    } catch (err) {
      if (!(err instanceof MalformedSecretError)) throw err;
      this.noteMalformed(raw, err);
    }
  }

  /** Records a Secret that does not decode; tells watchers once per version of it. */
  private noteMalformed(raw: RawObject, err: MalformedSecretError): void {
    const name = raw.metadata?.name ?? '(unnamed)';
    const rv = raw.metadata?.resourceVersion;
    const known = this.malformed.get(name);
    if (known && known.resourceVersion === rv) return;
    err.resourceVersion = rv;
    err.uid = raw.metadata?.uid;
    this.malformed.set(name, err);
    // A request that stopped decoding leaves the index: nobody acts on what it no longer says.
    const id = name.replace(/^keyreq-/, '');
    this.dropped(id);
    this.emit({ type: 'malformed', error: err });
  }

  private remove(raw: RawObject): void {
    const name = raw.metadata?.name ?? '';
    this.malformed.delete(name);
    const id = name.replace(/^keyreq-/, '');
    this.dropped(id);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const fresh: KeyRequest[] = [];
      const broken = new Set<string>();
      let token: string | undefined;
      let rv = '';
      do {
        // Plain JSON, not the generated client: each page is decoded straight into the index's
        // metadata-only requests, without a typed copy of 500 Secrets in between.
        const page = await rawCall<RawList>(this.kc, {
          method: 'GET',
          path: `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`,
          query: { labelSelector: REQUEST_SELECTOR, limit: LIST_PAGE, continue: token },
        });
        for (const secret of page.items ?? []) {
          try {
            const request = decodeRequest(secret);
            // A write of ours that landed while we listed is newer than its list entry: keep it.
            const cached = this.index.get(request.id);
            fresh.push(cached && isNewer(cached.resourceVersion, request.resourceVersion) ? cached : request);
          } catch (err) {
            if (!(err instanceof MalformedSecretError)) throw err;
            broken.add(secret.metadata?.name ?? '');
            this.noteMalformed(secret, err);
          }
        }
        token = page.metadata?.continue;
        rv = page.metadata?.resourceVersion ?? rv;
      } while (token && !this.stopped);
      // A request our own write created after the list's snapshot is in no page yet: keep it,
      // or a check made now (the duplicate and rate rules) would not see it until its watch event.
      const listed = new Set(fresh.map((r) => r.id));
      for (const id of this.index.ids()) {
        const cached = this.index.get(id);
        if (cached && !listed.has(id) && isNewer(cached.resourceVersion, rv)) fresh.push(cached);
      }
      // One sort per state instead of a splice per request: 100,000 requests load in a blink.
      const { changed, removed } = this.index.replaceAll(fresh.map((r) => this.shedding.admit(r)));
      for (const name of [...this.malformed.keys()]) if (!broken.has(name)) this.malformed.delete(name);
      for (const id of removed) this.emit({ type: 'delete', id });
      for (const id of changed) {
        const request = this.index.get(id);
        this.emit(request ? { type: 'upsert', id, request } : { type: 'upsert', id });
      }
      this.resourceVersion = rv;
      const first = !this.syncedOnce;
      this.syncedOnce = true;
      this.healthy = true;
      this.lastError = undefined;
      this.backoff = BACKOFF_MS[0];
      for (const wake of this.syncWaiters.splice(0)) wake();
      if (!first) this.emit({ type: 'resync' });
      log('info', 'store: request cache synced', { namespace: this.namespace, requests: this.index.size, malformed: this.malformed.size });
      this.watch();
    } catch (err) {
      this.fail(err, () => this.relist());
    }
  }

  private watch(): void {
    if (this.stopped) return;
    const controller = new AbortController();
    this.watchAbort = controller;
    const [min, max] = WATCH_SECONDS;
    const query = {
      labelSelector: REQUEST_SELECTOR,
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: min + Math.floor(Math.random() * (max - min)),
    };
    let gone = false;
    this.touch(controller);
    const onEvent = (type: string, obj: RawObject & { code?: number; message?: string }) => {
      this.touch(controller);
      if (type === 'ADDED' || type === 'MODIFIED') this.apply(obj);
      else if (type === 'DELETED') this.remove(obj);
      else if (type === 'ERROR') {
        if (obj.code === 410) gone = true;
        else this.lastError = `watch error ${obj.code ?? ''} ${obj.message ?? ''}`.trim();
        return;
      }
      const rv = obj.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
    };
    const onDone = (err: unknown) => {
      // Stopped, or the watchdog already replaced this watch.
      if (this.stopped || controller.signal.aborted) return;
      clearTimeout(this.silenceTimer);
      const status = (err as { statusCode?: number } | null)?.statusCode;
      if (gone || status === 410) {
        // Our version is older than the server keeps: everything may have changed. List again.
        this.resourceVersion = '';
        void this.relist();
        return;
      }
      if (err) return this.fail(err, () => this.watch());
      // The server closed the watch at its timeout: resume from the last version seen.
      this.watch();
    };
    new Watch(this.kc)
      .watch(`/api/v1/namespaces/${this.namespace}/secrets`, query, onEvent, onDone)
      .then((request) => {
        controller.signal.addEventListener('abort', () => request.abort(), { once: true });
        // Not aborted yet means the server answered 200 and the stream is open.
        if (!request.signal.aborted && !controller.signal.aborted) {
          this.healthy = true;
          this.backoff = BACKOFF_MS[0];
        }
      })
      .catch((err: unknown) => this.fail(err, () => this.watch()));
  }

  /** Restarts the silence watchdog: a half-open connection is noticed and replaced. */
  private touch(controller: AbortController): void {
    this.lastActivity = Date.now();
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      this.lastError = `no watch event or bookmark for ${Math.round((Date.now() - this.lastActivity) / 1000)} s`;
      controller.abort();
      this.healthy = false;
      this.watch();
    }, SILENCE_MS);
    this.silenceTimer.unref();
  }

  private fail(err: unknown, again: () => void): void {
    if (this.stopped) return;
    this.healthy = false;
    this.lastError = err instanceof Error ? err.message.slice(0, 300) : String(err);
    log('warn', 'store: request cache lost the API server; retrying', { namespace: this.namespace, error: this.lastError, retryInMs: this.backoff });
    for (const wake of this.syncWaiters.splice(0)) wake();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(again, this.backoff);
    this.retryTimer.unref();
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MS[1]);
  }
}
