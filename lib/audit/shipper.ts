import { createHash } from 'node:crypto';
import { AUDIT_FINALIZER, type KeyRequest } from '../domain/key-request';
import { failpoint } from '../loop/failpoints';
import { RequestNotFoundError } from '../store/errors';
import { updateLatest } from '../store/retry-on-conflict';
import type { RequestStore, WatchEvent } from '../store/types';
import { type RenderOptions, toCloudEvent } from './cloudevent';
import type { AuditSpool } from './spool';
import { type AuditCursor, ShippedKnowledge, versionNumber } from './cursor';
import { type AuditRecord, recordsOf } from './record';
import type { AuditSink } from './sink';
import { SinkSender } from './sink-sender';

export interface ShipperDeps {
  store: RequestStore;
  sink: AuditSink;
  render: RenderOptions;
  /** A request's records go once its newest is this old (one acknowledgement write per burst of steps). */
  settleMs: number;
  batchSize: number;
  /** Why a deleted request went, when we deleted it (the retention sweep); else an API client did. */
  deletedBy?: (id: string) => Promise<string | undefined>;
  /**
   * The loop has a step to take on this request now (lib/loop/plan.ts): its records wait until it
   * rests, so the acknowledgement does not race the loop's next write (a 409 for the loop, which
   * then reads and writes again). Without it, under a burst where a request's steps are more than
   * `settleMs` apart, one in two requests paid a conflict and a second acknowledgement.
   */
  busy?: (r: KeyRequest) => boolean;
  /** Records about no request (lib/audit/spool.ts), read every SPOOL_EVERY_MS. */
  spool?: AuditSpool;
  /**
   * A store whose resource versions compare (Kubernetes): what went is kept as a cursor
   * (lib/audit/cursor.ts), one write a round, instead of an acknowledgement write per request;
   * records that went leave their Secret with its next write (`shippedOf`). `version`: the
   * cache's watch version, at or below which every event has reached this shipper.
   */
  cursor?: {
    store: AuditCursor;
    version: () => string | undefined;
    /** Hands a cursor move to the cache, which then lets go of the records it covers. */
    covered?: (through: bigint) => void;
    /** The cursor as the cache last read it. */
    heard?: () => bigint;
  };
  now?: () => number;
}

export interface ShipReport {
  shipped: number;
  batches: number;
  /** Set when the sink failed this round: the records stay and are sent again after a backoff. */
  error?: string;
}

interface Tracked {
  count: number;
  /** Time of the newest record (ms). */
  newest: number;
  /** Time of the oldest record (ms): the backlog's age. */
  oldest: number;
  /** Being deleted with only the audit finalizer left: its `request.deleted` record is owed. */
  deleting: boolean;
  /** The version tracked (with the cursor: the cursor stays below it while records wait). */
  version: bigint | undefined;
}

/** At most this many batches per round, so one round never holds the leader's periodic turn for long. */
const MAX_BATCHES_PER_ROUND = 20;
const SPOOL_EVERY_MS = 5_000;
/** A request the loop keeps busy (a step failing again and again) holds its records no longer than this. */
const BUSY_HOLD_MAX_MS = 60_000;
/** The cursor is written at most this often (records sent since are sent again after a restart). */
const CURSOR_WRITE_EVERY_MS = 2_000;

/**
 * Ships the audit records that wait in request Secrets to the sink, on the Lease holder: the
 * records of a request whose newest record is `settleMs` old (or that is being deleted), up to
 * `batchSize` a batch. What the sink took is then known two ways:
 * - with a cursor (Kubernetes): in memory, and durably as the cursor, written once per round; the
 *   records leave their Secret with its next write (`shippedOf`). No write per request.
 * - without one: one write per request removes exactly the records sent (a record appended
 *   meanwhile stays).
 * A crash before the cursor or the write sends the batch again after the restart, with the same ids.
 *
 * Every replica running the loop tracks the backlog from its cache (the metric is right whoever
 * leads); only the leader's `run` ships. Memory: one small entry per request with records waiting,
 * and one batch; records waiting on a sink that is down stay in etcd, not here.
 */
