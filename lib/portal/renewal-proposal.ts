import type { User } from '../auth/roles';
import { ceilingFor } from '../budget/ceiling';
import { type BudgetProposal, highestPeriodSpend, periodDays, proposeBudget } from '../budget/renewal-size';
import { LIFECYCLE_DEFAULTS } from '../config/lifecycle-schema';
import { type KeyRequest, utcDay } from '../domain/key-request';
import { isRenewable } from '../domain/renewal';
import { usd } from '../domain/top-up';
import { type Gateway, GatewayRefusedError, GatewayUnavailableError } from '../gateway/types';
import { beyondPolicy, conflict, requestNotFound } from './errors';
import { type PortalDeps, readVisible } from './requests';

export interface ProposalDeps extends PortalDeps {
  gateway: Gateway;
}

/** LiteLLM's daily activity is read over at most this many days of the old key's life. */
const LOOKBACK_DAYS = 90;
const DAY_MS = 86_400_000;

/**
 * What a renewal of this key should budget, from the old key's real spend: its highest budget
 * period (the gateway's daily activity by the key's hash, and its current period from
 * `/key/info`), with headroom, within the tier. A gateway that cannot say is "unknown": the
 * model's own budget is proposed, and the proposal says so.
 */
export async function renewalProposal(deps: ProposalDeps, user: User, id: string): Promise<BudgetProposal> {
  const old = await readOwnRenewable(deps, user, id);
  const lifecycle = deps.config.lifecycle ?? LIFECYCLE_DEFAULTS;
  const model = deps.config.models.find((m) => m.id === old.model);
  const ceiling = ceilingFor(deps.config, old);
  const modelDefault = model?.limits.max_budget;
  const length = periodDays(model?.limits.budget_duration) ?? 30;
  const periodLabel = model?.limits.budget_duration ? `budget period (${model.limits.budget_duration})` : 'month';
  let highest: number | undefined;
  if (old.keySha256 && old.issuedAt) {
    try {
      const now = (deps.clock ?? (() => new Date()))().getTime();
      const from = utcDay(Math.max(Date.parse(old.issuedAt), now - LOOKBACK_DAYS * DAY_MS));
      const [report, info] = await Promise.all([deps.gateway.spendReport({ userId: old.email }, from, utcDay(now)), old.state === 'issued' ? deps.gateway.keyInfo(old.keySha256) : Promise.resolve(undefined)]);
      if (report) highest = highestPeriodSpend(report.days, old.keySha256, old.issuedAt.slice(0, 10), length, info?.usage?.spend);
    } catch (err) {
      if (!(err instanceof GatewayUnavailableError || err instanceof GatewayRefusedError)) throw err;
    }
  }
  return proposeBudget({ ...(highest !== undefined ? { highestPeriod: highest } : {}), headroomPercent: lifecycle.renewal.headroomPercent, minimum: lifecycle.renewal.minimumBudget, ...(ceiling !== undefined ? { ceiling } : {}), ...(modelDefault !== undefined ? { modelDefault } : {}), periodLabel });
}

async function readOwnRenewable(deps: PortalDeps, user: User, id: string): Promise<KeyRequest> {
  const r = await readVisible(deps, user, id);
  if (r.email !== user.email) throw requestNotFound(id);
  if (!isRenewable(r)) throw conflict(`request ${id} is ${r.state}; only an issued or expired key can be renewed`);
  return r;
}

/** A budget the requester chose for a renewal: above 0 and within the tier's ceiling (400 naming `max_budget`). */
export function checkChosenBudget(deps: PortalDeps, old: Pick<KeyRequest, 'model'>, chosen: number | undefined): number | undefined {
  if (chosen === undefined) return undefined;
  if (chosen <= 0) throw beyondPolicy('max_budget', 'expected a budget above 0');
  const ceiling = ceilingFor(deps.config, old);
  if (ceiling === undefined) throw beyondPolicy('max_budget', `keys for ${old.model} have no budget to choose`);
  if (chosen > ceiling) throw beyondPolicy('max_budget', `at most ${usd(ceiling)} for ${old.model} keys`);
  return Math.round(chosen * 100) / 100;
}
