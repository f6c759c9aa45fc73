import type { KeyRequest } from '../domain/key-request';
import type { State } from '../domain/states';
import type { MalformedSecretError, RequestChange } from './secret-codec';

export interface PageOptions {
  /** Items per page; the store may cap it. */
  limit?: number;
  /** The `continue` token of the previous page. */
  continue?: string;
}

export interface Page {
  items: KeyRequest[];
  /** Present when there is another page. */
  continue?: string;
  /** Secrets on this page that are not valid requests; listed so an admin can repair them. */
  invalid: MalformedSecretError[];
}

export interface CreateResult {
  request: KeyRequest;
  /** False when a live request for the same email and model already existed and was returned. */
  created: boolean;
}

export type WatchEvent =
  | { type: 'upsert'; id: string }
  | { type: 'delete'; id: string }
  /** The watch lost track (restart, expired resource version): every request may have changed. */
  | { type: 'resync' };

export interface RequestStore {
  readonly kind: 'kubernetes' | 'local';
  /** Creates a `pending` request, or returns the live one for the same email and model. */
  create(input: { email: string; model: string }): Promise<CreateResult>;
  /** Throws RequestNotFoundError; a malformed Secret throws MalformedSecretError. */
  get(id: string): Promise<KeyRequest>;
  /** The minted key of a request, or undefined. Only the loop and the key's owner ask. */
  readKey(id: string): Promise<string | undefined>;
  listByRequester(email: string, page?: PageOptions): Promise<Page>;
  listByState(state: State, page?: PageOptions): Promise<Page>;
  /** Every request, page by page (the loop's resync). */
  listAll(page?: PageOptions): Promise<Page>;
  /**
   * Writes a change on top of the request as it was read. A stale `resourceVersion` throws
   * ConflictError; a state change that the transition table refuses throws
   * IllegalTransitionError. Since the write is conditional on the version, the state read is the
   * state changed.
   */
  update(read: Pick<KeyRequest, 'id' | 'state' | 'resourceVersion'>, change: RequestChange): Promise<KeyRequest>;
  /** Calls `onEvent` on every change until `signal` aborts. Resolves when stopped. */
  watch(onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void>;
  /** Throws StoreUnavailableError when the store cannot be used. */
  ping(): Promise<void>;
}