export class AuditShipper {
  private readonly tracked = new Map<string, Tracked>();
  private readonly sender: SinkSender;
  private spoolReadAt = 0;
  private watching = false;
  /** The whole cache was walked once (the first round): the watch keeps the picture current from there. */
  private scanned = false;
  private rescanning = false;
  private readonly known = new ShippedKnowledge();
  private cursorLoaded = false;
  /** The cursor as last written (or read), and when it was written. */
  private persisted = -1n;
  private persistedAt = 0;
  private readonly now: () => number;

  constructor(private readonly d: ShipperDeps) {
    this.now = d.now ?? Date.now;
    this.sender = new SinkSender(d.sink, this.now, () => this.backlog());
  }

  /** Follows the store from now on (every replica); idempotent. */
  follow(signal: AbortSignal): void {
    if (this.watching) return;
    this.watching = true;
    void this.d.store.watch((event) => void this.onEvent(event), signal).finally(() => {
      this.watching = false;
    });
  }

  /** The records of `r` not yet known to have reached the sink (the retention sweep deletes only a request with none). */
  owes(r: KeyRequest): boolean {
    return this.d.cursor ? this.known.unshipped(r).length > 0 : r.auditPending !== undefined;
  }

  /** The ids of `r`'s records known to have reached the sink, which a write of `r` drops (none without a cursor: the acknowledgement does). */
  shippedOf(r: Pick<KeyRequest, 'id' | 'resourceVersion' | 'auditPending'>): string[] {
    return this.d.cursor ? this.known.shippedOf(r) : [];
  }

  private async loadCursor(cursor: AuditCursor): Promise<void> {
    const through = await cursor.read();
    this.cursorLoaded = true;
    if (through !== undefined) this.learned(through);
  }

  /**
   * What the cache heard of the cursor (it reads it every few seconds for its own sake): a
   * replica that does not ship learns from it what the leader sent, without a read of its own.
   */
  private catchUp(): void {
    const heard = this.d.cursor?.heard?.();
    if (heard !== undefined && heard > this.known.through) this.learned(heard);
  }

  /** A cursor read from the cluster: true, and already written. */
  private learned(through: bigint): void {
    if (through > this.persisted) this.persisted = through;
    this.advanceTo(through);
  }

  private advanceTo(through: bigint): void {
    this.known.advance(through);
    this.d.cursor?.covered?.(through);
    for (const [id, t] of this.tracked) if (!t.deleting && t.version !== undefined && t.version <= through) this.tracked.delete(id);
  }

  /**
   * The cursor moves to just below the oldest version still holding a record not sent (or to the
   * watch's version when none does), read in one synchronous pass so no event is half-seen; it is
   * written when it moved, at most every CURSOR_WRITE_EVERY_MS.
   */
  private async moveCursor(cursor: AuditCursor, version: () => string | undefined): Promise<void> {
    let to = versionNumber(version());
    if (to === undefined || this.rescanning) return;
    for (const t of this.tracked.values()) {
      if (t.version === undefined) return;
      if (t.version - 1n < to) to = t.version - 1n;
    }
    if (to > this.known.through) this.advanceTo(to);
    const through = this.known.through;
    if (through > this.persisted && this.now() - this.persistedAt >= CURSOR_WRITE_EVERY_MS) {
      await cursor.write(through);
      this.persisted = through;
      this.persistedAt = this.now();
    }
  }

  /**
   * Writes what is known to have gone, however recently the cursor was last written: the loop
   * calls it when the process stops, before the Lease is handed back, so a rolling restart does
   * not send the last seconds' records again. Only what a round already worked out: the shipper's
   * watch has stopped by now, so the cache's newer version is not its to cover.
   */
  async persist(): Promise<void> {
    const through = this.known.through;
    if (!this.d.cursor || through <= this.persisted) return;
    await this.d.cursor.store.write(through);
    this.persisted = through;
    this.persistedAt = this.now();
  }

  /** Records not yet acknowledged by the sink, as this replica's cache shows them. */
  backlog(): number {
    this.catchUp();
    let n = 0;
    for (const t of this.tracked.values()) n += t.count + (t.deleting ? 1 : 0);
    return n;
  }

