import type { Config } from './load';
import { isPlaintextBeyondLoopback } from './schema';

/**
 * What a deployment allowed knowingly but an operator should still read once, at start-up: a
 * credential that travels in the clear because someone set allowPlaintext.
 */
export function startupWarnings(config: Config): string[] {
  const out: string[] = [];
  if (config.portal.trial) out.push('TRIAL install (portal.trial): stand-in gateway, mail and sign-in; keys start sk-trial- and work with no model. Not for real users');
  const g = config.gateway;
  if (g.type === 'litellm' && g.allowPlaintext && isPlaintextBeyondLoopback(g.baseUrl)) {
    out.push(`gateway.allowPlaintext is on: the master key travels in the clear to ${new URL(g.baseUrl).host}`);
  }
  const o = config.auth.oidc;
  if (o?.allowPlaintext && isPlaintextBeyondLoopback(o.issuer)) {
    out.push(`auth.oidc.allowPlaintext is on: the client secret and ID tokens travel in the clear to ${new URL(o.issuer).host}`);
  }
  return out;
}
