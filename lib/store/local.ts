import { EventEmitter } from 'node:events';
import { type FSWatcher, watch as fsWatch } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type KeyRequest, idFromSecretName, newRequestId, pairHash, requesterHash, rfc3339, secretName } from '../domain/key-request';
import { type State, assertTransition, isLive } from '../domain/states';
import { ConflictError, RequestNotFoundError, StoreUnavailableError } from './errors';
import { oldestFirst } from './ordering';
import {
  COMPONENT,
  LABEL,
  MalformedSecretError,
  type RequestChange,
  type SecretObject,
  applyChange,
  decodeKey,
  decodeRequest,
  encodeNewRequest,
} from './secret-codec';
import type { CreateResult, Page, PageOptions, RequestStore, WatchEvent } from './types';

const FILE_RE = /^keyreq-[a-z2-7]{12}\.json$/;
const MAX_PAGE = 500;

/**
 * The embedded default: one file per request, holding the same Secret JSON the Kubernetes store
 * writes, so moving to a cluster is `kubectl apply -f` of the folder. Written atomically (temp
 * file, fsync, rename, fsync of the folder). One process owns a folder: versions are checked
 * under an in-process lock, not across processes.
 */
export class LocalDirectoryStore implements RequestStore {
  readonly kind = 'local' as const;
  private readonly events = new EventEmitter();
  private readonly locks = new Map<string, Promise<unknown>>();
  private ready: Promise<void> | undefined;
  private readonly clock: () => Date;

  constructor(
    readonly dir: string,
    options: { clock?: () => Date } = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.events.setMaxListeners(100);
  }

  async create(input: { email: string; model: string }): Promise<CreateResult> {
    await this.ensureDir();
    // One lock per pair makes check-then-create atomic within the process that owns the folder.
    return this.locked(`pair:${pairHash(input.email, input.model)}`, async () => {
      const live = (await this.scan({ [LABEL.pair]: pairHash(input.email, input.model) })).items.filter((r) => isLive(r.state));
      const existing = live.sort(oldestFirst)[0];
      if (existing) return { request: existing, created: false };
      for (let attempt = 0; attempt < 3; attempt++) {
        const secret = encodeNewRequest({ id: newRequestId(), ...input, createdAt: rfc3339(this.clock()) });
        const file = this.file(secret.metadata.name);
        if (await exists(file)) continue;
        secret.metadata.resourceVersion = '1';
        await this.write(file, secret);
        const request = decodeRequest(secret);
        this.events.emit('event', { type: 'upsert', id: request.id } satisfies WatchEvent);
        return { request, created: true };
      }
      throw new StoreUnavailableError('could not find a free request id after 3 tries');
    });
  }

  async get(id: string): Promise<KeyRequest> {
    return decodeRequest(await this.read(id));
  }

  async readKey(id: string): Promise<string | undefined> {
    return decodeKey(await this.read(id));
  }

  listByRequester(email: string, page?: PageOptions): Promise<Page> {
    return this.scan({ [LABEL.requester]: requesterHash(email) }, page);
  }

  listByState(state: State, page?: PageOptions): Promise<Page> {
    return this.scan({ [LABEL.state]: state }, page);
  }

  listAll(page?: PageOptions): Promise<Page> {
    return this.scan({}, page);
  }

  async update(read: Pick<KeyRequest, 'id' | 'state' | 'resourceVersion'>, change: RequestChange): Promise<KeyRequest> {
    if (change.state !== undefined && change.state !== read.state) assertTransition(read.state, change.state);
    return this.locked(`id:${read.id}`, async () => {
      const current = await this.read(read.id);
      if (current.metadata.resourceVersion !== read.resourceVersion) throw new ConflictError(read.id);
      const next = applyChange(current, change);
      next.metadata.resourceVersion = String(Number(current.metadata.resourceVersion ?? '0') + 1);
      await this.write(this.file(next.metadata.name), next);
      this.events.emit('event', { type: 'upsert', id: read.id } satisfies WatchEvent);
      return decodeRequest(next);
    });
  }

