import { readFileSync } from 'node:fs';

type Coerce = 'string' | 'int' | 'number' | 'bool';

/**
 * Deployment-specific values that the environment may override, one row each. This table is
 * the documentation too: README's "Environment" section lists the same rows.
 */
export const ENV_OVERRIDES: ReadonlyArray<{ env: string; path: readonly string[]; as: Coerce }> = [
  { env: 'KEYPORTAL_PUBLIC_URL', path: ['portal', 'publicUrl'], as: 'string' },
  { env: 'KEYPORTAL_STORE_TYPE', path: ['store', 'type'], as: 'string' },
  { env: 'KEYPORTAL_NAMESPACE', path: ['store', 'namespace'], as: 'string' },
  { env: 'KEYPORTAL_STORE_DIR', path: ['store', 'dir'], as: 'string' },
  { env: 'KEYPORTAL_KUBECONFIG', path: ['store', 'kubeconfig'], as: 'string' },
  { env: 'KEYPORTAL_GATEWAY_TYPE', path: ['gateway', 'type'], as: 'string' },
  { env: 'KEYPORTAL_GATEWAY_URL', path: ['gateway', 'baseUrl'], as: 'string' },
  { env: 'KEYPORTAL_GATEWAY_PUBLIC_URL', path: ['gateway', 'publicUrl'], as: 'string' },
  { env: 'KEYPORTAL_MAIL_FROM', path: ['mail', 'from'], as: 'string' },
  { env: 'KEYPORTAL_KEY_DELIVERY', path: ['mail', 'keyDelivery'], as: 'string' },
  { env: 'KEYPORTAL_OUTBOX_DIR', path: ['mail', 'outbox'], as: 'string' },
  { env: 'SMTP_HOST', path: ['mail', 'smtp', 'host'], as: 'string' },
  { env: 'SMTP_PORT', path: ['mail', 'smtp', 'port'], as: 'int' },
  { env: 'SMTP_SECURITY', path: ['mail', 'smtp', 'security'], as: 'string' },
  { env: 'SMTP_USER', path: ['mail', 'smtp', 'user'], as: 'string' },
  { env: 'KEYPORTAL_RESYNC_SECONDS', path: ['loop', 'resyncSeconds'], as: 'number' },
  { env: 'KEYPORTAL_CONCURRENCY', path: ['loop', 'concurrency'], as: 'int' },
  { env: 'KEYPORTAL_LOOP_ENABLED', path: ['loop', 'enabled'], as: 'bool' },
  { env: 'KEYPORTAL_LEADER_ELECTION', path: ['loop', 'leaderElection'], as: 'bool' },
  { env: 'OIDC_ISSUER', path: ['auth', 'oidc', 'issuer'], as: 'string' },
  { env: 'OIDC_CLIENT_ID', path: ['auth', 'oidc', 'clientId'], as: 'string' },
  { env: 'KEYPORTAL_DEV_SIGNIN', path: ['auth', 'devSignIn'], as: 'bool' },
  { env: 'KEYPORTAL_METRICS_PORT', path: ['metrics', 'port'], as: 'int' },
  { env: 'KEYPORTAL_METRICS_HOST', path: ['metrics', 'host'], as: 'string' },
];

/** Secrets: read only from the environment, or from a file named by `<NAME>_FILE`. */
export const SECRET_ENV = [
  'GATEWAY_MASTER_KEY',
  'SMTP_PASSWORD',
  // Signs the session cookie (next-auth's own name for it).
  'NEXTAUTH_SECRET',
  'OIDC_CLIENT_SECRET',
  // `client:secret` pairs, comma-separated; a client listed twice rotates without downtime.
  'KEYPORTAL_WEBHOOK_SECRETS',
  // The same, for the offboarding webhook alone (else it takes KEYPORTAL_WEBHOOK_SECRETS).
  'KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS',
  // Slack (chat.slack): the bot's token (xoxb-…) and the app's signing secret.
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  // Signs the audit batches the http sink POSTs (audit.http).
  'KEYPORTAL_AUDIT_SECRET',
] as const;
export type SecretName = (typeof SECRET_ENV)[number];
export type Secrets = Partial<Record<SecretName, string>>;

export type Env = Readonly<Record<string, string | undefined>>;

function coerce(raw: string, as: Coerce): unknown {
  if (as === 'string') return raw;
  if (as === 'bool') return /^(1|true|yes)$/i.test(raw) ? true : /^(0|false|no)$/i.test(raw) ? false : raw;
  // Leave a non-number as the string so the schema reports it under the right path.
  const n = Number(raw);
  return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
}

/** Returns a copy of the parsed file with every set override applied, and which paths came from env. */
export function applyEnvOverrides(file: unknown, env: Env): { merged: unknown; fromEnv: Map<string, string> } {
  const merged: Record<string, unknown> = structuredClone(
    file && typeof file === 'object' && !Array.isArray(file) ? (file as Record<string, unknown>) : {},
  );
  const fromEnv = new Map<string, string>();
  for (const { env: name, path, as } of ENV_OVERRIDES) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let node = merged;
    for (const key of path.slice(0, -1)) {
      const child = node[key];
      if (!child || typeof child !== 'object' || Array.isArray(child)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = coerce(raw, as);
    fromEnv.set(path.join('.'), name);
  }
  // Switching a section's type from the environment drops the file's fields of the other type;
  // a stray field in the file itself is still reported.
  if (fromEnv.has('store.type')) {
    pruneForType(merged, 'store', { kubernetes: ['type', 'namespace', 'kubeconfig'], local: ['type', 'dir'] });
  }
  if (fromEnv.has('gateway.type')) {
    pruneForType(merged, 'gateway', { litellm: ['type', 'baseUrl', 'publicUrl', 'timeoutMs'], local: ['type', 'publicUrl', 'dir'] });
  }
  if (fromEnv.has('mail.smtp.host')) {
    const mail = merged.mail as Record<string, unknown>;
    delete mail.outbox;
  }
  return { merged, fromEnv };
}

function pruneForType(root: Record<string, unknown>, key: string, allowed: Record<string, string[]>): void {
  const section = root[key];
  if (!section || typeof section !== 'object') return;
  const s = section as Record<string, unknown>;
  const keep = allowed[String(s.type)];
  if (!keep) return;
  for (const k of Object.keys(s)) if (!keep.includes(k)) delete s[k];
}

/** Reads each secret from NAME, or from the file NAME_FILE points at (Kubernetes secret mounts). */
export function readSecrets(env: Env): { secrets: Secrets; problems: string[] } {
  const secrets: Secrets = {};
  const problems: string[] = [];
  for (const name of SECRET_ENV) {
    const direct = env[name];
    const file = env[`${name}_FILE`];
    if (direct) secrets[name] = direct;
    else if (file) {
      try {
        secrets[name] = readFileSync(file, 'utf8').trim();
      } catch (err) {
        problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
  }
  return { secrets, problems };
}