  /** Age (s) of the oldest record not yet acknowledged; 0 when none waits. */
  oldestSeconds(): number {
    this.catchUp();
    let oldest = Infinity;
    for (const t of this.tracked.values()) oldest = Math.min(oldest, t.oldest);
    return oldest === Infinity ? 0 : Math.max(0, (this.now() - oldest) / 1000);
  }

  /** The sink's last failure while it keeps failing; undefined once a batch went through. */
  get sinkError(): string | undefined {
    return this.sender.error;
  }

  private async onEvent(event: WatchEvent): Promise<void> {
    if (event.type === 'delete') {
      this.known.forget(event.id);
      return void this.tracked.delete(event.id);
    }
    if (event.type === 'resync') return this.rescan();
    if (event.type !== 'upsert') return;
    // With the version in hand, at once: the cursor counts on every event up to the watch's version having been seen.
    if (event.request) {
      if (this.d.cursor) this.known.saw(event.request, event.previous);
      return this.track(event.request);
    }
    try {
      this.track(await this.d.store.get(event.id));
    } catch (err) {
      if (err instanceof RequestNotFoundError) this.tracked.delete(event.id);
    }
  }

  private async rescan(): Promise<void> {
    this.rescanning = true;
    try {
      await this.rescanPages();
    } finally {
      this.rescanning = false;
    }
  }

