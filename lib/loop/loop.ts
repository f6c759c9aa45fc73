import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffSeconds } from '../domain/retry';
import { log } from '../log';
import { countRetry } from '../metrics/record';
import type { KeyRequest } from '../domain/key-request';
import type { MalformedSecretError } from '../store/errors';
import { BrokenSecrets } from './broken-secrets';
import type { RequestStore, WatchEvent } from '../store/types';
import type { LeaseElector } from './lease';
import { RequeueBucket } from './rate-limiter';
import type { ReconcileResult } from './reconciler';

export interface LoopOptions {
  concurrency: number;
  resyncMs: number;
  /** Backoff for reconciles that throw (store unreachable, a bug): capped exponential per request. */
  errorBackoff: { initialSeconds: number; maxSeconds: number };
  /** With a Kubernetes store: only the Lease holder reconciles. */
  elector?: LeaseElector;
  /** Every requeue draws from this bucket when it comes due (default 20 a second, bursts of 200). */
  requeues?: { perSecond: number; burst: number };
  /** Off: only the periodic resync finds work (the original design, kept for the bench). */
  watch?: boolean;
  /** Run once the loop has stopped for good: close what the loop alone uses (SMTP pool, Events in flight). */
  onStopped?: () => void | Promise<void>;
  /**
   * The request is at rest: a pass would find nothing to do, and only a change of it (which the
   * watch brings) could give it work (the reconciler's plan says done). The resync leaves it be
   * (with the watch on).
   */
  atRest?: (r: KeyRequest) => boolean;
  /** Told once per version of a request Secret that does not decode (a Warning Event). */
  onMalformed?: (error: MalformedSecretError) => void;
  /** Work only the leader does, every `everyMs` while it leads (the gateway sweep); a failure is logged and waits for the next turn. */
  periodic?: readonly PeriodicTask[];
  /**
   * The clock the reconciler plans by (ms; tests move it ahead). A wait is due when this clock or
   * the wall clock says so; a move of this clock is noticed at the next resync.
   */
  now?: () => number;
}

export interface PeriodicTask {
  name: string;
  everyMs: number;
  /** Wait this long after taking the lead before the first run (the cache and the loop settle first). */
  firstAfterMs?: number;
  run(signal: AbortSignal): Promise<unknown>;
  /** Once, when the process stops while leading: after the last run, before the Lease is handed back. */
  atStop?(): Promise<unknown>;
}

/** setTimeout's longest delay (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A clock moved against another by more than this: every wait is measured again. */
const CLOCK_STEP_MS = 1000;

type Reconcile = (id: string, signal: AbortSignal) => Promise<ReconcileResult>;

/**
 * Level-triggered like a Kubernetes controller: a watch wakes it within milliseconds of a change,
 * a periodic resync catches anything missed, and a work queue hands each request to at most one
 * worker at a time (a change that arrives mid-reconcile queues it once more).
 */
export class ApprovalLoop {
  private readonly ready = new Set<string>();
  /**
   * Where the workers take the next ready request from. One iterator kept across takes: asked
   * afresh each time, a Set emptied from the front skips every slot already taken until it is
   * compacted, so draining 100,000 (a resync of that many waiting keys) cost seconds.
   */
  private readyCursor: Iterator<string> = this.ready.values();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  /** Waits asked for: due at `at` by the plan's clock, or at `wallAt` by the wall clock, whichever comes first. */
  private readonly delayed = new Map<string, { at: number; wallAt: number; drawn: boolean; timer: NodeJS.Timeout }>();
  /** At the last look (the first resync of a lead takes one before any wait exists): the plan's clock less the wall clock, and the wall clock less the monotonic one timers run on. */
  private skew = 0;
  private drift = 0;
  private readonly failures = new Map<string, number>();
  private waiters: Array<() => void> = [];
  private active: AbortController | undefined;
  private running: Promise<void> | undefined;
  private readonly shutdown = new AbortController();
  private leaderRun: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly broken = new BrokenSecrets();
  private readonly bucket: RequeueBucket;

