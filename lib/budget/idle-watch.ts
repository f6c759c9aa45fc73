import { type KeyRequest, rfc3339, utcDay } from '../domain/key-request';
import { GatewayRefusedError, GatewayUnavailableError, type Gateway, type SpendReport } from '../gateway/types';
import { log } from '../log';
import { idleWarningMessage } from '../mail/budget-templates';
import type { TemplateContext } from '../mail/templates';
import { type Mailer, MailUnavailableError } from '../mail/types';
import type { EventRecorder } from '../loop/events';
import { countDecision } from '../metrics/record';
import { updateLatest } from '../store/retry-on-conflict';
import { eachInState } from '../store/collect';
import type { RequestStore } from '../store/types';

export interface IdleWatchDeps {
  store: RequestStore;
  gateway: Gateway;
  mailer: Mailer;
  events: EventRecorder;
  /** lifecycle.idleDays and lifecycle.idleGraceDays */
  idleDays: number;
  graceDays: number;
  clock: () => Date;
  context(r: KeyRequest): TemplateContext;
}

export interface IdleReport {
  warned: string[];
  revoked: string[];
  /** Keys used again after a warning: the warning is taken back. */
  cleared: string[];
  /** Keys whose spend the gateway could not report: left alone, nothing guessed. */
  unknown: number;
}

const DAY_MS = 86_400_000;

/**
 * Keys nobody uses are keys nobody needs: an issued key with no spend for `idleDays` gets one
 * reminder ("used again, it stays"), and `graceDays` later, still unused, is revoked saying why
 * (the loop then deletes it at the gateway and emails as for any revocation). Spend comes from
 * the gateway's daily activity by the key's hash, one report per requester per round; a key
 * whose spend the gateway cannot report is left alone. Runs on the Lease holder.
 */
export class IdleWatch {
  constructor(private readonly d: IdleWatchDeps) {}

  async run(signal: AbortSignal): Promise<IdleReport> {
    const report: IdleReport = { warned: [], revoked: [], cleared: [], unknown: 0 };
    const now = this.d.clock().getTime();
    const reports = new Map<string, Promise<SpendReport | undefined>>();
    // Back far enough to cover a warning's whole grace period as well as the idle window.
    const from = utcDay(now - (this.d.idleDays + this.d.graceDays) * DAY_MS);
    const spendOf = (email: string) => {
      let found = reports.get(email);
      if (!found) {
        found = this.d.gateway.spendReport({ userId: email }, from, utcDay(now), signal).catch((err: unknown) => {
          if (err instanceof GatewayUnavailableError || err instanceof GatewayRefusedError) return undefined;
          throw err;
        });
        reports.set(email, found);
      }
      return found;
    };
    for await (const r of eachInState(this.d.store, 'issued')) {
      if (signal.aborted) return report;
      if (r.topsUp || !r.keySha256 || r.deletingSince || !r.issuedAt) continue;
      if (now - Date.parse(r.issuedAt) < this.d.idleDays * DAY_MS) continue;
      const spend = await spendOf(r.email);
      if (!spend) {
        report.unknown++;
        continue;
      }
      await this.judge(r as KeyRequest & { keySha256: string }, spend, now, report);
    }
    return report;
  }

  private async judge(r: KeyRequest & { keySha256: string }, spend: SpendReport, now: number, report: IdleReport): Promise<void> {
    const spentSince = (ms: number) => spend.days.filter((x) => x.date >= utcDay(ms)).reduce((sum, x) => sum + (x.byKey[r.keySha256] ?? 0), 0);
    if (r.idleWarnedAt) {
      const warned = Date.parse(r.idleWarnedAt);
      if (spentSince(warned) > 0) {
        if (await updateLatest(this.d.store, r, (c) => (c.idleWarnedAt ? { idleWarnedAt: null } : undefined))) report.cleared.push(r.id);
        return;
      }
      if (now - warned < this.d.graceDays * DAY_MS) return;
      const unused = Math.floor((now - Math.max(Date.parse(r.issuedAt as string), warned - this.d.idleDays * DAY_MS)) / DAY_MS);
      const reason = `The key was not used for ${unused} days (no spend at the gateway), and was revoked ${this.d.graceDays} days after you were told. Request the model again if you need it.`;
      const revoked = await updateLatest(this.d.store, r, (c) => (c.state === 'issued' && c.idleWarnedAt ? { state: 'revoked', decision: 'revoked', decidedBy: 'keyportal', decidedAt: rfc3339(new Date(now)), reason } : undefined));
      if (revoked) {
        report.revoked.push(r.id);
        countDecision('keyportal', 'revoke');
        this.d.events.record(r, { type: 'Normal', reason: 'IdleRevoked', message: `not used for ${unused} days: revoking` }).catch(() => undefined);
      }
      return;
    }
    if (spentSince(now - this.d.idleDays * DAY_MS) > 0) return;
    try {
      await this.d.mailer.send({ to: [r.email], ...idleWarningMessage(r, this.d.idleDays, this.d.graceDays, this.d.context(r)) });
    } catch (err) {
      if (!(err instanceof MailUnavailableError)) throw err;
      log('warn', 'idle check: the reminder could not be sent; tried again next round', { request: r.id, error: err.message });
      return;
    }
    await updateLatest(this.d.store, r, (c) => (c.idleWarnedAt ? undefined : { idleWarnedAt: rfc3339(new Date(now)) }));
    report.warned.push(r.id);
    this.d.events.record(r, { type: 'Normal', reason: 'IdleWarned', message: `no spend for ${this.d.idleDays} days: the requester was told` }).catch(() => undefined);
  }
}
