import type { TraceEntry } from '../domain/trace';
import type { Config } from '../config';
import type { KeyRequest } from '../domain/key-request';
import type { State } from '../domain/states';

/** A request as the browser and API clients see it: never the key, never internal claims. */
export interface RequestView {
  id: string;
  email: string;
  model: string;
  modelTitle: string;
  state: State;
  createdAt: string;
  decidedAt?: string;
  decidedBy?: string;
  reason?: string;
  trace: TraceEntry[];
  /** Set while the loop waits to retry a step (gateway or SMTP down). */
  waiting?: { step: string; attempt: number; until: string; error: string };
  /** The requester has been emailed about the current state. */
  emailed: boolean;
  delivery: 'email' | 'portal';
  /** Portal delivery: the key can be shown (once) to its requester. */
  revealable: boolean;
  revealedAt?: string;
  expiresAt?: string;
  /** The request this one renews: approvers see a renewal as one. */
  renews?: string;
}

/** One page of a listing (GET /api/approvals, GET /api/requests), with what the page around it needs. */
export interface ListPage {
  requests: RequestView[];
  /** Present when more rows follow; pass it as `cursor` for the next page. */
  nextCursor?: string;
  /** Rows matching the whole query, over all pages. */
  total: number;
  /** Rows per state matching every filter but the state one: the queue's state tabs. */
  counts: Record<State, number>;
}

export function toView(r: KeyRequest, config: Pick<Config, 'models' | 'mail'>): RequestView {
  const title = config.models.find((m) => m.id === r.model)?.title ?? r.model;
  const delivery = config.mail.keyDelivery;
  return {
    id: r.id,
    email: r.email,
    model: r.model,
    modelTitle: title,
    state: r.state,
    createdAt: r.createdAt,
    ...(r.decidedAt ? { decidedAt: r.decidedAt } : {}),
    ...(r.decidedBy ? { decidedBy: r.decidedBy } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    trace: r.trace ?? [],
    ...(r.retry ? { waiting: { step: r.retry.step, attempt: r.retry.attempt, until: r.retry.at, error: r.retry.error } } : {}),
    emailed: r.notified === r.state,
    delivery,
    revealable: delivery === 'portal' && r.state === 'issued' && r.hasKey && !r.revealedAt,
    ...(r.revealedAt ? { revealedAt: r.revealedAt } : {}),
    ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
    ...(r.renews ? { renews: r.renews } : {}),
  };
}
