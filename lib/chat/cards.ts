import { describePolicy, describeStanding, mergedChanges, policyFor, standing } from '../approval/policy';
import type { DirectMessage, ReviewCard } from './types';
import type { ApprovalsConfig, ModelConfig } from '../config/schema';
import type { KeyRequest } from '../domain/key-request';
import { describeTopUp } from '../domain/top-up';
import { describeChanges, describeReview } from '../domain/review';
import type { RequestStore } from '../store/types';

/** What a chat message says about a request, from the request, its policy and the requester's other keys. */

export interface CardContext {
  store: RequestStore;
  models: ReadonlyMap<string, ModelConfig>;
  approvals: ApprovalsConfig;
  portalUrl: string;
}

const statusUrl = (ctx: CardContext, id: string): string => new URL(`requests/${id}`, ctx.portalUrl.endsWith('/') ? ctx.portalUrl : `${ctx.portalUrl}/`).toString();
/** `user:ada@example.com` → `ada@example.com`; `plugin:whitelist` stays. */
const who = (decidedBy: string | undefined): string => (decidedBy ?? 'Keyportal').replace(/^user:/, '');

export async function reviewCard(ctx: CardContext, r: KeyRequest): Promise<ReviewCard> {
  const model = ctx.models.get(r.model);
  const policy = policyFor(ctx.approvals, model, r.model);
  const own = await ctx.store.listByRequester(r.email, { limit: 100 });
  const currentKeys = own.items.filter((x) => x.state === 'issued' && !x.topsUp && x.id !== r.id).map((x) => `${x.model}${x.expiresAt ? ` (expires ${x.expiresAt.slice(0, 10)})` : ''}`);
  const progress = r.state === 'in-review' ? describeStanding(policy, standing(policy, r.reviews ?? [], { email: r.email, ...(r.manager ? { manager: r.manager } : {}) })) : undefined;
  return {
    requestId: r.id,
    requester: r.email,
    model: r.model,
    modelTitle: model?.title ?? r.model,
    ...(r.justification ? { justification: r.justification } : {}),
    ...(r.topUp ? { topUp: `${describeTopUp(r.topUp)} on key ${r.topsUp ?? '?'}` } : {}),
    policy: `${policy.name}: ${describePolicy(policy)}`,
    ...(progress ? { progress } : {}),
    ...(r.state !== 'in-review' ? { outcome: { state: r.state, by: who(r.decidedBy), ...(r.reason ? { reason: r.reason } : {}) } } : {}),
    trace: (r.trace ?? []).map((t) => `${t.plugin}: ${t.outcome}${t.failed ? ' (failed)' : ''}: ${t.reason}`),
    reviews: (r.reviews ?? []).map(describeReview),
    currentKeys,
    statusUrl: statusUrl(ctx, r.id),
  };
}

export function directMessage(ctx: CardContext, r: KeyRequest, what: 'issued' | 'denied' | 'reminder'): DirectMessage | undefined {
  const base = { requestId: r.id, modelTitle: ctx.models.get(r.model)?.title ?? r.model, statusUrl: statusUrl(ctx, r.id) };
  if (what === 'issued') {
    const changes = r.reviews ? mergedChanges(r.reviews) : undefined;
    return { kind: 'issued', ...base, ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}), ...(changes ? { changes: describeChanges(changes) } : {}) };
  }
  if (what === 'denied') return { kind: 'denied', ...base, reason: r.reason ?? 'no reason was given' };
  if (!r.expiresAt || r.reminded === undefined) return undefined;
  return { kind: 'reminder', ...base, expiresAt: r.expiresAt, days: r.reminded };
}
