/**
 * The overall half of controller-runtime's default rate limiter: a token bucket every requeue
 * draws from, so a storm of retries (a gateway outage with thousands of requests waiting) is
 * spread out instead of hammering the API server and the gateway at once. The per-item half is
 * the loop's exponential error backoff. Tokens may go negative: each draw reserves the next free
 * slot, as golang.org/x/time/rate's Reserve does.
 */
export class RequeueBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Milliseconds this requeue must wait for its token (0 while the burst lasts). */
  reserve(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.perSecond) * 1000);
  }
}