  constructor(
    private readonly store: RequestStore,
    private readonly reconcile: Reconcile,
    private readonly options: LoopOptions,
  ) {
    this.bucket = new RequeueBucket(options.requeues?.perSecond ?? 20, options.requeues?.burst ?? 200);
  }

  /** Requests waiting for a worker now (not those waiting out a backoff): the metrics' queue depth. */
  get queueDepth(): number {
    return this.ready.size;
  }

  /** Broken Secrets reported and still remembered, so as not to report them again; for tests. */
  get remembered(): number {
    return this.broken.size;
  }

  /** Requests waiting out a requeue (a reminder ahead, a backoff) now; for tests. */
  get waiting(): number {
    return this.delayed.size;
  }

  /** Reconciling now: this replica holds the Lease, or the store needs none. */
  get leading(): boolean {
    return this.active !== undefined;
  }

  start(): void {
    if (this.options.elector) {
      this.leaderRun = this.options.elector.run(
        this.shutdown.signal,
        () => this.activate(),
        () => this.deactivate(),
      );
    } else {
      this.activate();
    }
  }

  /** Finishes the steps in hand, stops watching, and hands back the Lease. */
  async stop(): Promise<void> {
    this.shutdown.abort();
    await this.deactivate();
    await this.leaderRun;
    await this.options.onStopped?.();
  }

