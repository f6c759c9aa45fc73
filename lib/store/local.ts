import { EventEmitter } from 'node:events';
import { type FSWatcher, watch as fsWatch } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type KeyRequest, idFromSecretName, newRequestId, pairHash, rfc3339, secretName } from '../domain/key-request';
import { duplicateOf } from '../domain/renewal';
import type { State } from '../domain/states';
import { writeFileAtomic } from '../fs/atomic-write';
import { KeyedLock } from '../fs/keyed-lock';
import { ConflictError, MalformedSecretError, RequestNotFoundError, StoreUnavailableError } from './errors';
import { RequestIndex } from './request-index';
import {
  COMPONENT,
  LABEL,
  type SecretObject,
  decodeKey,
  decodeRequest,
  encodeNewRequest,
} from './secret-codec';
import { type ReadRequest, applyPatch, toPatch } from './write';
import type { CreateResult, NewRequest, Page, PageOptions, QueryPage, RequestChange, RequestQuery, RequestStore, StoreStats, WatchEvent } from './types';

const FILE_RE = /^keyreq-[a-z2-7]{12}\.json$/;

/**
 * The embedded default: one file per request, holding the same Secret JSON the Kubernetes store
 * writes, so moving to a cluster is `kubectl apply -f` of the folder. Written atomically (temp
 * file, fsync, rename, fsync of the folder). Reads come from an in-memory index loaded once and
 * kept current by our own writes and by a folder watch (hand edits, the local twin of `kubectl
 * edit`). One process owns a folder: versions are checked under an in-process lock, not across
 * processes.
 */
export class LocalDirectoryStore implements RequestStore {
  readonly kind = 'local' as const;
  private readonly events = new EventEmitter();
  private readonly locks = new KeyedLock();
  private readonly index = new RequestIndex();
  private readonly malformed = new Map<string, MalformedSecretError>();
  private loaded: Promise<RequestIndex> | undefined;
  /** The folder has been read into the index once. */
  private indexReady = false;
  private watcher: FSWatcher | undefined;
  private readonly clock: () => Date;

  constructor(
    readonly dir: string,
    options: { clock?: () => Date } = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.events.setMaxListeners(100);
  }

  async create(input: NewRequest): Promise<CreateResult> {
    const index = await this.load();
    // One lock per pair makes check-then-create atomic within the process that owns the folder.
    return this.locks.run(`pair:${pairHash(input.email, input.model)}`, async () => {
      const existing = duplicateOf(index.livePair(input.email, input.model), input);
      if (existing) return { request: existing, created: false };
      for (let attempt = 0; attempt < 3; attempt++) {
        const secret = encodeNewRequest({ id: newRequestId(), ...input, createdAt: rfc3339(this.clock()) });
        const file = this.file(secret.metadata.name);
        if (await exists(file)) continue;
        secret.metadata.resourceVersion = '1';
        await this.write(file, secret);
        const request = decodeRequest(secret);
        index.put(request);
        this.emit({ type: 'upsert', id: request.id });
        return { request, created: true };
      }
      throw new StoreUnavailableError('could not find a free request id after 3 tries');
    });
  }

  async get(id: string): Promise<KeyRequest> {
    const index = await this.load();
    const found = index.get(id);
    if (found) return found;
    const broken = this.malformed.get(secretName(id));
    if (broken) throw broken;
    throw new RequestNotFoundError(id);
  }

  async readKey(id: string): Promise<string | undefined> {
    return decodeKey(await this.read(id));
  }

  async listByRequester(email: string, page?: PageOptions): Promise<Page> {
    return (await this.load()).list({ email }, page);
  }

  async listByState(state: State, page?: PageOptions): Promise<Page> {
    return (await this.load()).list({ state }, page);
  }

  async listAll(page?: PageOptions): Promise<Page> {
    const result = (await this.load()).list({}, page);
    return page?.continue ? result : { ...result, invalid: [...this.malformed.values()] };
  }

  async query(q: RequestQuery): Promise<QueryPage> {
    return (await this.load()).query(q);
  }

