import { setTimeout as sleep } from 'node:timers/promises';
import { isLoopbackHost } from './domain/loopback';
import { failureCause, nothingAnswered } from './domain/unreachable';
import type { Config } from './config/load';
import { createGateway } from './gateway';
import { checkGatewaySetup } from './gateway/setup-check';
import { SmtpMailer } from './mail/smtp';
import { MailUnreachableError } from './mail/types';

export interface CheckResult {
  /** gateway, mail, identity provider */
  part: string;
  ok: boolean;
  /** What was found, or what is wrong and which setting to look at. */
  detail: string;
}

export interface CheckOptions {
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * How long a part that nothing answers for (refused, no route, no DNS name) is asked again,
   * once a second. `helm test` runs straight after `helm install --wait`, which waits for the
   * stand-ins' pods but not for their Services to route to them; 0 asks once.
   */
  settleMs?: number;
}

/** A part's answer, and whether nothing answered at all (the only failure worth asking again). */
type Found = CheckResult & { unreachable?: boolean };

const TIMEOUT_MS = 8_000;
const RETRY_EVERY_MS = 1_000;

/**
 * Whether the portal can reach what it depends on, from where it runs: what `helm test` and
 * `keyportal check` report, one line per part, naming what is wrong. It changes nothing.
 */
export async function checkSetup(config: Config, options: CheckOptions = {}): Promise<CheckResult[]> {
  const env = options.env ?? process.env;
  const settleMs = options.settleMs ?? 0;
  return Promise.all([settle(() => gateway(config), settleMs), settle(() => mail(config), settleMs), settle(() => identity(config, env), settleMs)]);
}

/** Asks again while nothing answers, until settleMs has passed; a wrong answer is reported at once. */
async function settle(ask: () => Promise<Found>, settleMs: number): Promise<CheckResult> {
  const deadline = Date.now() + settleMs;
  let tries = 1;
  let found = await ask();
  while (found.unreachable && Date.now() + RETRY_EVERY_MS <= deadline) {
    await sleep(RETRY_EVERY_MS);
    tries += 1;
    found = await ask();
  }
  const { unreachable, ...result } = found;
  return unreachable && tries > 1 ? { ...result, detail: `${result.detail}; nothing answered in ${tries} tries over ${Math.round(settleMs / 1000)} s` } : result;
}

async function gateway(config: Config): Promise<Found> {
  const g = config.gateway;
  const where = g.type === 'litellm' ? g.baseUrl : 'the local stand-in';
  const { problems, missingModels, unreachable } = await checkGatewaySetup(createGateway(config), config.models.map((m) => m.id), TIMEOUT_MS);
  if (problems.length) return { part: 'gateway', ok: false, unreachable, detail: `${where} (gateway.baseUrl, GATEWAY_MASTER_KEY): ${problems.join('; ')}` };
  if (missingModels.length) return { part: 'gateway', ok: false, detail: `${where} answers, but does not serve these catalog models: ${missingModels.join(', ')} (config.models, or the gateway's model list)` };
  return { part: 'gateway', ok: true, detail: `${where} answers, the master key works, and it serves all ${config.models.length} catalog models` };
}

async function mail(config: Config): Promise<Found> {
  const smtp = config.mail.smtp;
  if (!smtp) return { part: 'mail', ok: true, detail: `outbox folder ${config.mail.outbox ?? '.data/outbox'} (no SMTP)` };
  const mailer = new SmtpMailer(config.mail.from, smtp, config.secrets.SMTP_PASSWORD);
  try {
    await mailer.verify();
    return { part: 'mail', ok: true, detail: `SMTP ${smtp.host}:${smtp.port} accepts us (${smtp.security}${smtp.user ? ', logged in' : ''})` };
  } catch (err) {
    return { part: 'mail', ok: false, unreachable: err instanceof MailUnreachableError, detail: `${(err as Error).message} (mail.smtp, SMTP_PASSWORD, mail.smtp.caFile)` };
  } finally {
    mailer.close();
  }
}

async function identity(config: Config, env: Readonly<Record<string, string | undefined>>): Promise<Found> {
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
    return { part: 'identity provider', ok: false, unreachable: nothingAnswered(err), detail: `${issuer} cannot be reached (${failureCause(err)}) (auth.oidc.issuer)` };
  }
}
