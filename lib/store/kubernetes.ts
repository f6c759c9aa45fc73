import { ApiException, KubeConfig, PatchStrategy } from '@kubernetes/client-node';
import { type KeyRequest, newRequestId, pairHash, rfc3339, secretName } from '../domain/key-request';
import { duplicateOf } from '../domain/renewal';
import type { State } from '../domain/states';
import { KeyedLock } from '../fs/keyed-lock';
import { withKeepAlive } from '../kube/keep-alive';
import { rawCall } from '../kube/raw';
import { ConflictError, RequestNotFoundError, StoreUnavailableError } from './errors';
import type { RequestIndex } from './request-index';
import { type SecretObject, decodeKey, encodeNewRequest } from './secret-codec';
import { type ReadRequest, toPatch } from './write';
import { SecretInformer } from './secret-informer';
import type { ClusterHandle, CreateResult, NewRequest, Page, PageOptions, QueryPage, RequestChange, RequestQuery, RequestStore, StoreStats, WatchEvent } from './types';

export interface KubernetesStoreOptions {
  namespace: string;
  /** A kubeconfig file; without it, in-cluster config or $KUBECONFIG / ~/.kube/config. */
  kubeconfigPath?: string;
  /** A ready KubeConfig (tests); wins over kubeconfigPath. */
  kubeConfig?: KubeConfig;
  clock?: () => Date;
}

const PING_TIMEOUT_MS = 5_000;

export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  return withKeepAlive(kc);
}

/** How long a read waits for the cache's first sync before saying the store is unavailable. */
const SYNC_TIMEOUT_MS = 15_000;

/**
 * Request Secrets in one namespace, exactly as DESIGN.md lays them out. Reads come from one
 * list+watch cache (SecretInformer) once it has synced; writes go to the API server carrying the
 * resourceVersion that was read, and the object a write returns goes into the cache at once.
 * Every call rides one kept-alive connection pool.
 */
export class KubernetesSecretStore implements RequestStore {
  readonly kind = 'kubernetes' as const;
  readonly namespace: string;
  readonly kc: KubeConfig;
  private readonly clock: () => Date;
  /** The list+watch cache every read comes from (metrics and tests look at it). */
  readonly informer: SecretInformer;
  private shipped: ((read: ReadRequest) => string[]) | undefined;
  private readonly locks = new KeyedLock();

  constructor(options: KubernetesStoreOptions) {
    this.namespace = options.namespace;
    this.kc = withKeepAlive(options.kubeConfig ?? loadKubeConfig(options.kubeconfigPath));
    this.clock = options.clock ?? (() => new Date());
    this.informer = new SecretInformer(this.kc, this.namespace);
  }