  async update(read: ReadRequest, change: RequestChange): Promise<KeyRequest> {
    const index = await this.load();
    return this.locks.run(`id:${read.id}`, async () => {
      // The file, not the index, is the truth a version is checked against: a hand edit may
      // not have reached the index yet.
      const current = await this.read(read.id);
      if (current.metadata.resourceVersion !== read.resourceVersion) throw new ConflictError(read.id);
      const next = applyPatch(current, toPatch(read, change));
      next.metadata.resourceVersion = String(Number(current.metadata.resourceVersion ?? '0') + 1);
      // As the API server does: a Secret being deleted goes once its last finalizer is removed.
      if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length) {
        await this.unlink(read.id);
        return decodeRequest(next);
      }
      await this.write(this.file(next.metadata.name), next);
      const request = decodeRequest(next);
      index.put(request);
      this.emit({ type: 'upsert', id: read.id });
      return request;
    });
  }

  async remove(read: Pick<KeyRequest, 'id' | 'resourceVersion'>): Promise<void> {
    await this.load();
    await this.locks.run(`id:${read.id}`, async () => {
      const current = await this.read(read.id);
      if (current.metadata.resourceVersion !== read.resourceVersion) throw new ConflictError(read.id);
      if (!current.metadata.finalizers?.length) return this.unlink(read.id);
      if (current.metadata.deletionTimestamp) return;
      const next: SecretObject = { ...current, metadata: { ...current.metadata, deletionTimestamp: rfc3339(this.clock()), resourceVersion: String(Number(current.metadata.resourceVersion ?? '0') + 1) } };
      await this.write(this.file(next.metadata.name), next);
      this.index.put(decodeRequest(next));
      this.emit({ type: 'upsert', id: read.id });
    });
  }

  private async unlink(id: string): Promise<void> {
    await rm(this.file(secretName(id)), { force: true }).catch((err: unknown) => {
      throw this.unavailable('delete', err);
    });
    this.index.remove(id);
    this.emit({ type: 'delete', id });
  }

  async watch(onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const index = await this.load();
    this.events.on('event', onEvent);
    for (const id of [...index.ids()]) onEvent({ type: 'upsert', id });
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.events.off('event', onEvent);
  }

  async ping(): Promise<void> {
    await this.load();
    await readdir(this.dir).catch((err: unknown) => {
      throw this.unavailable('read', err);
    });
  }

  warm(): void {
    this.load().catch(() => undefined);
  }

  stats(): StoreStats | undefined {
    return this.indexReady ? this.index.stats() : undefined;
  }

  private emit(event: WatchEvent): void {
    this.events.emit('event', event);
  }

  /** Reads the folder once into the index, and starts watching it for hand edits. */
  private load(): Promise<RequestIndex> {
    this.loaded ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
        throw this.unavailable('create', err);
      });
      let names: string[];
      try {
        names = (await readdir(this.dir)).filter((n) => FILE_RE.test(n));
      } catch (err) {
        throw this.unavailable('list', err);
      }
      for (const name of names) await this.refresh(name, false);
      try {
        this.watcher = fsWatch(this.dir, (_type, filename) => {
          const name = filename?.toString();
          if (name && FILE_RE.test(name)) void this.refresh(name, true);
        });
        this.watcher.on('error', () => this.emit({ type: 'resync' }));
        this.watcher.unref();
      } catch {
        // Without inotify, hand edits reach the index only through our own writes.
      }
      this.indexReady = true;
      return this.index;
    })().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  /** Reads one file into the index (or out of it), telling watchers when something changed. */
  private async refresh(fileName: string, notify: boolean): Promise<void> {
    const name = fileName.replace(/\.json$/, '');
    const id = idFromSecretName(name);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path.join(this.dir, fileName), 'utf8'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        this.malformed.delete(name);
        if (id && this.index.remove(id) && notify) this.emit({ type: 'delete', id });
        return;
      }
      raw = undefined;
      this.markMalformed(name, new MalformedSecretError(name, err instanceof SyntaxError ? `not JSON (${err.message})` : String(err)), notify);
      return;
    }
    const labels = (raw as { metadata?: { labels?: Record<string, unknown> } })?.metadata?.labels ?? {};
    if (labels[LABEL.component] !== COMPONENT) {
      this.markMalformed(name, new MalformedSecretError(name, `label ${LABEL.component} is not "${COMPONENT}"`), notify);
      return;
    }
    try {
      const request = decodeRequest(raw);
      const current = this.index.get(request.id);
      this.malformed.delete(name);
      if (current && JSON.stringify(current) === JSON.stringify(request)) return;
      this.index.put(request);
      if (notify) this.emit({ type: 'upsert', id: request.id });
    } catch (err) {
      if (!(err instanceof MalformedSecretError)) throw err;
      this.markMalformed(name, err, notify);
    }
  }

  private markMalformed(name: string, err: MalformedSecretError, notify: boolean): void {
    const id = idFromSecretName(name);
    if (id && this.index.remove(id) && notify) this.emit({ type: 'delete', id });
    if (this.malformed.get(name)?.message === err.message) return;
    this.malformed.set(name, err);
    if (notify) this.emit({ type: 'malformed', error: err });
  }

  private async read(id: string): Promise<SecretObject> {
    const file = this.file(secretName(id));
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new RequestNotFoundError(id);
      throw this.unavailable('read', err);
    }
    try {
      return JSON.parse(text) as SecretObject;
    } catch (err) {
      throw new MalformedSecretError(secretName(id), `not JSON (${(err as Error).message})`);
    }
  }

  private async write(file: string, secret: SecretObject): Promise<void> {
    try {
      await writeFileAtomic(file, `${JSON.stringify(secret, null, 2)}\n`);
    } catch (err) {
      throw this.unavailable('write', err);
    }
  }

  private file(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }

  private unavailable(op: string, err: unknown): StoreUnavailableError {
    const code = (err as NodeJS.ErrnoException)?.code;
    return new StoreUnavailableError(
      `cannot ${op} the request folder ${this.dir}${code ? ` (${code})` : ''}; check that it exists and the portal may read and write it`,
      { cause: err },
    );
  }
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException)?.code === code;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