  private async rescanPages(): Promise<void> {
    let token: string | undefined;
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const page = await this.d.store.listAll({ limit: 500, ...(token ? { continue: token } : {}) });
      for (const r of page.items) {
        seen.add(r.id);
        this.track(r);
      }
      token = page.continue;
      if (!token) break;
    }
    for (const id of this.tracked.keys()) if (!seen.has(id)) this.tracked.delete(id);
  }

  private track(r: KeyRequest): void {
    const records = this.pending(r);
    const deleting = deletionOwed(r);
    if (!records.length && !deleting) return void this.tracked.delete(r.id);
    const times = records.map((x) => Date.parse(x.time)).filter((t) => !Number.isNaN(t));
    const deletedAt = r.deletingSince ? Date.parse(r.deletingSince) : this.now();
    this.tracked.set(r.id, {
      count: records.length,
      newest: times.length ? Math.max(...times) : deletedAt,
      oldest: Math.min(...times, deleting ? deletedAt : Infinity),
      deleting,
      version: versionNumber(r.resourceVersion),
    });
  }

  /** The records of `r` still to send. */
  private pending(r: KeyRequest): readonly AuditRecord[] {
    const records = recordsOf(r);
    return this.d.cursor ? this.known.unshipped(r, records) : records;
  }

  /** One round: batches of ready requests until none is ready, the sink fails, or the round's bound. */
  async run(signal: AbortSignal): Promise<ShipReport> {
    this.follow(signal);
    if (this.d.cursor && !this.cursorLoaded) await this.loadCursor(this.d.cursor.store);
    if (!this.scanned) {
      await this.rescan();
      this.scanned = true;
    }
    const report: ShipReport = { shipped: 0, batches: 0 };
    if (this.sender.resting) return { ...report, ...(this.sender.error ? { error: this.sender.error } : {}) };
    if (this.d.spool && this.now() - this.spoolReadAt >= SPOOL_EVERY_MS) {
      this.spoolReadAt = this.now();
      const records = await this.d.spool.read(this.d.batchSize);
      if (records.length) {
        const error = await this.sender.send(records.map((r) => toCloudEvent(r, this.d.render)), signal);
        if (error) return { ...report, error };
        await this.d.spool.acknowledge(records.map((r) => r.id));
        report.shipped += records.length;
        report.batches++;
      }
    }
    const sent = new Set<string>();
    for (let b = 0; b < MAX_BATCHES_PER_ROUND && !signal.aborted; b++) {
      const batch = await this.nextBatch(sent);
      if (!batch.length) break;
      const events = batch.flatMap((item) => item.records.map((r) => toCloudEvent(r, this.d.render)));
      const error = await this.sender.send(events, signal);
      if (error) return { ...report, error };
      failpoint('after-audit-sent');
      await Promise.all(batch.map((item) => this.acknowledge(item)));
      report.shipped += events.length;
      report.batches++;
    }
    if (this.d.cursor) await this.moveCursor(this.d.cursor.store, this.d.cursor.version);
    return report;
  }

  private async nextBatch(sent: Set<string>): Promise<Array<{ request: KeyRequest; records: readonly AuditRecord[]; deleted: boolean }>> {
    const now = this.now();
    const ready = [...this.tracked.entries()]
      // |now - newest|: after the clock jumped back, records "from the future" are not held until it catches up.
      .filter(([id, t]) => !sent.has(id) && (t.deleting || Math.abs(now - t.newest) >= this.d.settleMs))
      .sort((a, b) => a[1].oldest - b[1].oldest);
    const batch: Array<{ request: KeyRequest; records: readonly AuditRecord[]; deleted: boolean }> = [];
    let size = 0;
    for (const [id] of ready) {
      if (size >= this.d.batchSize) break;
      sent.add(id);
      let request: KeyRequest;
      try {
        request = await this.d.store.get(id);
      } catch (err) {
        if (err instanceof RequestNotFoundError) this.tracked.delete(id);
        continue;
      }
      const deleted = deletionOwed(request);
      const t = this.tracked.get(id);
      if (!deleted && t && now - t.newest < BUSY_HOLD_MAX_MS && this.d.busy?.(request)) continue;
      const records = deleted ? [...this.pending(request), await this.deletedRecord(request)] : this.pending(request);
      if (!records.length) continue;
      batch.push({ request, records, deleted });
      size += records.length;
    }
    return batch;
  }

  /** Made again, with the same id, until acknowledged: the deletion's time and the Secret's uid fix it. */
  private async deletedRecord(r: KeyRequest): Promise<AuditRecord> {
    const at = r.deletingSince ?? new Date(this.now()).toISOString();
    const id = createHash('sha256').update(`${r.uid ?? r.id}\n${at}\nrequest.deleted`).digest('hex').slice(0, 32);
    const by = await this.d.deletedBy?.(r.id);
    return { id, type: 'request.deleted', time: at, subject: r.id, data: { requester: r.email, model: r.model, state: r.state, by: by ?? 'an API client (kubectl delete)', via: by ? 'keyportal' : 'kubectl' } };
  }

  /** Removes the records sent; a deleted request whose every record went lets go of the audit finalizer. */
  private async acknowledge(item: { request: KeyRequest; records: readonly AuditRecord[]; deleted: boolean }): Promise<void> {
    const ids = item.records.map((r) => r.id);
    // A version that does not compare (not Kubernetes') cannot be covered: acknowledged by a write, as without a cursor.
    if (this.d.cursor && versionNumber(item.request.resourceVersion) !== undefined) {
      this.known.add(item.request, ids);
      // No write: the cursor will cover the request, and its next write drops the records.
      if (!item.deleted) {
        const current = await this.d.store.get(item.request.id).catch((err: unknown) => {
          if (err instanceof RequestNotFoundError) return undefined;
          throw err;
        });
        return void (current ? this.track(current) : this.tracked.delete(item.request.id));
      }
    }
    try {
      const written = await updateLatest(this.d.store, item.request, (current) => {
        const waiting = this.pending(current);
        const left = waiting.filter((r) => !ids.includes(r.id));
        const letGo = item.deleted && deletionOwed(current) && left.length === 0;
        if (!letGo && left.length === waiting.length) return undefined;
        return { auditAck: ids, ...(letGo ? { auditFinalizer: false as const } : {}) };
      });
      if (written) {
        // The watch brings the new version; until then this round must not send the same again.
        const t = this.tracked.get(item.request.id);
        if (t && item.deleted) this.tracked.delete(item.request.id);
        else if (t) this.track(await this.d.store.get(item.request.id));
      }
    } catch (err) {
      if (err instanceof RequestNotFoundError) return void this.tracked.delete(item.request.id);
      throw err;
    }
  }
}

/** Being deleted and held by nothing but the audit finalizer: its key (if any) is gone, its `request.deleted` record is owed. */
export function deletionOwed(r: Pick<KeyRequest, 'deletingSince' | 'finalizers'>): boolean {
  return r.deletingSince !== undefined && (r.finalizers ?? []).every((f) => f === AUDIT_FINALIZER) && (r.finalizers ?? []).includes(AUDIT_FINALIZER);
}