  async watch(onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    await this.ensureDir();
    const own = (e: WatchEvent) => onEvent(e);
    this.events.on('event', own);
    // Someone editing a file by hand is the local twin of `kubectl edit`.
    let watcher: FSWatcher | undefined;
    try {
      watcher = fsWatch(this.dir, (_type, filename) => {
        const name = filename?.toString();
        if (!name || !FILE_RE.test(name)) return;
        const id = idFromSecretName(name.replace(/\.json$/, ''));
        if (id) onEvent({ type: 'upsert', id });
      });
      watcher.on('error', () => onEvent({ type: 'resync' }));
    } catch {
      // Without inotify the resync still catches hand edits, only later.
    }
    await new Promise<void>((resolve) => {
      signal.addEventListener(
        'abort',
        () => {
          this.events.off('event', own);
          watcher?.close();
          resolve();
        },
        { once: true },
      );
    });
  }

  async ping(): Promise<void> {
    await this.ensureDir();
    await readdir(this.dir).catch((err: unknown) => {
      throw this.unavailable('read', err);
    });
  }

  private async scan(labels: Record<string, string>, page: PageOptions = {}): Promise<Page> {
    await this.ensureDir();
    const limit = Math.min(Math.max(page.limit ?? 100, 1), MAX_PAGE);
    const after = page.continue ? decodeContinue(page.continue) : '';
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => FILE_RE.test(n)).sort();
    } catch (err) {
      throw this.unavailable('list', err);
    }
    const items: KeyRequest[] = [];
    const invalid: MalformedSecretError[] = [];
    let last = '';
    let i = after ? names.findIndex((n) => n > after) : 0;
    if (i < 0) i = names.length;
    for (; i < names.length && items.length + invalid.length < limit; i++) {
      const name = names[i] as string;
      last = name;
      const secretNameOf = name.replace(/\.json$/, '');
      let raw: unknown;
      try {
        raw = JSON.parse(await readFile(path.join(this.dir, name), 'utf8'));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue; // deleted between readdir and read
        invalid.push(new MalformedSecretError(secretNameOf, err instanceof SyntaxError ? `not JSON (${err.message})` : String(err)));
        continue;
      }
      const secretLabels = (raw as { metadata?: { labels?: Record<string, unknown> } })?.metadata?.labels ?? {};
      if (secretLabels[LABEL.component] !== COMPONENT) {
        if (Object.keys(labels).length === 0) invalid.push(new MalformedSecretError(secretNameOf, `label ${LABEL.component} is not "${COMPONENT}"`));
        continue;
      }
      if (!Object.entries(labels).every(([k, v]) => secretLabels[k] === v)) continue;
      try {
        items.push(decodeRequest(raw));
      } catch (err) {
        if (err instanceof MalformedSecretError) invalid.push(err);
        else throw err;
      }
    }
    return i < names.length ? { items, invalid, continue: encodeContinue(last) } : { items, invalid };
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
    const tmp = `${file}.tmp-${process.pid}-${newRequestId()}`;
    try {
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(secret, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
      const dirHandle = await open(this.dir, 'r');
      try {
        await dirHandle.sync();
      } finally {
        await dirHandle.close();
      }
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw this.unavailable('write', err);
    }
  }

  private file(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }

  private ensureDir(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 })
      .then(() => undefined)
      .catch((err: unknown) => {
        this.ready = undefined;
        throw this.unavailable('create', err);
      });
    return this.ready;
  }

  private unavailable(op: string, err: unknown): StoreUnavailableError {
    const code = (err as NodeJS.ErrnoException)?.code;
    return new StoreUnavailableError(
      `cannot ${op} the request folder ${this.dir}${code ? ` (${code})` : ''}; check that it exists and the portal may read and write it`,
      { cause: err },
    );
  }

  /** Runs fn after every earlier holder of the same key, so read-check-write is atomic here. */
  private locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
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

const encodeContinue = (name: string) => Buffer.from(name).toString('base64url');
const decodeContinue = (token: string) => Buffer.from(token, 'base64url').toString('utf8');
