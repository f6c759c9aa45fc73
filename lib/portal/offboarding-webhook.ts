import { rfc3339 } from '../domain/key-request';
import { offboardingWebhookBody } from '../validations/offboarding';
import { type OffboardResult, offboard } from './offboarding';
import { parseJson } from './parse';
import { type WebhookDeps, authenticateWebhook } from './webhook';
import type { PeopleStore } from '../people/types';

/**
 * The HR system's "this person left": POST /api/webhooks/offboarding, signed exactly as the
 * approval webhook is (same secrets, header, tolerance and limit; lib/portal/webhook.ts).
 *
 * Replays need no memory here either. Offboarding is idempotent (a repeat finds the record
 * standing and everything already ended, and answers `changed: false`), and an offboarding
 * lifted after the signed timestamp stays lifted, so a captured call replayed within the
 * tolerance cannot shut out someone let back in since.
 */
export async function handleOffboardingWebhook(deps: WebhookDeps & { people: PeopleStore }, rawBody: string, signature: string | null): Promise<OffboardResult> {
  const { client, now, signedAt } = authenticateWebhook(deps, rawBody, signature, 'offboarding');
  const body = parseJson(rawBody, offboardingWebhookBody);
  const reason = `Offboarded: ${body.reason}${body.actor ? ` (${body.actor}, via ${client})` : ` (via ${client})`}`;
  return offboard({ store: deps.store, people: deps.people }, { email: body.email, reason, decidedBy: `webhook:${client}`, now: () => now, decidedAt: rfc3339(signedAt) });
}