  /** Queue a request now (a watch event, a resync, an API handler that just wrote it). */
  enqueue(id: string): void {
    if (!this.active || !id) return;
    const pending = this.delayed.get(id);
    if (pending) {
      clearTimeout(pending.timer);
      this.delayed.delete(id);
    }
    if (this.processing.has(id)) {
      this.dirty.add(id);
      return;
    }
    this.ready.add(id);
    this.wakeAll();
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * A requeue (a wait the request asked for, or an error's backoff). Its token is drawn from the
   * bucket when it comes due, not when it is asked for: a thousand retries due in the same second
   * are spread at the bucket's rate, while a wait asked long ahead costs nothing meanwhile (drawn
   * up front, a queue of waits would drive the bucket into debt and delay everything after it).
   */
  private enqueueAfter(id: string, wanted: number, drawn = false): void {
    let ms = wanted;
    if (ms <= 0 && !drawn) {
      ms = this.bucket.reserve();
      drawn = true;
    }
    if (ms <= 0) return this.enqueue(id);
    const at = this.now() + ms;
    const existing = this.delayed.get(id);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    this.arm(id, at, Date.now() + ms, drawn);
  }

  /**
   * One timer for the whole wait, whatever its length: at 100,000 issued keys a timer re-set every
   * resync period (or a pass each) kept the process busy collecting them. Past ~24.8 days a timer
   * overflows, so a longer wait is set again when it ends. Not unref'd: Node keeps the timer list
   * of an unref'd timer (one a distinct length) until that length has passed even when the timer
   * is cleared, so each wait re-set or forgotten left a list behind for up to 24.8 days. The loop
   * clears every wait when it stops, and sets none once stopped.
   */
  private arm(id: string, at: number, wallAt: number, drawn: boolean): void {
    if (!this.active) return;
    const left = Math.min(at - this.now(), wallAt - Date.now());
    const timer = setTimeout(() => this.wake(id), Math.max(0, Math.min(left, MAX_TIMER_MS)));
    this.delayed.set(id, { at, wallAt, drawn, timer });
  }

  /** A wait's timer ended, or the plan's clock moved: due by either clock, it is queued; else measured again. */
  private wake(id: string): void {
    const wait = this.delayed.get(id);
    if (!wait) return;
    clearTimeout(wait.timer);
    this.delayed.delete(id);
    if (this.now() < wait.at && Date.now() < wait.wallAt) return this.arm(id, wait.at, wait.wallAt, wait.drawn);
    if (wait.drawn) this.enqueue(id);
    else this.enqueueAfter(id, 0);
  }

  /**
   * Timers run on the monotonic clock; the wall clock may be stepped (NTP, a resumed VM) and the
   * plan's clock moved (tests move it by days). At each resync, when either moved against the
   * other since the last look, every wait is measured again, so one due by the moved clock is
   * taken up then, as it was when every waiting request had a pass each resync.
   */
  private lookAtClock(): void {
    const skew = this.now() - Date.now();
    const drift = Date.now() - performance.now();
    const moved = Math.abs(skew - this.skew) > CLOCK_STEP_MS || Math.abs(drift - this.drift) > CLOCK_STEP_MS;
    this.skew = skew;
    this.drift = drift;
    if (moved) for (const id of [...this.delayed.keys()]) this.wake(id);
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private activate(): void {
    if (this.active) return;
    const controller = new AbortController();
    this.active = controller;
    const { signal } = controller;
    const periodicTasks = (this.options.periodic ?? []).filter((t) => t.everyMs > 0);
    // Every worker waits on the signal while a plugin, the gateway or Slack answers, every task
    // between its turns, the watch and the resync once: past Node's default of 10 at 32 workers.
    // Set to what they need, not off: beyond it the warning still means a leak.
    setMaxListeners(this.options.concurrency + periodicTasks.length + 8, signal);
    const watching = this.options.watch === false ? Promise.resolve() : this.store.watch((e) => this.onWatchEvent(e, signal), signal);
    const resyncTimer = setInterval(() => void this.resync(signal), this.options.resyncMs);
    resyncTimer.unref();
    signal.addEventListener('abort', () => clearInterval(resyncTimer), { once: true });
    void this.resync(signal);
    const workers = Array.from({ length: this.options.concurrency }, () => this.worker(signal));
    const periodic = periodicTasks.map((t) => this.repeat(t, signal));
    this.running = Promise.all([watching, ...workers, ...periodic]).then(() => undefined);
    log('info', 'loop: started', { store: this.store.kind, concurrency: this.options.concurrency });
  }

  /** Runs a task now and then while leading; one run at a time, never two overlapping. */
  private async repeat(task: PeriodicTask, signal: AbortSignal): Promise<void> {
    let wait = task.firstAfterMs ?? Math.min(task.everyMs, 30_000);
    while (!signal.aborted) {
      // timers/promises lets go of its abort listener when the timer fires; a hand-made one that
      // did not left one listener a turn on the loop's signal (the audit shipper's: 86,400 a day).
      await sleep(wait, undefined, { signal, ref: false }).catch(() => undefined);
      if (signal.aborted) return;
      try {
        await task.run(signal);
      } catch (err) {
        if (!signal.aborted) log('warn', `loop: ${task.name} failed; it runs again at its next turn`, { error: (err as Error).message?.slice(0, 300) });
      }
      wait = task.everyMs;
    }
  }

  private onWatchEvent(e: WatchEvent, signal: AbortSignal): void {
    if (e.type === 'upsert') this.enqueue(e.id);
    else if (e.type === 'delete') this.forget(e.id);
    else if (e.type === 'resync') void this.resync(signal);
    else if (e.type === 'malformed') this.malformed(e.error);
  }

  /**
   * A request gone from the store (deleted, or no longer decodes) has nothing left to wait for: an
   * issued key's reminder was due weeks ahead, and its timer kept the request's id and a timer list
   * of its own until then, for every request an admin deleted. It comes back as an upsert if ever.
   */
  private forget(id: string): void {
    const wait = this.delayed.get(id);
    if (wait) clearTimeout(wait.timer);
    this.delayed.delete(id);
    this.failures.delete(id);
  }

  /** One report per version: a broken Secret is named once, then left alone until it changes. */
  private malformed(error: MalformedSecretError): void {
    if (!this.broken.firstSight(error)) return;
    log('warn', 'loop: skipping a malformed request Secret until it changes', { secret: error.secretName, error: error.problems.slice(0, 300) });
    this.options.onMalformed?.(error);
  }

  /** Stops leading; the elector (on losing the Lease or at shutdown) and `stop` may both ask, and share one stop. */
  private deactivate(): Promise<void> {
    if (!this.active) return this.stopping ?? Promise.resolve();
    this.stopping ??= this.windDown(this.active).finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private async windDown(controller: AbortController): Promise<void> {
    controller.abort();
    this.wakeAll();
    await this.running;
    // Leadership lost to a lapse is another replica's now: only a process that stops says its last word.
    if (this.shutdown.signal.aborted) await this.atStop();
    this.active = undefined;
    this.ready.clear();
    this.dirty.clear();
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    log('info', 'loop: stopped');
  }

  private async atStop(): Promise<void> {
    for (const task of this.options.periodic ?? []) {
      try {
        await task.atStop?.();
      } catch (err) {
        log('warn', `loop: ${task.name} could not finish at stop`, { error: (err as Error).message?.slice(0, 300) });
      }
    }
  }

  private async resync(signal: AbortSignal): Promise<void> {
    this.lookAtClock();
    // Without a watch, the resync is all that finds changes: it passes every request.
    const watched = this.options.watch !== false;
    let token: string | undefined;
    let pages = 0;
    const stillBroken = new Set<string>();
    try {
      do {
        const page = await this.store.listAll({ limit: 500, continue: token });
        for (const r of page.items) if (!watched || !this.leftToItself(r)) this.enqueue(r.id);
        for (const bad of page.invalid) {
          stillBroken.add(bad.secretName);
          this.malformed(bad);
        }
        token = page.continue;
      } while (token && !signal.aborted && ++pages < 10_000);
      if (!token && !signal.aborted) this.broken.keepOnly(stillBroken);
    } catch (err) {
      log('warn', 'loop: resync failed; the next one will try again', { error: (err as Error).message });
    }
  }

  /** The oldest ready request (a Set's iterator sees what is added after it, in order, until it ends). */
  private nextReady(): string | undefined {
    let next = this.readyCursor.next();
    if (next.done) {
      this.readyCursor = this.ready.values();
      next = this.readyCursor.next();
    }
    return next.done ? undefined : next.value;
  }

  /**
   * The resync need not pass it (with the watch on, which brings any change): at 100,000 stored
   * requests a pass for each every minute was ~10 % of a core. At rest, or waiting for a time
   * (its timer, and the clock look, take it up). Not one backing off from a failed pass: passed,
   * as ever, so an outage's failures are taken up within a resync period of its end.
   */
  private leftToItself(r: KeyRequest): boolean {
    return (this.delayed.has(r.id) && !this.failures.has(r.id)) || this.atRest(r);
  }

  /** A request the plan cannot read is not at rest: its pass reports why. */
  private atRest(r: KeyRequest): boolean {
    try {
      return this.options.atRest?.(r) ?? false;
    } catch {
      return false;
    }
  }

  private async worker(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const id = this.nextReady();
      if (id === undefined) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      this.ready.delete(id);
      this.processing.add(id);
      try {
        const result = await this.reconcile(id, signal);
        this.failures.delete(id);
        if (result.requeueAfterMs !== undefined) this.enqueueAfter(id, result.requeueAfterMs);
      } catch (err) {
        const attempt = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, attempt);
        const { initialSeconds, maxSeconds } = this.options.errorBackoff;
        const delay = backoffSeconds(attempt, initialSeconds, maxSeconds) * 1000;
        countRetry();
        log('warn', 'loop: reconcile failed; will retry', { request: id, attempt, retryInMs: Math.round(delay), error: (err as Error).message?.slice(0, 300) });
        this.enqueueAfter(id, delay);
      } finally {
        this.processing.delete(id);
        if (this.dirty.delete(id)) this.enqueue(id);
      }
    }
  }
}
