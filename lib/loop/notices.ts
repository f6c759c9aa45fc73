import { type Policy, describePolicy } from '../approval/policy';
import type { SpendFigureService } from '../budget/spend-figures';
import type { ModelConfig } from '../config/schema';
import type { KeyRequest } from '../domain/key-request';
import { topUpMessage } from '../mail/budget-templates';
import { type Rendered, type TemplateContext, endingMessage, issuedMessage, reviewNotice } from '../mail/templates';
import type { RequestStore } from '../store/types';
import type { Known } from './issue';
import type { Notice } from './plan';

/** What wording an email needs: where the portal is, the models, their policies, and spend figures for approvers. */
export interface NoticeDeps {
  store: RequestStore;
  models: ReadonlyMap<string, ModelConfig>;
  settings: { portalUrl: string; portalTitle: string; gatewayUrl: string; keyDelivery: 'email' | 'portal'; reviewNotify: readonly string[] };
  policyOf(model: string): Policy | undefined;
  spend?: SpendFigureService;
}

/** Who an email for this notice goes to: the requester, or the approvers (and the manager where the policy asks them). */
export function recipients(d: NoticeDeps, r: KeyRequest, notice: Notice): readonly string[] {
  if (notice.to === 'requester') return [r.email];
  const manager = r.manager && d.policyOf(r.model)?.stages.some((s) => s.approvers.manager) ? [r.manager] : [];
  return [...new Set([...d.settings.reviewNotify, ...manager])];
}

export function templateContext(d: NoticeDeps, r: KeyRequest): TemplateContext {
  const s = d.settings;
  const policy = d.policyOf(r.model);
  return { portalUrl: s.portalUrl, portalTitle: s.portalTitle, gatewayUrl: s.gatewayUrl, modelTitle: d.models.get(r.model)?.title ?? r.model, ...(policy ? { policy: describePolicy(policy) } : {}) };
}

/**
 * The email for a notice: the approvers' review notice (with the spend figures), a top-up's, a
 * key's ending, or "your key is ready" with the key (email delivery: the value this pass stored,
 * else read from the Secret) or a link to reveal it.
 */
export async function noticeMessage(d: NoticeDeps, r: KeyRequest, notice: Notice, known: Known): Promise<Rendered> {
  const context = templateContext(d, r);
  if (notice.state === 'in-review') return reviewNotice(r, { ...context, ...(d.spend ? { spend: await d.spend.figures(r) } : {}) });
  if (r.topUp) return topUpMessage(notice.state, r, context);
  if (notice.state !== 'issued') return endingMessage(notice.state, r, context);
  if (d.settings.keyDelivery === 'email') {
    const key = known.key?.id === r.id ? known.key.value : await d.store.readKey(r.id);
    if (key) return issuedMessage(r, context, { key });
  }
  const base = d.settings.portalUrl.endsWith('/') ? d.settings.portalUrl : `${d.settings.portalUrl}/`;
  return issuedMessage(r, context, { revealUrl: new URL(`requests/${r.id}`, base).toString() });
}
