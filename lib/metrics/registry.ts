import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreStats } from '../store/types';
import { CHAT_METHODS, CHAT_OUTCOMES, GATEWAY_OPERATIONS, GATEWAY_OUTCOMES, MAIL_OUTCOMES, STATE_LABELS, SWEEP_ACTIONS } from './labels';

/** What a running approval loop shows at a scrape (lib/loop/loop.ts implements it). */
export interface LoopGauges {
  /** Requests waiting for a worker now. */
  readonly queueDepth: number;
  /** Holds the Lease (or needs none) and reconciles. */
  readonly leading: boolean;
}

/** What an audit shipper (lib/audit/shipper.ts) shows at a scrape. */
export interface AuditGauges {
  backlog(): number;
  oldestSeconds(): number;
}

/** Where the scrape-time gauges read from; filled in by whoever starts the process. */
export interface ScrapeSources {
  store?: { stats(): StoreStats | undefined };
  readonly loops: Set<LoopGauges>;
  readonly audits: Set<AuditGauges>;
  ready?: () => Promise<boolean>;
  /** Status reads held for a change now (lib/store/change-feed.ts). */
  held?: { readonly waiting: number };
}

export interface KeyportalMetrics {
  readonly registry: Registry;
  readonly sources: ScrapeSources;
  readonly decisions: Counter<'decider' | 'outcome'>;
  readonly issueDuration: Histogram;
  readonly gatewayCalls: Counter<'operation' | 'outcome'>;
  readonly gatewayDuration: Histogram<'operation'>;
  readonly mailSends: Counter<'outcome'>;
  readonly retries: Counter;
  readonly eventsDropped: Counter;
  readonly illegalEdits: Counter;
  /** Keys at the gateway that no issued request owns, as the last sweep found them (by what it did). */
  readonly gatewayOrphans: Gauge<'action'>;
  /** Issued requests whose key the last sweep did not find at the gateway. */
  readonly gatewayMissing: Gauge;
  readonly chatCalls: Counter<'method' | 'outcome'>;
  readonly auditShipped: Counter;
  readonly auditFailures: Counter;
  /** Adds the process and Node.js runtime metrics, once. */
  withDefaults(): void;
}

// Human review can sit in the chain, so "created → issued" spans milliseconds to a day.
const ISSUE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400];
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A readiness check slower than this reports what the last one found, so a scrape never hangs on it. */
const READY_BUDGET_MS = 4_000;

