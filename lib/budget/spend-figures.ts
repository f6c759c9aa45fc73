import { type KeyRequest, utcDay } from '../domain/key-request';
import { GatewayUnavailableError, type Gateway } from '../gateway/types';
import { log } from '../log';
import type { RequestStore } from '../store/types';
import { round2 } from './ceiling';

/**
 * What an approver sees beside a request (the queue, the review email) and a plugin may use:
 * money, as the gateway reports it. `null` is "unknown" (the gateway cannot say): never a guess.
 */
export interface SpendFigures {
  /** What the requester's keys spent in the last 30 days (USD). */
  last30Days: number | null;
  /** The requester's keys issued now. */
  liveKeys: Array<{ id: string; model: string; expiresAt?: string }>;
  /** What a key for this model typically costs a month here: the median over current keys (USD). */
  typicalMonthly: number | null;
  /** How many current keys that median is over. */
  typicalOver: number;
}

export interface SpendFigureOptions {
  /** How long a figure is reused; spend moves slowly and approvers reload often. */
  ttlMs?: number;
  /** Entries kept per kind; the oldest goes beyond it. */
  maxEntries?: number;
  now?: () => number;
}

const DAY_MS = 86_400_000;
/** Keys younger than this are left out of what a model's keys typically cost. */
const MIN_AGE_DAYS = 7;

/** The median of a list, or null for an empty one. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Spend figures from the gateway's daily activity (LiteLLM `/user/daily/activity`): one report
 * per requester and one per model over the last 30 days, each reused for `ttlMs` in this
 * process, so a queue of a hundred requests costs a handful of gateway calls. A key's monthly
 * figure is its 30-day spend, scaled up for a key younger than 30 days (spend per day it lived,
 * times 30); keys younger than a week are left out.
 */
export class SpendFigureService {
  private readonly byUser = new Map<string, { at: number; value: Promise<number | null> }>();
  private readonly byModel = new Map<string, { at: number; value: Promise<{ median: number | null; over: number }> }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly store: RequestStore,
    private readonly gateway: Gateway,
    options: SpendFigureOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 10 * 60_000;
    this.maxEntries = options.maxEntries ?? 2000;
    this.now = options.now ?? Date.now;
  }

  async figures(r: Pick<KeyRequest, 'id' | 'email' | 'model'>): Promise<SpendFigures> {
    const [last30Days, typical, own] = await Promise.all([this.userSpend(r.email), this.modelTypical(r.model), this.store.query({ email: r.email, state: 'issued', limit: 100 })]);
    const liveKeys = own.items.filter((k) => !k.topsUp && k.id !== r.id).map((k) => ({ id: k.id, model: k.model, ...(k.expiresAt ? { expiresAt: k.expiresAt } : {}) }));
    return { last30Days, liveKeys, typicalMonthly: typical.median, typicalOver: typical.over };
  }

  private window(): { from: string; to: string } {
    const now = this.now();
    return { from: utcDay(now - 29 * DAY_MS), to: utcDay(now) };
  }

  private userSpend(email: string): Promise<number | null> {
    return this.cached(this.byUser, email, async () => {
      const { from, to } = this.window();
      const report = await this.gateway.spendReport({ userId: email }, from, to);
      return report ? round2(report.total) : null;
    }, null);
  }

  private modelTypical(model: string): Promise<{ median: number | null; over: number }> {
    return this.cached(this.byModel, model, async () => {
      const { from, to } = this.window();
      const [report, current] = await Promise.all([this.gateway.spendReport({ model }, from, to), this.store.query({ model, state: 'issued', limit: 500 })]);
      if (!report) return { median: null, over: 0 };
      const perKey = new Map<string, number>();
      for (const d of report.days) for (const [hash, usd] of Object.entries(d.byKey)) perKey.set(hash, (perKey.get(hash) ?? 0) + usd);
      const now = this.now();
      // A key younger than a week says too little: a day's spend times thirty is a guess.
      const monthly = current.items
        .filter((k) => !k.topsUp && k.keySha256)
        .map((k) => ({ k, lived: k.issuedAt ? Math.min(30, (now - Date.parse(k.issuedAt)) / DAY_MS) : 30 }))
        .filter(({ lived }) => lived >= MIN_AGE_DAYS)
        .map(({ k, lived }) => ((perKey.get(k.keySha256 as string) ?? 0) / lived) * 30);
      const m = median(monthly);
      return { median: m === null ? null : round2(m), over: monthly.length };
    }, { median: null, over: 0 });
  }

  /** One call per key per ttl, shared by everyone asking meanwhile; a gateway that cannot answer is "unknown" (and retried sooner). */
  private cached<T>(map: Map<string, { at: number; value: Promise<T> }>, key: string, load: () => Promise<T>, unknown: T): Promise<T> {
    const now = this.now();
    const hit = map.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = load().catch((err: unknown) => {
      if (!(err instanceof GatewayUnavailableError)) log('warn', 'spend figures: the gateway answered unexpectedly', { error: (err as Error).message });
      // A failure is kept a tenth as long: figures come back soon after the gateway does.
      map.set(key, { at: now - this.ttlMs * 0.9, value: Promise.resolve(unknown) });
      return unknown;
    });
    map.delete(key);
    map.set(key, { at: now, value });
    if (map.size > this.maxEntries) map.delete(map.keys().next().value as string);
    return value;
  }
}
