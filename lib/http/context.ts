import { currentUser } from '../auth/session';
import type { User } from '../auth/roles';
import { getRuntime } from '../runtime';
import { notSignedIn } from '../portal/errors';
import { ReplayGuard } from '../portal/replay-guard';
import { parseWebhookSecrets } from '../portal/webhook';
import type { PortalDeps } from '../portal/requests';
import type { WebhookDeps } from '../portal/webhook';

/** What a route handler needs: the deps of lib/portal and the signed-in user. */
export async function portalContext(): Promise<{ deps: PortalDeps; user: User | null }> {
  const { config, store } = getRuntime();
  return { deps: { store, config }, user: await currentUser() };
}

export async function signedIn(): Promise<{ deps: PortalDeps; user: User }> {
  const { deps, user } = await portalContext();
  if (!user) throw notSignedIn();
  return { deps, user };
}

let replays: ReplayGuard | undefined;

export function webhookDeps(): WebhookDeps {
  const { config, store } = getRuntime();
  replays ??= new ReplayGuard(2 * config.portal.webhookToleranceSeconds * 1000);
  return {
    store,
    secrets: parseWebhookSecrets(config.secrets.KEYPORTAL_WEBHOOK_SECRETS),
    toleranceSeconds: config.portal.webhookToleranceSeconds,
    replays,
  };
}
