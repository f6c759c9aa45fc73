import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  type V1Secret,
  makeInformer,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { type KeyRequest, newRequestId, pairHash, requesterHash, rfc3339, secretName } from '../domain/key-request';
import { type State, assertTransition, isLive } from '../domain/states';
import { ConflictError, RequestNotFoundError, StoreUnavailableError } from './errors';
import {
  LABEL,
  MalformedSecretError,
  REQUEST_SELECTOR,
  type RequestChange,
  type SecretObject,
  decodeKey,
  decodeRequest,
  encodeNewRequest,
  toPatch,
} from './secret-codec';
import { oldestFirst } from './ordering';
import type { CreateResult, Page, PageOptions, RequestStore, WatchEvent } from './types';

export interface KubernetesStoreOptions {
  namespace: string;
  /** A kubeconfig file; without it, in-cluster config or $KUBECONFIG / ~/.kube/config. */
  kubeconfigPath?: string;
  /** A ready KubeConfig (tests); wins over kubeconfigPath. */
  kubeConfig?: KubeConfig;
  clock?: () => Date;
}

const MAX_PAGE = 500;
const PING_TIMEOUT_MS = 5_000;

export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  return kc;
}

/** Request Secrets in one namespace, exactly as DESIGN.md lays them out. */
export class KubernetesSecretStore implements RequestStore {
  readonly kind = 'kubernetes' as const;
  readonly namespace: string;
  readonly kc: KubeConfig;
  private readonly api: CoreV1Api;
  private readonly clock: () => Date;

