import type { KubeConfig } from '@kubernetes/client-node';
import type { KeyRequest, NotifyClaim, ReviewDigest } from '../domain/key-request';
import type { RetryInfo } from '../domain/retry';
import type { Review } from '../domain/review';
import type { ChatRecord } from '../domain/chat-record';
import type { BudgetMove, TopUp } from '../domain/top-up';
import type { TraceEntry } from '../domain/trace';
import type { State } from '../domain/states';
import type { MalformedSecretError } from './errors';
import type { ReadRequest } from './write';
import type { AuditFact } from '../audit/record';

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

/**
 * One page of requests, for the approver queue and a person's own list. Every store answers it
 * from an in-memory index (the Kubernetes store's informer cache, the local store's folder
 * index), never by listing the namespace or folder.
 */
export interface RequestQuery {
  state?: State;
  model?: string;
  /** Exactly this requester (a person's own requests); compared case-insensitively. */
  email?: string;
  /** A case-insensitive part of the requester's email (the approver's search box). */
  search?: string;
  /**
   * `queue`: states in QUEUE_ORDER (in-review first), newest first within a state.
   * `newest`: newest first across states.
   */
  order?: 'queue' | 'newest';
  /** 1 to 500; default 50. */
  limit?: number;
  /** The `nextCursor` of the previous page. A cursor from another query or version is refused. */
  cursor?: string;
}

export interface QueryPage {
  items: KeyRequest[];
  /** Present when more rows follow. */
  nextCursor?: string;
  /** Rows matching the whole query, over all pages. */
  total: number;
  /** Rows per state matching every filter but `state`: the queue's tabs. */
  counts: Record<State, number>;
}

/** What a store's in-memory index holds at one moment: counts and ages, no request itself. */
export interface StoreStats {
  counts: Record<State, number>;
  /** `createdAt` of the oldest request in each state that has any. */
  oldestCreatedAt: Partial<Record<State, string>>;
}

export interface CreateResult {
  request: KeyRequest;
  /** False when a live request for the same email and model already existed and was returned. */
  created: boolean;
}

export type WatchEvent =
  /**
   * A request created or changed. A store with a cache gives the version it now holds and the one
   * it held before (the audit shipper tells from the latter which records had already gone).
   */
  | { type: 'upsert'; id: string; request?: KeyRequest; previous?: KeyRequest }
  /** A request gone; a store with a cache gives the version it held. */
  | { type: 'delete'; id: string; previous?: KeyRequest }
  /** The watch lost track (restart, expired resource version): every request may have changed. */
  | { type: 'resync' }
  /** A request Secret (a new version of one) that does not decode; it is left out of every listing. */
  | { type: 'malformed'; error: MalformedSecretError };

/** Where a Kubernetes-backed store keeps requests, for what acts beside it (Events, the Lease). */
export interface ClusterHandle {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** The cache's watch version: every change at or below it has reached this process's watchers. */
  cacheVersion(): string;
  /**
   * Records a write may drop, because they reached the audit sink (lib/audit/cursor.ts): set by
   * the audit shipper of this process, consulted by every write of this store.
   */
  dropShippedRecords(shipped: (read: Pick<KeyRequest, 'id' | 'resourceVersion' | 'auditPending'>) => string[]): void;
  /** The audit cursor moved: the cache lets go of the records it covers (it also reads the cursor itself now and then). */
  coverAudit(through: bigint): void;
  /** The audit cursor as the cache last heard it (-1 before). */
  auditCursor(): bigint;
}

