import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ApiException, type KubeConfig, PatchStrategy } from '@kubernetes/client-node';
import { rawCall } from '../kube/raw';
import { StoreUnavailableError } from '../store/errors';
import type { RequestStore } from '../store/types';
import type { State } from '../domain/states';

/** What is left of a request the retention sweep deleted: enough for its status link to say so. */
export interface ArchivedEntry {
  id: string;
  /** The first 16 hex of the requester's hash (lib/domain/key-request.ts requesterHash): whose it was, without the email. */
  requester: string;
  state: State;
  /** When it ended and when it was deleted (RFC 3339). */
  endedAt: string;
  deletedAt: string;
}

/**
 * Tombstones of deleted requests, written before the delete: a status link to one says "archived
 * on …, its history is in the audit trail" instead of "not found". About 60 bytes a request (a
 * Secret is 2 to 4 KB), and it is never deleted.
 */
export interface Archive {
  add(entries: readonly ArchivedEntry[]): Promise<void>;
  find(id: string): Promise<ArchivedEntry | undefined>;
}

const encode = (e: ArchivedEntry): string => `${e.state} ${e.endedAt} ${e.deletedAt} ${e.requester}`;
function decode(id: string, text: string | undefined): ArchivedEntry | undefined {
  const [state, endedAt, deletedAt, requester] = (text ?? '').split(' ');
  return state && endedAt && deletedAt && requester ? { id, requester, state: state as State, endedAt, deletedAt } : undefined;
}

export const ARCHIVE_COMPONENT = 'archive';
/**
 * One ConfigMap per first two characters of the id (32 × 32 = 1,024 at most), the id a data key:
 * a lookup is one GET, an addition a merge patch that adds keys without a read first (two sweeps
 * adding at once cannot lose each other's). ~17,000 entries fit one ConfigMap's 1 MiB, so about
 * 17 million deleted requests in all.
 */
export const archiveName = (id: string): string => `keyportal-archive-${id.slice(0, 2)}`;

interface ConfigMap {
  data?: Record<string, string>;
}

export class KubernetesArchive implements Archive {
  private readonly path: string;
  constructor(
    private readonly kc: KubeConfig,
    namespace: string,
  ) {
    this.path = `/api/v1/namespaces/${namespace}/configmaps`;
  }

  async add(entries: readonly ArchivedEntry[]): Promise<void> {
    const shards = new Map<string, Record<string, string>>();
    for (const e of entries) {
      const name = archiveName(e.id);
      shards.set(name, { ...(shards.get(name) ?? {}), [e.id]: encode(e) });
    }
    for (const [name, data] of shards) {
      try {
        await rawCall<ConfigMap>(this.kc, { method: 'PATCH', path: `${this.path}/${name}`, contentType: PatchStrategy.MergePatch, body: { data } });
      } catch (err) {
        if (!(err instanceof ApiException) || err.code !== 404) throw unavailable(err);
        const metadata = { name, labels: { 'app.kubernetes.io/managed-by': 'keyportal', 'app.kubernetes.io/component': ARCHIVE_COMPONENT } };
        await rawCall<ConfigMap>(this.kc, { method: 'POST', path: this.path, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata, data } }).catch(async (e: unknown) => {
          // Created by a rival a moment ago: add to it.
          if (!(e instanceof ApiException) || e.code !== 409) throw unavailable(e);
          await rawCall<ConfigMap>(this.kc, { method: 'PATCH', path: `${this.path}/${name}`, contentType: PatchStrategy.MergePatch, body: { data } });
        });
      }
    }
  }

  async find(id: string): Promise<ArchivedEntry | undefined> {
    try {
      const cm = await rawCall<ConfigMap>(this.kc, { method: 'GET', path: `${this.path}/${archiveName(id)}` });
      return decode(id, cm.data?.[id]);
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw unavailable(err);
    }
  }
}

const unavailable = (err: unknown): StoreUnavailableError =>
  new StoreUnavailableError(`the request archive (ConfigMaps keyportal-archive-*) cannot be read or written: ${(err as Error).message?.slice(0, 200)}`, { cause: err });

/** The embedded store's archive: one line per deleted request in a file beside the request folder. */
export class LocalArchive implements Archive {
  constructor(private readonly file: string) {}

  async add(entries: readonly ArchivedEntry[]): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    await appendFile(this.file, entries.map((e) => `${e.id} ${encode(e)}\n`).join(''), { mode: 0o600 });
  }

  async find(id: string): Promise<ArchivedEntry | undefined> {
    const text = await readFile(this.file, 'utf8').catch(() => '');
    const line = text.split('\n').findLast((l) => l.startsWith(`${id} `));
    return line ? decode(id, line.slice(id.length + 1)) : undefined;
  }
}

/** Beside the requests: in their namespace, or a file beside their folder. */
export function createArchive(store: RequestStore): Archive {
  if (store.cluster) return new KubernetesArchive(store.cluster.kubeConfig, store.cluster.namespace);
  // By shape, not instanceof: Next bundles this module more than once (lib/runtime.ts says why).
  if (store.kind === 'local' && 'dir' in store && typeof store.dir === 'string') return new LocalArchive(path.join(/*turbopackIgnore: true*/ path.dirname(store.dir), 'archive.log'));
  throw new Error(`no archive for a ${store.kind} request store`);
}
