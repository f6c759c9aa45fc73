import { log } from './log';

/**
 * One way out for the web server and the worker. On SIGTERM (Kubernetes stopping the pod) or
 * SIGINT: say not-ready, finish what is in hand (the loop's current steps, then the Lease handed
 * back so another replica leads at once instead of after the Lease expires), and exit. A step that
 * hangs must not outlast the pod's grace period, so everything gets `graceMs` and then the process
 * exits anyway, non-zero, saying so.
 *
 * Next's own handler exits at once and would cut the loop off mid-step; the image and
 * `npm start` set NEXT_MANUAL_SIG_HANDLE so that this one is the only one.
 */
const STATE = Symbol.for('keyportal.shutdown');
type Task = { name: string; run: () => Promise<void> };
const shared = globalThis as typeof globalThis & { [STATE]?: { tasks: Task[]; stopping: boolean; installed: boolean } };

function state() {
  shared[STATE] ??= { tasks: [], stopping: false, installed: false };
  return shared[STATE];
}

/** True once a stop signal arrived: readyz answers not-ready so the Service stops sending. */
export function isShuttingDown(): boolean {
  return state().stopping;
}

/** Something to finish before the process exits (run in the order added). */
export function onShutdown(name: string, run: () => Promise<void>): void {
  state().tasks.push({ name, run });
}

export interface ShutdownTiming {
  /** Everything must be done by then; the process then exits 1 anyway. */
  graceMs?: number;
  /**
   * The web server keeps answering this long after the signal (saying not-ready, and closing each
   * connection after its answer) before it exits: Kubernetes takes a terminating pod out of its
   * Service's endpoints at the same moment it signals it, and kube-proxies and load balancers
   * take a moment to follow. Exiting at once drops the requests they still send, and the idle
   * kept-alive connections clients hold (a rolling upgrade would fail requests).
   */
  drainMs?: number;
}

export function installShutdown(role: 'server' | 'worker', { graceMs = 8_000, drainMs = 0 }: ShutdownTiming = {}): void {
  const s = state();
  if (s.installed) return;
  s.installed = true;
  const stop = (signal: NodeJS.Signals) => {
    if (s.stopping) return;
    s.stopping = true;
    const started = Date.now();
    log('info', `${role}: stopping`, { signal });
    const deadline = setTimeout(() => {
      log('error', `${role}: still stopping after ${graceMs} ms; exiting anyway`, { pending: s.tasks.map((t) => t.name) });
      process.exit(1);
    }, graceMs);
    deadline.unref();
    void (async () => {
      for (const task of s.tasks) {
        try {
          await task.run();
        } catch (err) {
          log('error', `${role}: ${task.name} failed while stopping`, { error: err instanceof Error ? err.message : String(err) });
        }
      }
      const draining = started + drainMs - Date.now();
      if (draining > 0) await new Promise((resolve) => setTimeout(resolve, draining));
      log('info', `${role}: stopped`, { ms: Date.now() - started });
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