export interface RequestStore {
  readonly kind: 'kubernetes' | 'local';
  /** Set when requests live in a cluster: the loop records Events and elects a leader there. */
  readonly cluster?: ClusterHandle;
  /**
   * Creates a `pending` request, or returns the live one for the same email and model that it
   * would duplicate (lib/domain/renewal.ts `duplicateOf`: a renewal may sit beside the key it renews).
   */
  create(input: NewRequest): Promise<CreateResult>;
  /** Throws RequestNotFoundError; a malformed Secret throws MalformedSecretError. */
  get(id: string): Promise<KeyRequest>;
  /** The minted key of a request, or undefined. Only the loop and the key's owner ask. */
  readKey(id: string): Promise<string | undefined>;
  listByRequester(email: string, page?: PageOptions): Promise<Page>;
  /** One state's requests, page by page, oldest first by creation (the retention sweep stops at the first too young to be due). */
  listByState(state: State, page?: PageOptions): Promise<Page>;
  /** Every request, page by page (the loop's resync). */
  listAll(page?: PageOptions): Promise<Page>;
  /** A page of requests in a stable order; throws InvalidCursorError for a cursor it cannot use. */
  query(q: RequestQuery): Promise<QueryPage>;
  /**
   * Writes a change on top of the request as it was read, under the rules of lib/store/write.ts.
   * A stale `resourceVersion` throws ConflictError; a state change that the transition table
   * refuses (from the state last accepted) throws IllegalTransitionError; a state change over an
   * administrator's label edit not yet judged throws ConflictError. Since the write is
   * conditional on the version, the state read is the state changed.
   */
  update(read: ReadRequest, change: RequestChange): Promise<KeyRequest>;
  /**
   * Deletes a request Secret if it is still the version read (the retention sweep); a finalizer
   * holds it (deletionTimestamp set) until the last one goes. A moved version throws ConflictError.
   */
  remove(read: Pick<KeyRequest, 'id' | 'resourceVersion'>): Promise<void>;
  /**
   * Calls `onEvent` with an upsert for every request already stored, then on every change,
   * until `signal` aborts. Resolves when stopped.
   */
  watch(onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void>;
  /** Throws StoreUnavailableError when the store cannot be used (its index not loaded yet included). */
  ping(): Promise<void>;
  /** Starts loading the index now, so the first reader does not wait for it. */
  warm(): void;
  /**
   * The index's counts as they are now, without waiting for a load or asking the API server
   * (metrics read it at every scrape); undefined until the index has loaded once.
   */
  stats(): StoreStats | undefined;
}

/** What a new request is made of. */
export interface NewRequest {
  email: string;
  model: string;
  /** The id of the request this one renews (checked by the portal before it gets here). */
  renews?: string;
  /** Why the requester needs the key (checked by the portal against the model's policy). */
  justification?: string;
  /** The requester's manager, from the identity provider. */
  manager?: string;
  /** The budget (USD) the requester chose within the tier (a renewal sized from use; checked by the portal). */
  budget?: number;
  /** A top-up: the issued key's request it tops up (checked by the portal), and what it asks. */
  topsUp?: string;
  topUp?: TopUp;
}

/** Changes code may make to a request; the store turns them into labels, annotations and data. */
export interface RequestChange {
  state?: KeyRequest['state'];
  decidedAt?: string;
  decidedBy?: string;
  reason?: string;
  notified?: string;
  expiresAt?: string;
  trace?: TraceEntry[];
  /** Why the next step waits and until when; null clears it. */
  retry?: RetryInfo | null;
  /** A claim on sending the email for a state; null releases it. */
  notifying?: NotifyClaim | null;
  decision?: KeyRequest['decision'];
  /** The minted key; stored base64 in `data.key` and nowhere else. null erases it (delivered). */
  key?: string | null;
  /** The key's SHA-256 (hex), written with the key and kept after it is erased. */
  keySha256?: string;
  issuedAt?: string;
  revealedAt?: string;
  /** An expiry reminder went out (or was not needed) this many days before expiry. */
  reminded?: number;
  /** The loop judged an administrator's label edit to this state legal: it becomes the accepted state. */
  acceptState?: KeyRequest['state'];
  /** Adds (true) or removes (false) the gateway-key finalizer: set before a key can exist at the gateway, removed once it is gone there. */
  gatewayFinalizer?: boolean;
  /** Adds (true) or removes (false) a top-up's budget finalizer: set before the gateway raises the budget, removed once the top-up is put back or refused. */
  topUpFinalizer?: boolean;
  /** Every review so far (the whole list: the write carries the version read, so none is lost). */
  reviews?: Review[];
  /** The requester's manager, when a plugin (the http plugin's answer) names one. */
  manager?: string;
  /** What chat was told (the whole record, written with the version read); null removes it. */
  chat?: ChatRecord | null;
  /** A top-up: the key's budget before and after (written before the gateway is asked), then where it is put back. */
  budgetMove?: BudgetMove | null;
  /** An issued key: the budget period whose spend alert went out. */
  budgetAlert?: string;
  /** When the loop held it for review (the deadline counts from here). */
  reviewSince?: string;
  /** The days it was in the approvers' digest and the escalation digest (the whole record). */
  reviewDigest?: ReviewDigest;
  /** An issued key: when its requester was told it is idle; null clears it (used again). */
  idleWarnedAt?: string | null;
  /** Facts no field of this write shows (a deletion let go, an orphan removed), recorded with it (lib/audit/derive.ts). */
  audit?: AuditFact[];
  /** More to say in the record of the state this write enters (the minted key's limits). */
  auditData?: Record<string, unknown>;
  /** Audit record ids the sink acknowledged: removed from the request's pending records. */
  auditAck?: readonly string[];
  /** false: the audit finalizer goes (a deleted request whose last records were acknowledged). */
  auditFinalizer?: false;
}
