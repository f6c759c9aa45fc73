import type { KubeConfig } from '@kubernetes/client-node';
import type { KeyRequest } from '../domain/key-request';
import { mergeConfigMapData, readConfigMapData } from '../kube/configmap-data';
import { type AuditRecord, recordsOf } from './record';

/**
 * "Every record in every request Secret at or below this resourceVersion has reached the sink":
 * the shipper's durable answer to "which records went", one write per shipping round instead of
 * one acknowledgement write per request. Resource versions of one resource type compare as
 * integers since Kubernetes 1.35 (KEP-5504, "comparable resource versions", GA).
 */
export interface AuditCursor {
  read(): Promise<bigint | undefined>;
  write(through: bigint): Promise<void>;
}

export const CURSOR_NAME = 'keyportal-audit-cursor';
const CURSOR_COMPONENT = 'audit-cursor';
const CURSOR_KEY = 'shippedThrough';

/** A resourceVersion as an integer; undefined for anything else (a store whose versions do not compare). */
export function versionNumber(rv: string | undefined): bigint | undefined {
  return rv && /^[0-9]{1,30}$/.test(rv) ? BigInt(rv) : undefined;
}

/** One ConfigMap beside the requests, one data key: merge-patched, so it needs no read first. */
export class KubernetesAuditCursor implements AuditCursor {
  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
  ) {}

  async read(): Promise<bigint | undefined> {
    return versionNumber((await readConfigMapData(this.kc, this.namespace, CURSOR_NAME))?.[CURSOR_KEY]);
  }

  async write(through: bigint): Promise<void> {
    await mergeConfigMapData(this.kc, this.namespace, CURSOR_NAME, CURSOR_COMPONENT, { [CURSOR_KEY]: through.toString() });
  }
}

type Versioned = Pick<KeyRequest, 'id' | 'resourceVersion' | 'auditPending' | 'auditShippedUpTo'>;

/**
 * What this process knows has reached the sink: everything at or below the cursor, and above it
 * the ids it sent itself or saw in a version at or below the cursor before the request moved on
 * (a `kubectl label` on a resting request carries its old records along: they are not sent again).
 * Ids are kept only while their request's version is above the cursor.
 */
export class ShippedKnowledge {
  private cursor = -1n;
  private readonly sent = new Map<string, { version: bigint; ids: Set<string> }>();

  get through(): bigint {
    return this.cursor;
  }

  covered(r: Pick<KeyRequest, 'resourceVersion'>): boolean {
    const v = versionNumber(r.resourceVersion);
    return v !== undefined && v <= this.cursor;
  }

  /** The records of `r` not known to have reached the sink. */
  unshipped(r: Versioned, records: readonly AuditRecord[] = recordsOf(r)): readonly AuditRecord[] {
    if (this.covered(r)) return [];
    const known = this.sent.get(r.id)?.ids;
    return known ? records.filter((x) => !known.has(x.id)) : records;
  }

  /** The ids of `r`'s records known to have reached the sink: a write of `r` may drop them. */
  shippedOf(r: Versioned): string[] {
    const records = recordsOf(r);
    if (this.covered(r)) return records.map((x) => x.id);
    const known = this.sent.get(r.id)?.ids;
    return known ? records.filter((x) => known.has(x.id)).map((x) => x.id) : [];
  }

  /**
   * A new version of a request: what its previous version held had gone if that version was
   * covered. Records are only ever appended, so that is every record up to the previous
   * version's last (whose id the cache keeps when it let go of the records themselves).
   */
  saw(request: Versioned, previous?: Versioned): void {
    const version = versionNumber(request.resourceVersion);
    const entry = this.sent.get(request.id);
    if (entry && version !== undefined) entry.version = version;
    if (!previous || !this.covered(previous) || this.covered(request)) return;
    const last = recordsOf(previous).at(-1)?.id ?? previous.auditShippedUpTo;
    const records = recordsOf(request);
    const upTo = last ? records.findIndex((x) => x.id === last) : -1;
    if (upTo >= 0) this.add(request, records.slice(0, upTo + 1).map((x) => x.id));
  }

  /** The sink took these records of `r`. */
  add(r: Versioned, ids: readonly string[]): void {
    const version = versionNumber(r.resourceVersion);
    if (version === undefined || !ids.length) return;
    const entry = this.sent.get(r.id) ?? { version, ids: new Set<string>() };
    if (version > entry.version) entry.version = version;
    for (const id of ids) entry.ids.add(id);
    this.sent.set(r.id, entry);
  }

  forget(id: string): void {
    this.sent.delete(id);
  }

  /** Moves the cursor (never back); ids of requests it now covers are no longer needed. */
  advance(to: bigint): void {
    if (to <= this.cursor) return;
    this.cursor = to;
    for (const [id, entry] of this.sent) if (entry.version <= to) this.sent.delete(id);
  }
}
