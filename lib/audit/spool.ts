import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { mergeConfigMapData, readConfigMapData } from '../kube/configmap-data';
import { log } from '../log';
import type { RequestStore } from '../store/types';
import { type AuditFact, type AuditRecord, auditRecordSchema, newRecord } from './record';

/**
 * Where records about no request wait for the sink: a person offboarded or let back in, a key
 * with no request deleted at the gateway. Rare, so one write each; the shipper reads the spool
 * every few seconds and removes what the sink acknowledged. The record is written right after
 * the act it describes: a crash between the two loses that one record (the act itself is also in
 * the requests' own records: each revoked key and closed request says who offboarded and why).
 */
export interface AuditSpool {
  append(records: readonly AuditRecord[]): Promise<void>;
  /** Up to `limit` records waiting, oldest first. */
  read(limit: number): Promise<AuditRecord[]>;
  acknowledge(ids: readonly string[]): Promise<void>;
}

export const SPOOL_NAME = 'keyportal-audit-spool';
const SPOOL_COMPONENT = 'audit-spool';

function parse(entries: Array<[string, string]>): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const [, text] of entries) {
    try {
      const r = auditRecordSchema.safeParse(JSON.parse(text));
      if (r.success) out.push(r.data);
    } catch {
      // A hand-mangled entry is skipped, not fatal.
    }
  }
  return out.sort((a, b) => a.time.localeCompare(b.time));
}

/** One ConfigMap in the requests namespace; the record id is its data key, so appending and removing are merge patches without a read. */
export class KubernetesAuditSpool implements AuditSpool {
  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
  ) {}

  async append(records: readonly AuditRecord[]): Promise<void> {
    await mergeConfigMapData(this.kc, this.namespace, SPOOL_NAME, SPOOL_COMPONENT, Object.fromEntries(records.map((r) => [r.id, JSON.stringify(r)])));
  }

  async read(limit: number): Promise<AuditRecord[]> {
    return parse(Object.entries((await readConfigMapData(this.kc, this.namespace, SPOOL_NAME)) ?? {})).slice(0, limit);
  }

  async acknowledge(ids: readonly string[]): Promise<void> {
    if (ids.length) await mergeConfigMapData(this.kc, this.namespace, SPOOL_NAME, SPOOL_COMPONENT, Object.fromEntries(ids.map((id) => [id, null])));
  }
}

/** The embedded store's spool: one file per record in a folder beside the request folder. */
export class LocalAuditSpool implements AuditSpool {
  constructor(private readonly dir: string) {}

  async append(records: readonly AuditRecord[]): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const r of records) await writeFile(path.join(this.dir, `${r.id}.json`), JSON.stringify(r), { mode: 0o600 });
  }

  async read(limit: number): Promise<AuditRecord[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const entries = await Promise.all(names.filter((n) => n.endsWith('.json')).map(async (n) => [n, await readFile(path.join(this.dir, n), 'utf8').catch(() => '')] as [string, string]));
    return parse(entries).slice(0, limit);
  }

  async acknowledge(ids: readonly string[]): Promise<void> {
    for (const id of ids) await rm(path.join(this.dir, `${id}.json`), { force: true });
  }
}

/** Beside the requests; undefined for a store with no durable place (the unit tests' memory store). */
export function createAuditSpool(store: Pick<RequestStore, 'cluster' | 'kind'>): AuditSpool | undefined {
  if (store.cluster) return new KubernetesAuditSpool(store.cluster.kubeConfig, store.cluster.namespace);
  // By shape, not instanceof: Next bundles this module more than once (lib/runtime.ts says why).
  if (store.kind === 'local' && 'dir' in store && typeof store.dir === 'string') return new LocalAuditSpool(path.join(/*turbopackIgnore: true*/ path.dirname(store.dir), 'audit-spool'));
  return undefined;
}

/** Records a fact about no request; a spool that cannot be written is logged, never fails the act it records. */
export async function spoolFact(store: Pick<RequestStore, 'cluster' | 'kind'>, subject: string, fact: AuditFact, now: Date = new Date()): Promise<void> {
  const spool = createAuditSpool(store);
  if (!spool) return;
  await spool.append([newRecord(subject, fact, now)]).catch((err: unknown) => log('warn', 'audit: a record about no request could not be spooled', { type: fact.type, error: (err as Error).message?.slice(0, 200) }));
}