  constructor(options: KubernetesStoreOptions) {
    this.namespace = options.namespace;
    this.kc = options.kubeConfig ?? loadKubeConfig(options.kubeconfigPath);
    this.api = this.kc.makeApiClient(CoreV1Api);
    this.clock = options.clock ?? (() => new Date());
  }

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '(no cluster in kubeconfig)';
  }

  async create(input: { email: string; model: string }): Promise<CreateResult> {
    const existing = await this.livePair(input.email, input.model);
    if (existing[0]) return { request: existing[0], created: false };

    let created: KeyRequest | undefined;
    for (let attempt = 0; attempt < 3 && !created; attempt++) {
      const body = encodeNewRequest({ id: newRequestId(), ...input, createdAt: rfc3339(this.clock()) });
      try {
        created = decodeRequest(await this.call('create', () => this.api.createNamespacedSecret({ namespace: this.namespace, body })));
      } catch (err) {
        // 409 on create is an id collision (60 random bits: practically never); draw again.
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    if (!created) throw new StoreUnavailableError('could not find a free request id after 3 tries');

    // Two replicas (or two tabs) can both pass the check above. Everyone agrees on the oldest
    // live request of the pair; a later one withdraws itself, so exactly one survives.
    const live = await this.livePair(input.email, input.model);
    const winner = live[0];
    if (winner && winner.id !== created.id) {
      await this.call('delete', () =>
        this.api.deleteNamespacedSecret({ name: secretName(created.id), namespace: this.namespace }),
      ).catch(() => undefined);
      return { request: winner, created: false };
    }
    return { request: created, created: true };
  }

  async get(id: string): Promise<KeyRequest> {
    return decodeRequest(await this.read(id));
  }

  async readKey(id: string): Promise<string | undefined> {
    return decodeKey(await this.read(id));
  }

  listByRequester(email: string, page?: PageOptions): Promise<Page> {
    return this.list(`${REQUEST_SELECTOR},${LABEL.requester}=${requesterHash(email)}`, page);
  }

  listByState(state: State, page?: PageOptions): Promise<Page> {
    return this.list(`${REQUEST_SELECTOR},${LABEL.state}=${state}`, page);
  }

  listAll(page?: PageOptions): Promise<Page> {
    return this.list(REQUEST_SELECTOR, page);
  }

  async update(read: Pick<KeyRequest, 'id' | 'state' | 'resourceVersion'>, change: RequestChange): Promise<KeyRequest> {
    if (change.state !== undefined && change.state !== read.state) assertTransition(read.state, change.state);
    // A merge patch that names the resourceVersion is conditional: the API server answers 409
    // if the Secret moved since it was read, so the state checked above is the state changed.
    const patch = toPatch(change);
    const body: Record<string, unknown> = {
      metadata: { resourceVersion: read.resourceVersion, labels: patch.labels, annotations: patch.annotations },
    };
    if (patch.data) body.data = patch.data;
    const result = await this.call(
      'update',
      () =>
        this.api.patchNamespacedSecret(
          { name: secretName(read.id), namespace: this.namespace, body },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      read.id,
    );
    return decodeRequest(result);
  }

  async watch(onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const informer = makeInformer<V1Secret>(
      this.kc,
      `/api/v1/namespaces/${this.namespace}/secrets`,
      () => this.api.listNamespacedSecret({ namespace: this.namespace, labelSelector: REQUEST_SELECTOR }),
      REQUEST_SELECTOR,
    );
    const idOf = (s: V1Secret) => s.metadata?.name?.replace(/^keyreq-/, '') ?? '';
    informer.on('add', (s) => onEvent({ type: 'upsert', id: idOf(s) }));
    informer.on('update', (s) => onEvent({ type: 'upsert', id: idOf(s) }));
    informer.on('delete', (s) => onEvent({ type: 'delete', id: idOf(s) }));
    informer.on('connect', () => onEvent({ type: 'resync' }));

    let retry: NodeJS.Timeout | undefined;
    let backoff = 500;
    // The informer stops on an error (API server restart, expired watch); start it again with a
    // capped backoff, and ask for a resync since events may have been missed meanwhile.
    informer.on('error', () => {
      if (signal.aborted) return;
      onEvent({ type: 'resync' });
      retry = setTimeout(() => {
        backoff = Math.min(backoff * 2, 30_000);
        informer.start().catch(() => undefined);
      }, backoff);
    });
    informer.on('connect', () => {
      backoff = 500;
    });

    await new Promise<void>((resolve) => {
      const stop = () => {
        clearTimeout(retry);
        informer.stop().catch(() => undefined).finally(resolve);
      };
      signal.addEventListener('abort', stop, { once: true });
      informer.start().catch(() => undefined);
    });
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`Kubernetes API at ${this.server} did not answer within ${PING_TIMEOUT_MS / 1000} s`)),
        PING_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([
        this.call('list', () => this.api.listNamespacedSecret({ namespace: this.namespace, labelSelector: REQUEST_SELECTOR, limit: 1 })),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The raw Secret, for the loop's and the key owner's reads. */
  private async read(id: string): Promise<SecretObject> {
    const secret = await this.call('get', () => this.api.readNamespacedSecret({ name: secretName(id), namespace: this.namespace }), id);
    return secret as unknown as SecretObject;
  }

  private async livePair(email: string, model: string): Promise<KeyRequest[]> {
    const { items } = await this.list(`${REQUEST_SELECTOR},${LABEL.pair}=${pairHash(email, model)}`, { limit: MAX_PAGE });
    return items.filter((r) => isLive(r.state)).sort(oldestFirst);
  }

  private async list(labelSelector: string, page: PageOptions = {}): Promise<Page> {
    const limit = Math.min(Math.max(page.limit ?? 100, 1), MAX_PAGE);
    const result = await this.call('list', () =>
      this.api.listNamespacedSecret({ namespace: this.namespace, labelSelector, limit, _continue: page.continue }),
    );
    const items: KeyRequest[] = [];
    const invalid: MalformedSecretError[] = [];
    for (const secret of result.items) {
      try {
        items.push(decodeRequest(secret));
      } catch (err) {
        if (err instanceof MalformedSecretError) invalid.push(err);
        else throw err;
      }
    }
    const next = result.metadata?._continue;
    return next ? { items, invalid, continue: next } : { items, invalid };
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