/** A fresh registry with every Keyportal metric (tests make their own; the process shares one). */
export function createMetrics(): KeyportalMetrics {
  const registry = new Registry();
  const registers = [registry];
  const sources: ScrapeSources = { loops: new Set(), audits: new Set() };
  let defaults = false;
  let lastReady = 0;

  new Gauge({
    name: 'keyportal_requests',
    help: 'Key requests per state, from the in-memory index (no API call per scrape).',
    labelNames: ['state'] as const,
    registers,
    collect() {
      this.reset();
      const stats = sources.store?.stats();
      if (!stats) return;
      for (const state of STATE_LABELS) this.set({ state }, stats.counts[state]);
    },
  });
  new Gauge({
    name: 'keyportal_oldest_in_review_seconds',
    help: 'Age of the oldest request waiting for a person (0 when none waits).',
    registers,
    collect() {
      const oldest = sources.store?.stats()?.oldestCreatedAt['in-review'];
      const since = oldest ? Date.parse(oldest) : Number.NaN;
      this.set(Number.isNaN(since) ? 0 : Math.max(0, (Date.now() - since) / 1000));
    },
  });
  new Gauge({
    name: 'keyportal_loop_queue_depth',
    help: 'Requests queued for a loop worker now (requeues waiting out a backoff are not counted).',
    registers,
    collect() {
      let depth = 0;
      for (const loop of sources.loops) depth += loop.queueDepth;
      this.set(depth);
    },
  });
  new Gauge({
    name: 'keyportal_audit_backlog',
    help: 'Audit records written but not yet acknowledged by the audit sink (they wait in their request Secrets), as the leader tracks them.',
    registers,
    collect() {
      let n = 0;
      for (const a of sources.audits) n += a.backlog();
      this.set(n);
    },
  });
  new Gauge({
    name: 'keyportal_audit_oldest_seconds',
    help: 'Age of the oldest audit record not yet acknowledged by the sink (0 when none waits).',
    registers,
    collect() {
      let oldest = 0;
      for (const a of sources.audits) oldest = Math.max(oldest, a.oldestSeconds());
      this.set(oldest);
    },
  });
  new Gauge({
    name: 'keyportal_status_reads_held',
    help: 'Status page, "My requests" and approvers\' queue reads this web server holds open until what they show changes (long polls).',
    registers,
    collect() {
      this.set(sources.held?.waiting ?? 0);
    },
  });
  new Gauge({
    name: 'keyportal_loop_leader',
    help: '1 when this process runs the approval loop (holds the Lease, or needs none), else 0.',
    registers,
    collect() {
      this.set([...sources.loops].some((l) => l.leading) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'keyportal_ready',
    help: '1 when the readiness checks pass (config, request cache, not stopping), else 0.',
    registers,
    async collect() {
      if (!sources.ready) return this.set(0);
      const check = sources.ready().then(
        (ok) => (lastReady = ok ? 1 : 0),
        () => (lastReady = 0),
      );
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<number>((resolve) => {
        timer = setTimeout(() => resolve(lastReady), READY_BUDGET_MS);
      });
      this.set(await Promise.race([check, late]));
      clearTimeout(timer);
    },
  });

  const decisions = new Counter({
    name: 'keyportal_decisions_total',
    help: 'Decisions recorded by this process: who decided (a category or the plugin) and how.',
    labelNames: ['decider', 'outcome'] as const,
    registers,
  });
  const issueDuration = new Histogram({
    name: 'keyportal_issue_duration_seconds',
    help: 'From a request being created to its key being issued, review included.',
    buckets: ISSUE_BUCKETS,
    registers,
  });
  const gatewayCalls = new Counter({
    name: 'keyportal_gateway_calls_total',
    help: 'Calls to the LLM gateway admin API, by operation and how they ended.',
    labelNames: ['operation', 'outcome'] as const,
    registers,
  });
  const gatewayDuration = new Histogram({
    name: 'keyportal_gateway_call_duration_seconds',
    help: 'Duration of calls to the LLM gateway admin API.',
    labelNames: ['operation'] as const,
    buckets: CALL_BUCKETS,
    registers,
  });
  const mailSends = new Counter({
    name: 'keyportal_mail_sends_total',
    help: 'Emails handed to SMTP (or the outbox), by how it ended.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const retries = new Counter({
    name: 'keyportal_loop_retries_total',
    help: 'Retries the loop scheduled: a gateway or mail failure backing off, or a reconcile that failed.',
    registers,
  });
  const eventsDropped = new Counter({
    name: 'keyportal_events_dropped_total',
    help: 'Kubernetes Events not written: their queue was full, or the loop stopped before it drained.',
    registers,
  });
  const illegalEdits = new Counter({
    name: 'keyportal_illegal_label_edits_total',
    help: 'State label edits the label-edit table refuses, put back by the loop (Warning Event IllegalTransition).',
    registers,
  });
  const gatewayOrphans = new Gauge({
    name: 'keyportal_gateway_orphans',
    help: 'Keys with the keyportal- alias at the gateway that no issued request owns, as the last sweep found them: deleted, or only reported (loop.orphans).',
    labelNames: ['action'] as const,
    registers,
  });
  const gatewayMissing = new Gauge({
    name: 'keyportal_gateway_missing_keys',
    help: 'Issued requests whose key the last sweep did not find at the gateway (never re-minted: see their Warning Events).',
    registers,
  });
  const chatCalls = new Counter({
    name: 'keyportal_chat_calls_total',
    help: 'Calls to the chat (Slack) Web API, by method and how they ended.',
    labelNames: ['method', 'outcome'] as const,
    registers,
  });
  const auditShipped = new Counter({ name: 'keyportal_audit_records_shipped_total', help: 'Audit records the sink acknowledged (a record sent again after a crash counts again).', registers });
  const auditFailures = new Counter({ name: 'keyportal_audit_sink_failures_total', help: 'Batches the audit sink did not acknowledge (down, refusing, hanging, closed mid-batch); they are sent again.', registers });
  for (const action of SWEEP_ACTIONS) gatewayOrphans.set({ action }, 0);
  // Series that alerts take increase() of exist from the start: a first failure then counts as
  // 0 → 1 instead of appearing already at 1, which increase() cannot see.
  for (const operation of GATEWAY_OPERATIONS) for (const outcome of GATEWAY_OUTCOMES) gatewayCalls.inc({ operation, outcome }, 0);
  for (const outcome of MAIL_OUTCOMES) mailSends.inc({ outcome }, 0);
  for (const method of CHAT_METHODS) for (const outcome of CHAT_OUTCOMES) chatCalls.inc({ method, outcome }, 0);

  return {
    registry,
    sources,
    decisions,
    auditShipped,
    auditFailures,
    issueDuration,
    gatewayCalls,
    gatewayDuration,
    mailSends,
    retries,
    eventsDropped,
    illegalEdits,
    gatewayOrphans,
    gatewayMissing,
    chatCalls,
    withDefaults() {
      if (defaults) return;
      defaults = true;
      collectDefaultMetrics({ register: registry });
    },
  };
}

/**
 * Next.js compiles instrumentation, route handlers and pages into separate bundles, each with its
 * own copy of this module: a module-level registry would split the counts between them, and the
 * metrics server (started from instrumentation) would never see a decision made in a route
 * handler. The process-wide one lives on globalThis, as lib/runtime.ts does with the runtime.
 */
const METRICS = Symbol.for('keyportal.metrics');
const shared = globalThis as typeof globalThis & { [METRICS]?: KeyportalMetrics };

/** The process's metrics, made on first use. */
export function metrics(): KeyportalMetrics {
  shared[METRICS] ??= createMetrics();
  return shared[METRICS];
}
