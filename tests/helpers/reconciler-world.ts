import { PassThrough } from 'node:stream';
import { AuditShipper } from '@/lib/audit/shipper';
import { StdoutSink } from '@/lib/audit/sinks/stdout';
import type { CloudEvent } from '@/lib/audit/cloudevent';
import { randomBytes } from 'node:crypto';
import { keyHash } from '@/lib/domain/key-request';
import { type BudgetChange, type Gateway, type GatewayKey, GatewayRefusedError, GatewayUnavailableError, KeyAlreadyExistsError, type KeyInfo, type MintInput, type SpendFilter, type SpendReport } from '@/lib/gateway/types';
import type { EventRecorder, LoopEvent } from '@/lib/loop/events';
import type { FailpointName } from '@/lib/loop/failpoints';
import { Reconciler, type ReconcilerSettings } from '@/lib/loop/reconciler';
import type { MailMessage, Mailer } from '@/lib/mail/types';
import { buildPlugins } from '@/plugins';
import { MemoryStore } from './memory-store';
import { TEST_MODELS, TEST_PLUGINS } from './portal';
import { RECONCILER_SETTINGS } from './reconciler-settings';

// The reconciler alone, with in-memory fakes and a clock the test moves: no servers, no sleeps.

/** Keys by value as LiteLLM keeps them (by hash), with LiteLLM's alias rule. */
export class FakeGateway implements Gateway {
  readonly kind = 'local' as const;
  readonly keys = new Map<string, MintInput>();
  readonly calls: string[] = [];
  /** Thrown by the next calls, in order. */
  readonly faults: Error[] = [];
  /** Budgets set through updateBudget, by the key's hash. */
  readonly budgets = new Map<string, number>();
  /** What spendReport answers for a user; a user not here is "unknown" (undefined). */
  readonly spendReports = new Map<string, SpendReport>();

  newKey(): string {
    return `sk-kp-${randomBytes(12).toString('hex')}`;
  }
  /** The next generate stores the key but its answer is lost (a timeout after the fact). */
  loseNextAnswer = false;
  async generateKey(input: MintInput): Promise<{ expiresAt?: string }> {
    this.calls.push('generate');
    const fault = this.faults.shift();
    if (fault) throw fault;
    if (this.keys.has(input.key) || [...this.keys.values()].some((k) => k.alias === input.alias)) throw new KeyAlreadyExistsError();
    this.keys.set(input.key, input);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw new GatewayUnavailableError('no answer within 2000 ms');
    }
    return { expiresAt: '2026-03-01T00:00:00Z' };
  }
  async keyInfo(hash: string): Promise<KeyInfo | undefined> {
    this.calls.push('info');
    return [...this.keys.keys()].some((k) => keyHash(k) === hash) ? { expiresAt: '2026-03-01T00:00:00Z' } : undefined;
  }
  async deleteKey(alias: string): Promise<void> {
    this.calls.push('delete');
    const fault = this.faults.shift();
    if (fault) throw fault;
    for (const [k, v] of this.keys) if (v.alias === alias) this.keys.delete(k);
  }
  async listKeys(prefix: string): Promise<GatewayKey[]> {
    this.calls.push('list');
    return [...this.keys].filter(([, v]) => v.alias.startsWith(prefix)).map(([k, v]) => ({ token: keyHash(k), alias: v.alias, requestId: v.requestId }));
  }
  async updateBudget(hash: string, change: BudgetChange): Promise<KeyInfo> {
    // No `faults` here: they are queued for generate and delete, in the order a test expects.
    this.calls.push('update');
    const found = [...this.keys.values()].find((v) => keyHash(v.key) === hash);
    if (!found) throw new GatewayRefusedError(404, 'the gateway has no such key');
    this.budgets.set(hash, change.maxBudget);
    const expiresAt = '2026-03-01T00:00:00Z';
    const l = found.limits;
    return { expiresAt, usage: { spend: 0, maxBudget: change.maxBudget, budgetDuration: l.budget_duration ?? null, budgetResetAt: null, rpmLimit: l.rpm_limit ?? null, tpmLimit: l.tpm_limit ?? null, expiresAt } };
  }
  async spendReport(filter: SpendFilter): Promise<SpendReport | undefined> {
    this.calls.push('spend');
    return this.spendReports.get(filter.userId ?? `model:${filter.model ?? ''}`);
  }
  async listModels(): Promise<string[]> {
    return TEST_MODELS.map((m) => m.id);
  }
  async alive(): Promise<void> {}
}

export class FakeMailer implements Mailer {
  readonly kind = 'outbox' as const;
  readonly sent: MailMessage[] = [];
  send = async (m: MailMessage) => void this.sent.push(m);
  close(): void {}
}

export class FakeEvents implements EventRecorder {
  readonly events: LoopEvent[] = [];
  record = async (_r: unknown, e: LoopEvent) => void this.events.push(e);
  recordOnSecret = async (_s: unknown, e: LoopEvent) => void this.events.push(e);
}

/** Stands in for SIGKILL at a failpoint: the pass stops there, as the process would. */
export class Crash extends Error {}

const SETTINGS = RECONCILER_SETTINGS;

export function world(options: { crashAt?: FailpointName; settings?: Partial<ReconcilerSettings> } = {}) {
  let now = Date.parse('2026-02-01T12:00:00Z');
  const clock = () => new Date(now);
  const store = new MemoryStore(clock);
  const gateway = new FakeGateway();
  const mailer = new FakeMailer();
  const events = new FakeEvents();
  const make = (crashAt?: FailpointName) =>
    new Reconciler({
      store,
      gateway,
      mailer,
      events,
      plugins: buildPlugins(TEST_PLUGINS, {}),
      settings: { ...SETTINGS, ...options.settings },
      clock,
      failpoint: (name) => {
        if (name === crashAt) throw new Crash(name);
      },
    });
  const reconciler = make(options.crashAt);
  const signal = new AbortController().signal;
  // The audit trail as the stdout sink writes it, into a stream the test reads.
  const auditOut = new PassThrough();
  const auditLines: string[] = [];
  auditOut.on('data', (chunk: Buffer) => auditLines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const audit = new AuditShipper({ store, sink: new StdoutSink(auditOut), render: { source: 'https://keys.example.com', redactEmail: false }, settleMs: 0, batchSize: 500 });
  return {
    store,
    gateway,
    mailer,
    events,
    reconciler,
    /** A new process: no memory of the pass before. */
    restart: () => make(),
    run: (id: string, r = reconciler) => r.reconcile(id, signal),
    advance: (ms: number) => void (now += ms),
    audit,
    /** One round of the audit shipper (the leader's every second). */
    ship: () => audit.run(signal),
    /** Every audit record the sink took so far, as CloudEvents. */
    shipped: (): CloudEvent[] => auditLines.map((l) => JSON.parse(l) as CloudEvent),
  };
}
