import type { WebhookClient } from '../config/webhook-secrets';
import type { ActionLimiter } from './rate-limit';
import { SIGNATURE_HEADER, type SignedEndpoint, verifySignature } from '../crypto/signature';
import { RequestNotFoundError } from '../store/errors';
import type { RequestStore } from '../store/types';
import { parseJson } from './parse';
import { approvalWebhookBody } from '../validations/webhook';
import { PortalError, conflict, requestNotFound } from './errors';
import type { Config } from '../config';
import type { PeopleStore } from '../people/types';
import { DecidedError, NotInReviewError, submitReview } from './reviews';

export interface WebhookDeps {
  store: RequestStore;
  /** The callers of this endpoint and their current secrets; a caller listed twice is rotating. Empty: the webhook is off. */
  clients: readonly WebhookClient[];
  toleranceSeconds: number;
  clock?: () => Date;
  limits?: ActionLimiter;
}

export interface WebhookResult {
  request_id: string;
  state: string;
  /** False when the same decision had already been recorded: nothing happened twice. */
  changed: boolean;
}

/**
 * The HR / ticket system's decision. Authenticated by an HMAC-SHA256 of `timestamp.body` with the
 * caller's own secret, so the decider recorded (`webhook:<client>`) is the caller that signed,
 * whatever the body says. A stale timestamp or a forged signature is refused before the body is
 * parsed.
 *
 * Replays need no memory, and so hold across replicas and restarts: a decision applies only to
 * a request in review, states only move forward, and the same decision twice is answered 200
 * `changed: false`. A replay (or a client retrying a call that timed out) therefore either finds
 * its own decision already made, or a request decided since, which is a 409 as for anyone.
 */
/** The approval webhook's decision is one review under the model's policy: it needs the catalog and the policies. */
export interface ApprovalWebhookDeps extends WebhookDeps {
  config: Pick<Config, 'models' | 'approvals'>;
  people?: PeopleStore;
}

export async function handleApprovalWebhook(deps: ApprovalWebhookDeps, rawBody: string, signature: string | null): Promise<WebhookResult> {
  const { client, now } = authenticateWebhook(deps, rawBody, signature, 'approval');
  const body = parseJson(rawBody, approvalWebhookBody);
  const reason = body.actor ? `${body.reason} (${body.actor}, via ${client})` : body.reason;
  try {
    // One review by webhook:<caller> under the model's policy, or an override where config says so.
    const override = deps.config.approvals.webhook === 'override';
    const { request, changed } = await submitReview(deps, body.request_id, { reviewer: { kind: 'webhook', client }, decision: body.decision, reason, override, now: () => now });
    return { request_id: request.id, state: request.state, changed };
  } catch (err) {
    if (err instanceof RequestNotFoundError) throw requestNotFound(body.request_id);
    if (err instanceof NotInReviewError) throw conflict(err.message);
    if (err instanceof DecidedError) throw conflict(err.message, { request_id: err.request.id, state: err.request.state });
    throw err;
  }
}

/**
 * Every signed webhook's gate (approval, offboarding): the same secrets, scheme, clock tolerance
 * and per-caller limit. Runs before the body is parsed, so an unsigned caller learns nothing
 * about what the body should hold. Returns the caller that signed and the time it was checked at.
 */
export function authenticateWebhook(deps: WebhookDeps, rawBody: string, signature: string | null, endpoint: SignedEndpoint): { client: string; now: Date; signedAt: Date } {
  if (deps.clients.length === 0) {
    const variable = endpoint === 'offboarding' ? 'KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS (or KEYPORTAL_WEBHOOK_SECRETS)' : 'KEYPORTAL_WEBHOOK_SECRETS';
    throw new PortalError(503, 'not_configured', `the ${endpoint} webhook is off: set ${variable}`);
  }
  const now = deps.clock?.() ?? new Date();
  const verified = verifySignature(signature, endpoint, rawBody, deps.clients.map((c) => c.secret), { now, toleranceSeconds: deps.toleranceSeconds });
  if (!verified.ok) throw new PortalError(401, `signature_${verified.problem}`, `${SIGNATURE_HEADER}: ${verified.message}`, { field: SIGNATURE_HEADER });
  const client = deps.clients[verified.index]?.client as string;
  deps.limits?.check('webhook', client);
  return { client, now, signedAt: new Date(verified.timestamp * 1000) };
}
