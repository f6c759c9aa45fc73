import { currentUser } from '../auth/session';
import type { User } from '../auth/roles';
import { getRuntime } from '../runtime';
import { notSignedIn } from '../portal/errors';
import { ActionLimiter } from '../portal/rate-limit';
import { webhookClients } from '../config/webhook-secrets';
import type { PortalDeps } from '../portal/requests';
import type { WebhookDeps } from '../portal/webhook';
import type { PeopleStore } from '../people/types';
import type { Config } from '../config';
import { ReplayGuard } from '../chat/slack-signature';
import type { InteractionDeps } from '../chat/slack-interactions';

/** What a route handler needs: the deps of lib/portal and the signed-in user. */
/** One per process: the per-caller limits of reveal, decisions and the webhook. */
const limits = new ActionLimiter();

export async function portalContext(): Promise<{ deps: PortalDeps; user: User | null }> {
  const { config, store, people, archive, changes } = getRuntime();
  return { deps: { store, people, config, limits, archive, changes }, user: await currentUser() };
}

export async function signedIn(): Promise<{ deps: PortalDeps; user: User }> {
  const { deps, user } = await portalContext();
  if (!user) throw notSignedIn();
  return { deps, user };
}

export function webhookDeps(endpoint: 'approval' | 'offboarding'): WebhookDeps & { people: PeopleStore; config: Config } {
  const { config, store, people } = getRuntime();
  // Config load already refused bad entries; what parses here is what was checked there.
  return { store, people, config, clients: webhookClients(config.secrets)[endpoint], toleranceSeconds: config.portal.webhookToleranceSeconds, limits };
}

/** One per process: the signatures of Slack interactions seen in the last five minutes. */
const replays = new ReplayGuard();

/** What the Slack interaction endpoint needs; null when chat.slack is not configured. */
export function slackDeps(): InteractionDeps | null {
  const { config, store, people, slack } = getRuntime();
  const secret = config.secrets.SLACK_SIGNING_SECRET;
  if (!slack || !secret) return null;
  return {
    slack,
    signingSecret: secret,
    portal: { store, people, config, limits },
    cards: { store, models: new Map(config.models.map((m) => [m.id, m])), approvals: config.approvals, portalUrl: config.portal.publicUrl },
    replays,
  };
}
