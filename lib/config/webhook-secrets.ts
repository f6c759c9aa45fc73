/** One caller of the approval webhook: its name is what the request records as the decider. */
export interface WebhookClient {
  client: string;
  secret: string;
}

/** HMAC keys shorter than this are guessable offline from one signed call. */
export const MIN_SECRET_BYTES = 32;
const CLIENT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * KEYPORTAL_WEBHOOK_SECRETS: `client:secret` pairs, comma-separated (`workday:…,servicenow:…`).
 * One client may appear twice while it rotates. Problems name the entry, never the secret.
 */
export function parseWebhookSecrets(raw: string | undefined, variable = 'KEYPORTAL_WEBHOOK_SECRETS'): { clients: WebhookClient[]; problems: string[] } {
  const clients: WebhookClient[] = [];
  const problems: string[] = [];
  const entries = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  entries.forEach((entry, i) => {
    const at = entry.indexOf(':');
    const client = at > 0 ? entry.slice(0, at).trim() : '';
    const secret = at > 0 ? entry.slice(at + 1).trim() : '';
    const where = `${variable} entry ${i + 1}`;
    if (!client || !CLIENT_NAME.test(client)) {
      problems.push(`${where}: expected <client>:<secret>, the client a lower-case name such as "workday" (it is recorded as webhook:<client>)`);
    } else if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
      problems.push(`${where} (${client}): the secret has fewer than ${MIN_SECRET_BYTES} bytes; generate one with \`openssl rand -hex 32\``);
    } else clients.push({ client, secret });
  });
  return { clients, problems };
}

/**
 * The callers each signed endpoint accepts: the approval webhook's from KEYPORTAL_WEBHOOK_SECRETS;
 * the offboarding webhook's from KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS when set (an HR system
 * that may offboard need not be one that may approve), else the same. Signatures name their
 * endpoint either way (lib/crypto/signature.ts), so a shared secret cannot be replayed across.
 */
export function webhookClients(secrets: { KEYPORTAL_WEBHOOK_SECRETS?: string; KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS?: string }): { approval: WebhookClient[]; offboarding: WebhookClient[] } {
  const approval = parseWebhookSecrets(secrets.KEYPORTAL_WEBHOOK_SECRETS).clients;
  const own = secrets.KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS;
  return { approval, offboarding: own ? parseWebhookSecrets(own, 'KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS').clients : approval };
}
