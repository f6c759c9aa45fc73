import { setTimeout as sleep } from 'node:timers/promises';
import { AUDIT_FINALIZER, type KeyRequest, requesterHash, rfc3339 } from '../domain/key-request';
import type { State } from '../domain/states';
import { log } from '../log';
import { eachInState } from '../store/collect';
import { ConflictError, RequestNotFoundError } from '../store/errors';
import type { RequestStore } from '../store/types';
import type { Archive, ArchivedEntry } from './archive';

/** The states a request ends in: only these are ever deleted; `issued` never. */
export const ENDED_STATES: readonly State[] = ['denied', 'failed', 'revoked', 'expired'];

export interface RetentionDeps {
  store: RequestStore;
  archive: Archive;
  endedDays: number;
  maxDeletesPerMinute: number;
  clock: () => Date;
  /** Some record of the request has not reached the audit sink yet (lib/audit/shipper.ts `owes`); by default, any record still in it. */
  auditOwed?: (r: KeyRequest) => boolean;
  /** Waits between deletions (tests pass one that does not). */
  pause?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface RetentionReport {
  deleted: number;
  /** Due, but their audit records are not acknowledged yet (or a key or a top-up still holds them): those met before the turn's deletions were found. */
  held: number;
}

const DAY_MS = 86_400_000;

/**
 * When a request ended: the latest of the times it carries, so a hand edit to an old
 * `created-at` (or any one older time) cannot make it look older than it is.
 */
export function endedAt(r: Pick<KeyRequest, 'createdAt' | 'decidedAt' | 'issuedAt' | 'expiresAt' | 'state'>): number {
  const times = [r.createdAt, r.decidedAt, r.issuedAt, r.state === 'expired' ? r.expiresAt : undefined].map((t) => (t ? Date.parse(t) : Number.NaN)).filter((t) => !Number.isNaN(t));
  return Math.max(...times);
}

/** Nothing of it is owed any more: its records are acknowledged, its key and budget are back, nothing is being sent. */
function releasable(r: KeyRequest, auditOwed: (r: KeyRequest) => boolean): boolean {
  return !auditOwed(r) && !r.deletingSince && !r.retry && !r.notifying && (r.finalizers ?? []).every((f) => f === AUDIT_FINALIZER);
}

/** The sweep's turn: every ten seconds, a sixth of the minute's deletions, so a request released by its last acknowledgement goes soon. */
export const RETENTION_EVERY_MS = 10_000;

/**
 * One turn of the retention sweep (Lease holder only): requests that ended more than `endedDays`
 * ago, at most a sixth of `maxDeletesPerMinute` (a turn is ten seconds), one every
 * 60 s / maxDeletesPerMinute, so the rate never passes the setting. Each
 * gets its tombstone first (so its status link says "archived"), then a delete conditional on the
 * version read; the audit finalizer keeps the Secret until its `request.deleted` record is
 * acknowledged (lib/audit/shipper.ts).
 */
export async function sweepRetention(d: RetentionDeps, signal: AbortSignal): Promise<RetentionReport> {
  const report: RetentionReport = { deleted: 0, held: 0 };
  if (d.endedDays <= 0) return report;
  const cutoff = d.clock().getTime() - d.endedDays * DAY_MS;
  const turn = Math.ceil(d.maxDeletesPerMinute / 6);
  const due: KeyRequest[] = [];
  walk: for (const state of ENDED_STATES) {
    for await (const r of eachInState(d.store, state, { pageSize: 100 })) {
      // Oldest first, and nothing ends before it was made: from here on none is due. Without
      // this, every turn walked every ended request (100,000 of them every ten seconds).
      if (Date.parse(r.createdAt) > cutoff) break;
      if (endedAt(r) > cutoff) continue;
      if (!releasable(r, d.auditOwed ?? ((x) => x.auditPending !== undefined))) {
        report.held++;
        continue;
      }
      due.push(r);
      // The turn's deletions are found: a store of 100,000 due requests (a first install of
      // retention on an old namespace) is not walked whole every ten seconds to find ten.
      if (due.length >= turn) break walk;
    }
  }
  if (!due.length || signal.aborted) return report;
  const deletedAt = rfc3339(d.clock());
  const entries: ArchivedEntry[] = due.map((r) => ({ id: r.id, requester: requesterHash(r.email).slice(0, 16), state: r.state, endedAt: rfc3339(new Date(endedAt(r))), deletedAt }));
  await d.archive.add(entries);
  const gap = Math.floor(60_000 / d.maxDeletesPerMinute);
  const pause = d.pause ?? pauseFor;
  for (const [i, r] of due.entries()) {
    if (signal.aborted) break;
    if (i > 0) await pause(gap, signal);
    try {
      await d.store.remove(r);
      report.deleted++;
    } catch (err) {
      // Changed since it was read (a label edit, a late record): judged again next turn.
      if (err instanceof ConflictError || err instanceof RequestNotFoundError) continue;
      throw err;
    }
  }
  if (report.deleted) log('info', 'retention: deleted requests that ended long ago; their audit records go before they do', { deleted: report.deleted, endedDays: d.endedDays, held: report.held });
  return report;
}

function pauseFor(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}