  /** Writes and reads of one Secret go out as plain JSON (lib/kube/raw.ts says why). */
  private get secretsPath(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets`;
  }

  get cluster(): ClusterHandle {
    return {
      kubeConfig: this.kc,
      namespace: this.namespace,
      cacheVersion: () => this.informer.version,
      dropShippedRecords: (shipped) => {
        this.shipped = shipped;
      },
      coverAudit: (through) => this.informer.coverAudit(through),
      auditCursor: () => this.informer.auditCursor,
    };
  }

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '(no cluster in kubeconfig)';
  }

  warm(): void {
    this.informer.start();
  }

  /** Stops the cache's watch (tests, shutdown). */
  close(): void {
    this.informer.stop();
  }

  async create(input: NewRequest): Promise<CreateResult> {
    const index = await this.synced();
    // Within a process one lock per pair makes check-then-create atomic; across replicas the
    // loop withdraws the younger of two live requests for a pair (see the reconciler).
    return this.locks.run(`pair:${pairHash(input.email, input.model)}`, async () => {
      const existing = duplicateOf(index.livePair(input.email, input.model), input);
      if (existing) return { request: existing, created: false };
      for (let attempt = 0; attempt < 3; attempt++) {
        const body = encodeNewRequest({ id: newRequestId(), ...input, createdAt: rfc3339(this.clock()) });
        try {
          const created = await this.call('create', () => rawCall<unknown>(this.kc, { method: 'POST', path: this.secretsPath, body }));
          return { request: this.informer.offer(created), created: true };
        } catch (err) {
          // 409 on create is an id collision (60 random bits: practically never); draw again.
          if (!(err instanceof ConflictError)) throw err;
        }
      }
      throw new StoreUnavailableError('could not find a free request id after 3 tries');
    });
  }

  async get(id: string): Promise<KeyRequest> {
    const index = await this.synced();
    const cached = index.get(id);
    if (cached) return cached;
    const broken = this.informer.malformed.get(secretName(id));
    if (broken) throw broken;
    // Not in the cache: created a moment ago by another replica, or not there at all.
    return this.informer.offer(await this.read(id));
  }

  async readKey(id: string): Promise<string | undefined> {
    return decodeKey(await this.read(id));
  }

  async listByRequester(email: string, page?: PageOptions): Promise<Page> {
    return (await this.synced()).list({ email }, page);
  }

  async listByState(state: State, page?: PageOptions): Promise<Page> {
    return (await this.synced()).list({ state }, page);
  }

  async listAll(page?: PageOptions): Promise<Page> {
    const result = (await this.synced()).list({}, page);
    // Broken Secrets are named once, with the first page, so an admin can repair them.
    return page?.continue ? result : { ...result, invalid: [...this.informer.malformed.values()] };
  }

  async query(q: RequestQuery): Promise<QueryPage> {
    return (await this.synced()).query(q);
  }

  async update(read: ReadRequest, change: RequestChange): Promise<KeyRequest> {
    // A merge patch that names the resourceVersion is conditional: the API server answers 409
    // if the Secret moved since it was read, so the state checked by toPatch is the state changed.
    // Records that reached the audit sink ride out with this write (it happens anyway).
    const gone = this.shipped?.(read) ?? [];
    const patch = toPatch(read, gone.length ? { ...change, auditAck: [...(change.auditAck ?? []), ...gone] } : change);
    const metadata: Record<string, unknown> = { resourceVersion: read.resourceVersion, labels: patch.labels, annotations: patch.annotations };
    if (patch.finalizers !== undefined) metadata.finalizers = patch.finalizers;
    const body: Record<string, unknown> = { metadata };
    if (patch.data) body.data = patch.data;
    try {
      const result = await this.call(
        'update',
        () => rawCall<unknown>(this.kc, { method: 'PATCH', path: `${this.secretsPath}/${secretName(read.id)}`, body, contentType: PatchStrategy.MergePatch }),
        read.id,
      );
      return this.informer.offer(result);
    } catch (err) {
      // Someone moved first and our cache may not have heard yet: fetch what won, so the
      // caller's re-read decides on the current version instead of conflicting again.
      if (err instanceof ConflictError) await this.read(read.id).then((s) => this.informer.offer(s)).catch(() => undefined);
      throw err;
    }
  }

  async remove(read: Pick<KeyRequest, 'id' | 'resourceVersion'>): Promise<void> {
    // DeleteOptions' precondition makes the delete conditional, as a patch's resourceVersion does.
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: read.resourceVersion } };
    await this.call('delete', () => rawCall<unknown>(this.kc, { method: 'DELETE', path: `${this.secretsPath}/${secretName(read.id)}`, body }), read.id);
  }

  async watch(onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const unsubscribe = this.informer.subscribe(onEvent);
    this.informer.start();
    // As client-go's informers do for a new handler: every request already known, as an upsert.
    void this.informer.waitForSync(SYNC_TIMEOUT_MS).then((synced) => {
      if (synced && !signal.aborted) for (const id of [...this.informer.index.ids()]) onEvent({ type: 'upsert', id });
    });
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    unsubscribe();
  }

  /** Ready when the cache has synced and its watch runs; asks the API server nothing. */
  async ping(): Promise<void> {
    this.informer.start();
    if (!this.informer.ready) await this.informer.waitForSync(PING_TIMEOUT_MS);
    const problem = this.informer.problem;
    if (problem) throw new StoreUnavailableError(`Kubernetes API at ${this.server}, namespace "${this.namespace}": ${problem}`);
  }

  /** From the cache as it stands; a cache that lost its watch still answers (readyz tells that). */
  stats(): StoreStats | undefined {
    return this.informer.synced ? this.informer.index.stats() : undefined;
  }

  private async synced(): Promise<RequestIndex> {
    if (!(await this.informer.waitForSync(SYNC_TIMEOUT_MS))) {
      throw new StoreUnavailableError(`Kubernetes API at ${this.server}: ${this.informer.problem ?? 'the request cache has not synced'}`);
    }
    return this.informer.index;
  }

  /** The raw Secret, for the key owner's reads and a cache miss. */
  private async read(id: string): Promise<SecretObject> {
    return this.call('get', () => rawCall<SecretObject>(this.kc, { method: 'GET', path: `${this.secretsPath}/${secretName(id)}` }), id);
  }

  /** Runs one API call and turns its failure into one of the store's typed errors. */
  private async call<T>(op: 'create' | 'get' | 'list' | 'update' | 'delete', fn: () => Promise<T>, id?: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.translate(err, op, id);
    }
  }

  private translate(err: unknown, op: string, id?: string): Error {
    if (err instanceof ApiException) {
      const code = (err as ApiException<unknown>).code;
      if (code === 409) return new ConflictError(id ?? '(new)');
      if (code === 404 && id) return new RequestNotFoundError(id);
      if (code === 401 || code === 403) {
        return new StoreUnavailableError(
          `Kubernetes refused to ${op} Secrets in namespace "${this.namespace}" (HTTP ${code}); check the portal's ServiceAccount and its Role`,
        );
      }
      return new StoreUnavailableError(`Kubernetes API answered HTTP ${code} to ${op} on Secrets in "${this.namespace}": ${statusMessage(err.body)}`);
    }
    const message = err instanceof Error ? err.message : String(err);
    return new StoreUnavailableError(`Kubernetes API at ${this.server} is unreachable (${op}): ${message}`, { cause: err });
  }
}

/** The `message` of a Kubernetes Status body, which names the object and field at fault. */
function statusMessage(body: unknown): string {
  try {
    const parsed: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    if (parsed && typeof parsed === 'object' && 'message' in parsed) return String((parsed as { message: unknown }).message);
  } catch {
    // fall through: not JSON
  }
  return 'no details';
}
