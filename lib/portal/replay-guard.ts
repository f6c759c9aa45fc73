/**
 * Remembers the signatures of webhook calls already accepted, for as long as their timestamps
 * stay within tolerance; after that the signature check itself refuses them. Bounded in size so
 * a flood of valid calls cannot grow it without limit.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** True the first time a signature is offered within its lifetime, false on a replay. */
  firstTime(signature: string, nowMs: number): boolean {
    this.prune(nowMs);
    if (this.seen.has(signature)) return false;
    if (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.seen.set(signature, nowMs + this.ttlMs);
    return true;
  }

  /** Forgets a signature whose call did not take effect (the caller may retry the same bytes). */
  forget(signature: string): void {
    this.seen.delete(signature);
  }

  private prune(nowMs: number): void {
    // Insertion order is expiry order (one TTL for all), so stop at the first live entry.
    for (const [sig, expires] of this.seen) {
      if (expires > nowMs) break;
      this.seen.delete(sig);
    }
  }
}
