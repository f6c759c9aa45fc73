import { readFileSync } from 'node:fs';
import path from 'node:path';
import { YAMLParseError, parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { describeIssues, formatPath } from '../validations/issues';
import { ConfigError } from './errors';
import { MIN_SECRET_BYTES, parseWebhookSecrets } from './webhook-secrets';
import { type Env, type Secrets, applyEnvOverrides, readSecrets } from './env';
import { type ConfigFile, configFileSchema } from './schema';

export interface Config extends ConfigFile {
  /** Where the file was read from, for messages. */
  source: string;
  /** Secrets from the environment; never logged, never sent to a browser. */
  secrets: Secrets;
}

/** Validates one `approvals.plugins[]` entry; paths are relative to the entry (`['config', 'list']`). */
export type PluginConfigCheck = (name: string, config: Record<string, unknown>) => Array<{ path: PropertyKey[]; message: string }>;

export interface LoadOptions {
  /** Path of config.yaml; defaults to $KEYPORTAL_CONFIG, then ./config.yaml. */
  path?: string;
  env?: Env;
  /** Checks each plugin entry against its plugin's own schema (the plugin registry supplies it). */
  checkPlugin?: PluginConfigCheck;
}

/** Secret-bearing keys someone might be tempted to put in the file. */
const SECRET_KEYS = /^(master_?key|password|pass|secret|client_?secret|token|api_?key)$/i;
const SECRET_HINT: Record<string, string> = {
  gateway: 'GATEWAY_MASTER_KEY (or GATEWAY_MASTER_KEY_FILE)',
  mail: 'SMTP_PASSWORD (or SMTP_PASSWORD_FILE)',
  auth: 'OIDC_CLIENT_SECRET (or OIDC_CLIENT_SECRET_FILE)',
  chat: 'SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or their _FILE)',
};

function zodProblems(error: z.ZodError, fromEnv: Map<string, string>): string[] {
  return describeIssues(error).map(({ path: where, message }) => {
    const envName = [...fromEnv].find(([p]) => where === p || where.startsWith(`${p}.`))?.[1];
    return `${where}: ${message}${envName ? ` (set by ${envName})` : ''}`;
  });
}

function findSecretKeys(node: unknown, at: PropertyKey[] = []): string[] {
  if (!node || typeof node !== 'object') return [];
  const found: string[] = [];
  for (const [k, v] of Object.entries(node)) {
    const here = [...at, Array.isArray(node) ? Number(k) : k];
    // Plugin configs may legitimately name an env var holding a token (`tokenEnv`), never a value.
    if (SECRET_KEYS.test(k) && typeof v === 'string') {
      const hint = SECRET_HINT[String(at[0])] ?? 'an environment variable';
      found.push(`${formatPath(here)}: secrets are never read from the config file; set ${hint} instead`);
    } else found.push(...findSecretKeys(v, here));
  }
  return found;
}

/** Reads, merges and validates the configuration. Throws ConfigError listing every problem. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  // The config path is chosen at run time; keep the bundler from tracing the whole project.
  const file = path.resolve(/*turbopackIgnore: true*/ options.path ?? env.KEYPORTAL_CONFIG ?? 'config.yaml');
  let text: string;
  try {
    text = readFileSync(/*turbopackIgnore: true*/ file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true }) ?? {};
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new ConfigError(file, [`${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${err.message.split('\n')[0]}`]);
    }
    throw err;
  }
  return parseConfig(raw, { source: file, env, checkPlugin: options.checkPlugin });
}

/** Validates an already-parsed document (tests and the Helm chart's checks use this directly). */
export function parseConfig(raw: unknown, options: { source: string; env: Env; checkPlugin?: PluginConfigCheck }): Config {
  const problems = findSecretKeys(raw);
  const { merged, fromEnv } = applyEnvOverrides(raw, options.env);
  const parsed = configFileSchema.safeParse(merged);
  if (!parsed.success) problems.push(...zodProblems(parsed.error, fromEnv));
  const { secrets, problems: secretProblems } = readSecrets(options.env);
  problems.push(...secretProblems);
  problems.push(...parseWebhookSecrets(secrets.KEYPORTAL_WEBHOOK_SECRETS).problems);
  problems.push(...parseWebhookSecrets(secrets.KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS, 'KEYPORTAL_OFFBOARDING_WEBHOOK_SECRETS').problems);
  if (secrets.NEXTAUTH_SECRET !== undefined && Buffer.byteLength(secrets.NEXTAUTH_SECRET, 'utf8') < MIN_SECRET_BYTES) {
    problems.push(`NEXTAUTH_SECRET: fewer than ${MIN_SECRET_BYTES} bytes; generate one with \`openssl rand -base64 32\``);
  }
  if (parsed.success) {
    const c = parsed.data;
    if (c.gateway.type === 'litellm' && !secrets.GATEWAY_MASTER_KEY) {
      problems.push('gateway: type "litellm" needs the master key in GATEWAY_MASTER_KEY (or GATEWAY_MASTER_KEY_FILE)');
    }
    if (c.gateway.type === 'litellm' && !c.mail.smtp && !c.mail.outbox) {
      // Real keys (or links to them) would be written to a folder on disk without anyone asking.
      problems.push('mail: with a real gateway (gateway.type litellm) mail needs mail.smtp; an outbox folder is used only when mail.outbox names it explicitly');
    }
    if (c.mail.smtp?.user && !secrets.SMTP_PASSWORD) {
      problems.push('mail.smtp.user: is set, so SMTP_PASSWORD (or SMTP_PASSWORD_FILE) is needed');
    }
    if (c.auth.oidc && !secrets.OIDC_CLIENT_SECRET) {
      problems.push('auth.oidc: is set, so OIDC_CLIENT_SECRET (or OIDC_CLIENT_SECRET_FILE) is needed');
    }
    if (c.chat.slack && (!secrets.SLACK_BOT_TOKEN || !secrets.SLACK_SIGNING_SECRET)) {
      problems.push('chat.slack: is set, so SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or their _FILE) are needed');
    }
    if (c.audit.sink === 'http' && !secrets.KEYPORTAL_AUDIT_SECRET) {
      problems.push('audit.sink: is http, so KEYPORTAL_AUDIT_SECRET (or KEYPORTAL_AUDIT_SECRET_FILE) is needed to sign the batches');
    }
    if (secrets.KEYPORTAL_AUDIT_SECRET !== undefined && Buffer.byteLength(secrets.KEYPORTAL_AUDIT_SECRET, 'utf8') < MIN_SECRET_BYTES) {
      problems.push(`KEYPORTAL_AUDIT_SECRET: fewer than ${MIN_SECRET_BYTES} bytes; generate one with \`openssl rand -hex 32\``);
    }
    if (options.checkPlugin) {
      c.approvals.plugins.forEach((p, i) => {
        for (const issue of options.checkPlugin!(p.name, p.config)) {
          problems.push(`${formatPath(['approvals', 'plugins', i, ...issue.path])}: ${issue.message}`);
        }
      });
    }
  }
  if (problems.length || !parsed.success) throw new ConfigError(options.source, problems);
  return { ...parsed.data, source: options.source, secrets };
}
