import { z } from 'zod';
import { SIGNATURE_HEADER, verifySignature } from '../crypto/signature';
import { RequestNotFoundError } from '../store/errors';
import type { RequestStore } from '../store/types';
import { parseJson } from './parse';
import { approvalWebhookBody } from '../validations/webhook';
import { PortalError, conflict, requestNotFound } from './errors';
import type { ReplayGuard } from './replay-guard';
import { DecidedError, applyDecision } from './requests';

export interface WebhookDeps {
  store: RequestStore;
  /** Current secrets; more than one while a caller rotates. Empty: the webhook is off. */
  secrets: readonly string[];
  toleranceSeconds: number;
  replays: ReplayGuard;
  clock?: () => Date;
}

export interface WebhookResult {
  request_id: string;
  state: string;
  /** False when the same decision had already been recorded: nothing happened twice. */
  changed: boolean;
}

/**
 * The HR / ticket system's decision. Authenticated by an HMAC-SHA256 of `timestamp.body`; a
 * stale timestamp, a forged signature or a replay of the exact same call is refused before the
 * body is even parsed. A decision the request already carries is answered 200 without effect;
 * the opposite decision on a decided request is a 409.
 */
export async function handleApprovalWebhook(deps: WebhookDeps, rawBody: string, signature: string | null): Promise<WebhookResult> {
  if (deps.secrets.length === 0) throw new PortalError(503, 'not_configured', 'the approval webhook is off: set KEYPORTAL_WEBHOOK_SECRETS');
  const now = deps.clock?.() ?? new Date();
  const verified = verifySignature(signature, rawBody, deps.secrets, { now, toleranceSeconds: deps.toleranceSeconds });
  if (!verified.ok) throw new PortalError(401, `signature_${verified.problem}`, `${SIGNATURE_HEADER}: ${verified.message}`, { field: SIGNATURE_HEADER });
  if (!deps.replays.firstTime(verified.signature, now.getTime())) {
    throw new PortalError(409, 'replayed', 'this exact signed call was already received; sign each call with a fresh timestamp');
  }
  try {
    const body = parseJson(rawBody, approvalWebhookBody);
    try {
      const { request, changed } = await applyDecision(deps.store, body.request_id, body.decision, `webhook:${body.actor}`, body.reason, () => now);
      return { request_id: request.id, state: request.state, changed };
    } catch (err) {
      if (err instanceof RequestNotFoundError) throw requestNotFound(body.request_id);
      if (err instanceof DecidedError) throw conflict(err.message, { request_id: err.request.id, state: err.request.state });
      throw err;
    }
  } catch (err) {
    // A call that took no effect may be retried with the same bytes (after fixing nothing on
    // our side, e.g. a 503): only an applied or refused-for-good decision stays remembered.
    if (!(err instanceof PortalError) || err.status >= 500) deps.replays.forget(verified.signature);
    throw err;
  }
}

/** KEYPORTAL_WEBHOOK_SECRETS: comma-separated, blanks ignored. */
export const parseWebhookSecrets = (raw: string | undefined): string[] =>
  z
    .string()
    .default('')
    .parse(raw)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
