import { type KeyRequest, newRequestId, rfc3339, secretName } from '@/lib/domain/key-request';
import { duplicateOf } from '@/lib/domain/renewal';
import type { State } from '@/lib/domain/states';
import { ConflictError, RequestNotFoundError } from '@/lib/store/errors';
import { RequestIndex } from '@/lib/store/request-index';
import { type SecretObject, decodeKey, decodeRequest, encodeNewRequest } from '@/lib/store/secret-codec';
import { type ReadRequest, applyPatch, toPatch } from '@/lib/store/write';
import type { CreateResult, NewRequest, Page, PageOptions, QueryPage, RequestChange, RequestQuery, RequestStore, StoreStats, WatchEvent } from '@/lib/store/types';

/**
 * The store contract in memory, for unit tests of the loop: the same codec as the real stores
 * (Secrets in, requests out), versions checked on every write, and every call counted.
 */
export class MemoryStore implements RequestStore {
  readonly kind = 'local' as const;
  readonly secrets = new Map<string, SecretObject>();
  readonly calls = { create: 0, get: 0, readKey: 0, update: 0, query: 0 };
  private readonly index = new RequestIndex();
  private readonly listeners = new Set<(event: WatchEvent) => void>();
  private version = 0;

  constructor(private readonly clock: () => Date = () => new Date()) {}

  async create(input: NewRequest): Promise<CreateResult> {
    this.calls.create++;
    const existing = duplicateOf(this.index.livePair(input.email, input.model), input);
    if (existing) return { request: existing, created: false };
    const secret = encodeNewRequest({ id: newRequestId(), ...input, createdAt: rfc3339(this.clock()) });
    return { request: this.save(secret), created: true };
  }

  async get(id: string): Promise<KeyRequest> {
    this.calls.get++;
    const found = this.index.get(id);
    if (!found) throw new RequestNotFoundError(id);
    return found;
  }

  async readKey(id: string): Promise<string | undefined> {
    this.calls.readKey++;
    const secret = this.secrets.get(id);
    if (!secret) throw new RequestNotFoundError(id);
    return decodeKey(secret);
  }

  async listByRequester(email: string, page?: PageOptions): Promise<Page> {
    return this.index.list({ email }, page);
  }

  async listByState(state: State, page?: PageOptions): Promise<Page> {
    return this.index.list({ state }, page);
  }

  async listAll(page?: PageOptions): Promise<Page> {
    return this.index.list({}, page);
  }

  async query(q: RequestQuery): Promise<QueryPage> {
    this.calls.query++;
    return this.index.query(q);
  }

  async update(read: ReadRequest, change: RequestChange): Promise<KeyRequest> {
    this.calls.update++;
    const current = this.secrets.get(read.id);
    if (!current) throw new RequestNotFoundError(read.id);
    if (current.metadata.resourceVersion !== read.resourceVersion) throw new ConflictError(read.id);
    const next = applyPatch(current, toPatch(read, change));
    // As the API server does: a Secret being deleted goes once its last finalizer is removed.
    if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length) {
      this.drop(read.id);
      return decodeRequest({ ...next, metadata: { ...next.metadata, resourceVersion: String(++this.version) } });
    }
    return this.save(next);
  }

  /** What `kubectl delete secret` does: gone at once, or marked for deletion while a finalizer holds it. */
  delete(id: string, at: string = rfc3339(this.clock())): void {
    const current = this.secrets.get(id);
    if (!current) throw new RequestNotFoundError(id);
    if (!current.metadata.finalizers?.length) return this.drop(id);
    if (!current.metadata.deletionTimestamp) this.save({ ...structuredClone(current), metadata: { ...structuredClone(current.metadata), deletionTimestamp: at } });
  }

  private drop(id: string): void {
    this.secrets.delete(id);
    this.index.remove(id);
    this.emit({ type: 'delete', id });
  }

  async remove(read: Pick<KeyRequest, 'id' | 'resourceVersion'>): Promise<void> {
    const current = this.secrets.get(read.id);
    if (!current) throw new RequestNotFoundError(read.id);
    if (current.metadata.resourceVersion !== read.resourceVersion) throw new ConflictError(read.id);
    this.delete(read.id);
  }

  /** What `kubectl label`/`annotate` does: a write that skips the transition table. */
  edit(id: string, edit: (secret: SecretObject) => void): KeyRequest {
    const current = structuredClone(this.secrets.get(id));
    if (!current) throw new RequestNotFoundError(id);
    edit(current);
    return this.save(current);
  }

  /** As the real stores: every request known, then each change. */
  async watch(onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    this.listeners.add(onEvent);
    for (const id of [...this.secrets.keys()]) onEvent({ type: 'upsert', id });
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.listeners.delete(onEvent);
  }

  private emit(event: WatchEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  async ping(): Promise<void> {}

  warm(): void {}

  stats(): StoreStats {
    return this.index.stats();
  }

  private save(secret: SecretObject): KeyRequest {
    secret.metadata.resourceVersion = String(++this.version);
    const request = decodeRequest(secret);
    this.secrets.set(request.id, secret);
    this.index.put(request);
    this.emit({ type: 'upsert', id: request.id });
    return request;
  }
}

export const nameOf = secretName;
