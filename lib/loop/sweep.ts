import { spoolFact } from '../audit/spool';
import { type KeyRequest, holdsGatewayFinalizer, idSchema } from '../domain/key-request';
import type { Gateway, GatewayKey } from '../gateway/types';
import { log } from '../log';
import { recordSweep } from '../metrics/record';
import { MalformedSecretError, RequestNotFoundError } from '../store/errors';
import { eachInState } from '../store/collect';
import type { RequestStore } from '../store/types';
import type { EventRecorder } from './events';

export const ALIAS_PREFIX = 'keyportal-';

export interface SweepDeps {
  store: RequestStore;
  gateway: Gateway;
  events: EventRecorder;
  /** `delete`: orphans are deleted at the gateway; `report`: only named (config `loop.orphans`). */
  orphans: 'delete' | 'report';
  clock?: () => Date;
}

export interface Orphan {
  alias: string;
  /** Why no issued request owns it. */
  why: string;
  deleted: boolean;
}

export interface SweepReport {
  startedAt: string;
  /** Keys at the gateway with the keyportal- alias. */
  keys: number;
  orphans: Orphan[];
  /** Issued requests (issued before the sweep began) whose key the gateway does not have. */
  missing: string[];
  /** Keys whose request Secret does not decode (edited by hand): named, never deleted. */
  malformed: string[];
  /** Keys the loop is still dealing with (minting, deleting): left to it. */
  inFlight: number;
  durationMs: number;
}

type Verdict = { kind: 'owned' } | { kind: 'in-flight' } | { kind: 'malformed' } | { kind: 'orphan'; why: string; request?: KeyRequest };

/** Who owns a key at the gateway, as the store says now. */
async function judge(store: RequestStore, key: GatewayKey): Promise<Verdict> {
  const id = key.alias.slice(ALIAS_PREFIX.length);
  if (!idSchema.safeParse(id).success) return { kind: 'orphan', why: 'its alias names no request id' };
  let r: KeyRequest;
  try {
    r = await store.get(id);
  } catch (err) {
    if (err instanceof RequestNotFoundError) return { kind: 'orphan', why: 'its request is gone' };
    if (err instanceof MalformedSecretError) return { kind: 'malformed' };
    throw err;
  }
  const ours = r.keySha256 === undefined || r.keySha256 === key.token;
  // The loop's own work in progress: a key being minted (stored, then registered, then issued),
  // or one it is deleting (an ended request or a deleted Secret still holding the finalizer).
  if (r.deletingSince || (ours && r.state === 'approved' && r.hasKey)) return { kind: 'in-flight' };
  if (ours && ['revoked', 'expired', 'denied', 'failed'].includes(r.state) && holdsGatewayFinalizer(r)) return { kind: 'in-flight' };
  if (r.state === 'issued') return ours ? { kind: 'owned' } : { kind: 'orphan', why: 'its request is issued with another key', request: r };
  return { kind: 'orphan', why: `its request is ${r.state}`, request: r };
}

/**
 * Compares the gateway's keyportal- keys with the store (DESIGN.md amendments, third round:
 * live keys at the gateway = issued requests). One listing of the gateway (page by page), and
 * the store's in-memory index for everything else, so it costs the API server nothing but the
 * Events it writes. A key no issued request owns is an orphan: reported, and with
 * `loop.orphans: delete` deleted (each re-judged just before). An issued request whose key the
 * gateway lacks gets a Warning Event and is never minted again on its own.
 */
export async function sweepGateway(d: SweepDeps, signal?: AbortSignal): Promise<SweepReport> {
  const clock = d.clock ?? (() => new Date());
  const started = clock();
  const keys = await d.gateway.listKeys(ALIAS_PREFIX, signal);
  const report: SweepReport = { startedAt: started.toISOString(), keys: keys.length, orphans: [], missing: [], malformed: [], inFlight: 0, durationMs: 0 };
  const aliases = new Set<string>();
  for (const key of keys) {
    if (signal?.aborted) break;
    aliases.add(key.alias);
    const verdict = await judge(d.store, key);
    if (verdict.kind === 'owned') continue;
    if (verdict.kind === 'in-flight') {
      report.inFlight++;
      continue;
    }
    if (verdict.kind === 'malformed') {
      report.malformed.push(key.alias);
      log('warn', 'sweep: a key at the gateway belongs to a request Secret that does not decode; fix the Secret (its Malformed Event says how)', { alias: key.alias });
      continue;
    }
    let deleted = false;
    if (d.orphans === 'delete') {
      // Judged again right before: the request may have moved on since the listing began.
      const again = await judge(d.store, key);
      if (again.kind === 'orphan') {
        await d.gateway.deleteKey(key.alias, { ...(signal ? { signal } : {}), changedBy: 'keyportal' });
        deleted = true;
        await spoolFact(d.store, `key:${key.alias}`, { type: 'key.orphan-removed', data: { alias: key.alias, why: verdict.why, by: 'keyportal', via: 'keyportal' } });
      } else continue;
    }
    report.orphans.push({ alias: key.alias, why: verdict.why, deleted });
    const message = `the gateway holds key ${key.alias}, which no issued request owns (${verdict.why}): ${deleted ? 'deleted at the gateway' : 'reported only (loop.orphans: report); delete it at the gateway, or set loop.orphans: delete'}`;
    log('warn', `sweep: ${message}`, { alias: key.alias });
    if (verdict.request) void d.events.record(verdict.request, { type: 'Warning', reason: deleted ? 'OrphanDeleted' : 'OrphanKey', message }).catch(() => undefined);
  }
  for await (const r of issuedBefore(d.store, started)) {
    if (aliases.has(`${ALIAS_PREFIX}${r.id}`)) continue;
    report.missing.push(r.id);
    const message = `the gateway has no key ${ALIAS_PREFIX}${r.id}, though this request is issued: it was deleted at the gateway by hand, or the gateway lost it. It is never minted again on its own: revoke it (kubectl label … keyportal.dev/state=revoked) and have the requester renew or ask again`;
    log('warn', 'sweep: an issued request has no key at the gateway', { request: r.id });
    void d.events.record(r, { type: 'Warning', reason: 'KeyMissingAtGateway', message }).catch(() => undefined);
  }
  report.durationMs = clock().getTime() - started.getTime();
  recordSweep(report.orphans.length, d.orphans === 'delete' ? 'deleted' : 'reported', report.missing.length);
  log('info', 'sweep: the gateway and the store compared', { keys: report.keys, orphans: report.orphans.length, missing: report.missing.length, malformed: report.malformed.length, inFlight: report.inFlight, ms: report.durationMs });
  return report;
}

/** Issued requests recorded before `t`: one issued after the listing began may have had its key listed on a page already read. */
async function* issuedBefore(store: RequestStore, t: Date): AsyncGenerator<KeyRequest> {
  // A top-up has no key of its own: "issued" means its budget was applied to its key's.
  for await (const r of eachInState(store, 'issued')) if (!r.deletingSince && !r.topsUp && (!r.issuedAt || Date.parse(r.issuedAt) < t.getTime() - 1000)) yield r;
}
