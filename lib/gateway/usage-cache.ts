import { log } from '../log';
import { type Gateway, GatewayRefusedError, GatewayUnavailableError } from './types';
import type { KeyUsage } from './usage';

/** What the cache knows of one key's usage. */
export type UsageLookup =
  | { kind: 'ok'; usage: KeyUsage; checkedAt: number }
  /** The gateway does not know the key (deleted by hand at the gateway, or a different gateway). */
  | { kind: 'unknown'; checkedAt: number }
  /** The gateway could not be asked (down, slow, refusing the master key): shown as "usage unavailable". */
  | { kind: 'unavailable'; checkedAt: number };

interface Entry {
  at: number;
  lookup: Promise<UsageLookup>;
  /** Set once the lookup has answered. */
  settled?: UsageLookup;
}

export interface UsageCacheOptions {
  /** How long an answer is reused: the issue asks for a minute, which is also LiteLLM's own spend-update cadence. */
  ttlMs?: number;
  /** How long a failure is reused: short, so a gateway that comes back shows usage soon, yet pages never pile onto one that is down. */
  failureTtlMs?: number;
  /** Gateway calls in flight at once, for the whole process: a list page of fifty keys must not become fifty parallel calls. */
  concurrency?: number;
  /** A page waits at most this long for the gateway; usage is a nicety, not worth a slow page. */
  timeoutMs?: number;
  /** Keys remembered; the oldest is dropped beyond it. */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Usage per key hash, asked of the gateway at most once a minute per key in this process,
 * however many pages and tabs ask. Concurrent askers share one call. Never throws: a gateway
 * that cannot answer is "unavailable", and why is logged here (the messages of the gateway's
 * errors hold no key and no master key), never shown to the browser.
 */
export class UsageCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly failureTtlMs: number;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly gateway: Pick<Gateway, 'keyInfo'>,
    options: UsageCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.failureTtlMs = options.failureTtlMs ?? 15_000;
    this.concurrency = options.concurrency ?? 4;
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? (() => Date.now());
  }

  get(keySha256: string): Promise<UsageLookup> {
    const cached = this.entries.get(keySha256);
    if (cached) {
      // A call still in flight is shared; a failure is kept for less time than an answer.
      const ttl = cached.settled?.kind === 'unavailable' ? this.failureTtlMs : this.ttlMs;
      if (!cached.settled || this.now() - cached.at < ttl) return cached.lookup;
    }
    return this.refresh(keySha256);
  }

  private refresh(keySha256: string): Promise<UsageLookup> {
    const entry: Entry = { at: this.now(), lookup: this.limited(() => this.ask(keySha256)) };
    void entry.lookup.then((l) => (entry.settled = l));
    this.entries.delete(keySha256);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(keySha256, entry);
    return entry.lookup;
  }

  private async ask(keySha256: string): Promise<UsageLookup> {
    try {
      const info = await this.gateway.keyInfo(keySha256, AbortSignal.timeout(this.timeoutMs));
      const checkedAt = this.now();
      if (!info) return { kind: 'unknown', checkedAt };
      // A gateway that reports no usage (an older LiteLLM's odd field) is as good as unavailable.
      return info.usage ? { kind: 'ok', usage: info.usage, checkedAt } : { kind: 'unavailable', checkedAt };
    } catch (err) {
      const known = err instanceof GatewayUnavailableError || err instanceof GatewayRefusedError;
      log('warn', 'usage: the gateway could not report a key\'s usage', { error: known ? err.message : err instanceof Error ? err.name : 'unknown' });
      return { kind: 'unavailable', checkedAt: this.now() };
    }
  }

  /** Runs `fn` once fewer than `concurrency` calls are in flight; a finished call hands its slot straight to the next in line. */
  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
