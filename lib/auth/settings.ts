import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { isLoopbackHost } from '../domain/loopback';
import { type Exposure, beyondLoopback, detectExposure } from './exposure';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  name: string;
  groupsClaim: string;
  groupsMaxAgeSeconds: number;
  trustUnverifiedEmail: boolean;
  /** Signing in without this group revokes the person's keys (config auth.oidc.requiredGroup). */
  requiredGroup?: string;
  /** The id-token claim naming the requester's manager (an email), for policies that ask the manager. */
  managerClaim?: string;
}

export interface AuthSettings {
  oidc?: OidcSettings;
  /** Email-only sign-in, for the embedded default (or a deployment that opted in). */
  devSignIn: boolean;
  /** Signs the session cookie. */
  secret: string;
}

/** The portal cannot offer any sign-in, or cannot sign sessions. Start-up prints it and stops. */
export class AuthConfigError extends Error {
  override readonly name = 'AuthConfigError';
}

/** http:// to this machine only: where a typed-in email can sign nobody in as somebody else. */
export function isLoopbackHttp(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && isLoopbackHost(u.hostname);
}

/** The embedded default: nothing real behind the portal, so a typed-in email harms nobody. */
export const isEmbedded = (config: Pick<Config, 'store' | 'gateway'>): boolean =>
  config.store.type === 'local' && config.gateway.type === 'local';

/**
 * Decides how users sign in. Development sign-in is on by default only in the embedded mode; a
 * deployment with a real store or gateway gets it only with `auth.devSignIn: true`
 * (KEYPORTAL_DEV_SIGNIN=true), and must otherwise configure OIDC.
 */
export function resolveAuth(config: Config, exposure: Exposure = detectExposure()): AuthSettings {
  const embedded = isEmbedded(config);
  const devSignIn = config.auth.devSignIn ?? embedded;
  // Whatever the setting says: a portal that real users reach is never one where typing an
  // email signs you in as that person. The public URL is what the config claims; where the
  // server listens and whether it runs in a pod is what anyone on the network can find.
  if (devSignIn && !isLoopbackHttp(config.portal.publicUrl)) {
    throw new AuthConfigError(
      `development sign-in cannot be used when portal.publicUrl is ${config.portal.publicUrl}: it is only for http:// on a loopback host (localhost, 127.0.0.1, [::1]); configure auth.oidc`,
    );
  }
  if (devSignIn && exposure.inPod) {
    throw new AuthConfigError('development sign-in cannot be used in a Kubernetes pod: any pod of the cluster could sign in as anyone; configure auth.oidc (the chart\'s trial values bring a test identity provider)');
  }
  if (devSignIn && beyondLoopback(exposure)) {
    throw new AuthConfigError(
      `development sign-in cannot be used while the server listens on ${exposure.listening.join(', ')}, beyond loopback: start it with -H 127.0.0.1 (HOSTNAME=127.0.0.1 for server.js), or configure auth.oidc`,
    );
  }
  const { oidc } = config.auth;
  const clientSecret = config.secrets.OIDC_CLIENT_SECRET;
  if (!oidc && !devSignIn) {
    throw new AuthConfigError(
      'no sign-in is configured: set auth.oidc (OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET), or KEYPORTAL_DEV_SIGNIN=true for a test deployment',
    );
  }
  let secret = config.secrets.NEXTAUTH_SECRET;
  if (!secret) {
    if (!embedded) throw new AuthConfigError('NEXTAUTH_SECRET (or NEXTAUTH_SECRET_FILE) is needed to sign session cookies');
    secret = embeddedSecret(config);
  }
  return {
    devSignIn,
    secret,
    ...(oidc && clientSecret ? { oidc: { ...oidc, clientSecret } } : {}),
  };
}

/**
 * The embedded portal keeps a random cookie secret beside its data, so sessions survive a restart
 * without anyone having to invent a secret for a laptop.
 */
function embeddedSecret(config: Config): string {
  const dir = path.dirname(path.resolve(/*turbopackIgnore: true*/ config.store.type === 'local' ? config.store.dir : '.data/requests'));
  const file = path.join(dir, 'session-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const secret = randomBytes(32).toString('base64url');
    try {
      writeFileSync(file, secret, { flag: 'wx', mode: 0o600 });
      return secret;
    } catch {
      // Another process wrote it first: use theirs.
      return readFileSync(file, 'utf8').trim();
    }
  }
}
