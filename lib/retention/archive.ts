import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { mergeConfigMapData, readConfigMapData } from '../kube/configmap-data';
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

export class KubernetesArchive implements Archive {
  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
  ) {}

  async add(entries: readonly ArchivedEntry[]): Promise<void> {
    const shards = new Map<string, Record<string, string>>();
    for (const e of entries) {
      const name = archiveName(e.id);
      const shard = shards.get(name) ?? {};
      shard[e.id] = encode(e);
      shards.set(name, shard);
    }
    for (const [name, data] of shards) await mergeConfigMapData(this.kc, this.namespace, name, ARCHIVE_COMPONENT, data).catch((err: unknown) => Promise.reject(unavailable(err)));
  }

  async find(id: string): Promise<ArchivedEntry | undefined> {
    const data = await readConfigMapData(this.kc, this.namespace, archiveName(id)).catch((err: unknown) => Promise.reject(unavailable(err)));
    return decode(id, data?.[id]);
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
