import { isLoopbackHost } from './domain/loopback';
import type { Config } from './config/load';
import { createGateway } from './gateway';
import { checkGatewaySetup } from './gateway/setup-check';
import { SmtpMailer } from './mail/smtp';

export interface CheckResult {
  /** gateway, mail, identity provider */
  part: string;
  ok: boolean;
  /** What was found, or what is wrong and which setting to look at. */
  detail: string;
}

const TIMEOUT_MS = 8_000;

/**
 * Whether the portal can reach what it depends on, from where it runs: what `helm test` and
 * `keyportal check` report, one line per part, naming what is wrong. It changes nothing.
 */
export async function checkSetup(config: Config, env: Readonly<Record<string, string | undefined>> = process.env): Promise<CheckResult[]> {
  return Promise.all([gateway(config), mail(config), identity(config, env)]);
}

async function gateway(config: Config): Promise<CheckResult> {
  const g = config.gateway;
  const where = g.type === 'litellm' ? g.baseUrl : 'the local stand-in';
  const { problems, missingModels } = await checkGatewaySetup(createGateway(config), config.models.map((m) => m.id), TIMEOUT_MS);
  if (problems.length) return { part: 'gateway', ok: false, detail: `${where} (gateway.baseUrl, GATEWAY_MASTER_KEY): ${problems.join('; ')}` };
  if (missingModels.length) return { part: 'gateway', ok: false, detail: `${where} answers, but does not serve these catalog models: ${missingModels.join(', ')} (config.models, or the gateway's model list)` };
  return { part: 'gateway', ok: true, detail: `${where} answers, the master key works, and it serves all ${config.models.length} catalog models` };
}

async function mail(config: Config): Promise<CheckResult> {
  const smtp = config.mail.smtp;
  if (!smtp) return { part: 'mail', ok: true, detail: `outbox folder ${config.mail.outbox ?? '.data/outbox'} (no SMTP)` };
  const mailer = new SmtpMailer(config.mail.from, smtp, config.secrets.SMTP_PASSWORD);
  try {
    await mailer.verify();
    return { part: 'mail', ok: true, detail: `SMTP ${smtp.host}:${smtp.port} accepts us (${smtp.security}${smtp.user ? ', logged in' : ''})` };
  } catch (err) {
    return { part: 'mail', ok: false, detail: `${(err as Error).message} (mail.smtp, SMTP_PASSWORD, mail.smtp.caFile)` };
  } finally {
    mailer.close();
  }
}

async function identity(config: Config, env: Readonly<Record<string, string | undefined>>): Promise<CheckResult> {
  const oidc = config.auth.oidc;
  if (!oidc) return { part: 'identity provider', ok: true, detail: 'none configured (development sign-in)' };
  const issuer = oidc.issuer.replace(/\/$/, '');
  // The trial's provider runs beside the portal in each of its pods, on loopback: not from here.
  if (isLoopbackHost(new URL(issuer).hostname) && env.KUBERNETES_SERVICE_HOST) {
    return { part: 'identity provider', ok: true, detail: `${issuer} is on loopback, beside the portal in its pod: not reachable from this check's pod, so not checked` };
  }
  try {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
    if (!res.ok) return { part: 'identity provider', ok: false, detail: `${issuer} answered HTTP ${res.status} for its discovery document (auth.oidc.issuer)` };
    const doc = (await res.json()) as { issuer?: unknown; token_endpoint?: unknown };
    if (doc.issuer !== oidc.issuer && doc.issuer !== issuer) return { part: 'identity provider', ok: false, detail: `${issuer} calls itself ${String(doc.issuer)}: auth.oidc.issuer must be exactly that` };
    if (typeof doc.token_endpoint !== 'string') return { part: 'identity provider', ok: false, detail: `${issuer}'s discovery document names no token endpoint` };
    return { part: 'identity provider', ok: true, detail: `${issuer} answers; register ${config.portal.publicUrl.replace(/\/$/, '')}/api/auth/callback/oidc as the redirect URI of client ${oidc.clientId}` };
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    return { part: 'identity provider', ok: false, detail: `${issuer} cannot be reached (${cause?.code ?? cause?.message ?? (err as Error).message}) (auth.oidc.issuer)` };
  }
}
