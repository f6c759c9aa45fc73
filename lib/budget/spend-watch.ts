import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyRequest } from '../domain/key-request';
import { GatewayUnavailableError, type Gateway } from '../gateway/types';
import type { KeyUsage } from '../gateway/usage';
import { log } from '../log';
import { spendAlertMessage } from '../mail/budget-templates';
import type { TemplateContext } from '../mail/templates';
import { type Mailer, MailUnavailableError } from '../mail/types';
import type { EventRecorder } from '../loop/events';
import { updateLatest } from '../store/retry-on-conflict';
import { eachInState } from '../store/collect';
import type { RequestStore } from '../store/types';

export interface SpendWatchDeps {
  store: RequestStore;
  gateway: Gateway;
  mailer: Mailer;
  events: EventRecorder;
  /** lifecycle.topUp.notifyAtPercent */
  percent: number;
  /** lifecycle.topUp.checksPerSecond: the most /key/info calls a second. */
  checksPerSecond: number;
  context(r: KeyRequest): TemplateContext;
}

export interface SpendWatchReport {
  checked: number;
  skipped: number;
  alerted: string[];
  unavailable: number;
}

/** A key under this share of its budget is checked every FAR_EVERY rounds only. */
const NEAR = 0.5;
const FAR_EVERY = 4;

/** The budget period an alert belongs to: the reset time, or the key's whole life when the budget never resets. */
export const budgetPeriod = (u: KeyUsage): string => u.budgetResetAt ?? 'key';

/**
 * Tells requesters once per budget period that a key's spend reached `percent` of its budget,
 * with a link to ask for a top-up. Runs on the Lease holder every lifecycle.topUp.checkMinutes:
 * each issued key with a budget is read from the gateway's `/key/info` by hash, at most
 * `checksPerSecond`, and a key far from its limit only every fourth round (what was seen last
 * is remembered in this process; a new leader checks everything once). The email goes first,
 * then the period is recorded on the key (`keyportal.dev/budget-alert`): a crash between can
 * send it twice, never lose it, as with every email.
 */
export class SpendWatch {
  private round = 0;
  private readonly fraction = new Map<string, number>();

  constructor(private readonly d: SpendWatchDeps) {}

  async run(signal: AbortSignal): Promise<SpendWatchReport> {
    const report: SpendWatchReport = { checked: 0, skipped: 0, alerted: [], unavailable: 0 };
    const gapMs = 1000 / this.d.checksPerSecond;
    const everyone = this.round++ % FAR_EVERY === 0;
    const seen = new Set<string>();
    for await (const r of eachInState(this.d.store, 'issued')) {
      if (signal.aborted) return report;
      if (r.topsUp || !r.keySha256 || r.deletingSince) continue;
      seen.add(r.id);
      const last = this.fraction.get(r.id);
      if (!everyone && last !== undefined && last < NEAR) {
        report.skipped++;
        continue;
      }
      const started = Date.now();
      await this.check(r as KeyRequest & { keySha256: string }, report, signal);
      const rest = gapMs - (Date.now() - started);
      if (rest > 0) await sleep(rest, undefined, { signal }).catch(() => undefined);
    }
    // Keys no longer issued are forgotten, so the map stays as large as the keys are many.
    for (const id of this.fraction.keys()) if (!seen.has(id)) this.fraction.delete(id);
    return report;
  }

  private async check(r: KeyRequest & { keySha256: string }, report: SpendWatchReport, signal: AbortSignal): Promise<void> {
    let usage: KeyUsage | undefined;
    try {
      usage = (await this.d.gateway.keyInfo(r.keySha256, signal))?.usage;
    } catch (err) {
      if (!(err instanceof GatewayUnavailableError)) throw err;
      report.unavailable++;
      return;
    }
    report.checked++;
    if (!usage || usage.maxBudget === null || usage.maxBudget <= 0) return;
    const share = usage.spend / usage.maxBudget;
    this.fraction.set(r.id, share);
    const period = budgetPeriod(usage);
    if (share * 100 < this.d.percent || r.budgetAlert === period) return;
    try {
      await this.d.mailer.send({ to: [r.email], ...spendAlertMessage(r, usage, Math.floor(share * 100), this.d.context(r)) });
    } catch (err) {
      if (!(err instanceof MailUnavailableError)) throw err;
      log('warn', 'spend alert: the email could not be sent; tried again next round', { request: r.id, error: err.message });
      return;
    }
    report.alerted.push(r.id);
    await updateLatest(this.d.store, r, (current) => (current.budgetAlert === period ? undefined : { budgetAlert: period }));
    this.d.events.record(r, { type: 'Normal', reason: 'BudgetAlert', message: `spend reached ${Math.floor(share * 100)}% of the budget; the requester was told` }).catch(() => undefined);
  }
}
