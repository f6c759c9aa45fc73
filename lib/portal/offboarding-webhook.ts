import { rfc3339 } from '../domain/key-request';
import { offboardingWebhookBody } from '../validations/offboarding';
import { type OffboardResult, offboard } from './offboarding';
import { parseJson } from './parse';
import { type WebhookDeps, authenticateWebhook } from './webhook';

/**
 * The HR system's "this person left": POST /api/webhooks/offboarding, signed exactly as the
 * approval webhook is (same secrets, header, tolerance and limit; lib/portal/webhook.ts).
 *
 * Replays need no memory here either. Offboarding is idempotent (a repeat finds everything
 * already ended and answers `changed: false`), and it reaches only requests created up to the
 * signed timestamp, so a captured call replayed within the tolerance cannot revoke a key
 * requested after it was signed.
 */
export async function handleOffboardingWebhook(deps: WebhookDeps, rawBody: string, signature: string | null): Promise<OffboardResult> {
  const { client, now, signedAt } = authenticateWebhook(deps, rawBody, signature, 'offboarding');
  const body = parseJson(rawBody, offboardingWebhookBody);
  const reason = `Offboarded: ${body.reason}${body.actor ? ` (${body.actor}, via ${client})` : ` (via ${client})`}`;
  return offboard(deps.store, { email: body.email, reason, decidedBy: `webhook:${client}`, now: () => now, createdUpTo: rfc3339(signedAt) });
}
