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

/** What a route handler needs: the deps of lib/portal and the signed-in user. */
/** One per process: the per-caller limits of reveal, decisions and the webhook. */
const limits = new ActionLimiter();

export async function portalContext(): Promise<{ deps: PortalDeps; user: User | null }> {
  const { config, store, people } = getRuntime();
  return { deps: { store, people, config, limits }, user: await currentUser() };
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
