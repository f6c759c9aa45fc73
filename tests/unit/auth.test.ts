import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchesEmail } from '@/lib/approval/patterns';
import { isApprover } from '@/lib/auth/roles';
import { AuthConfigError, resolveAuth } from '@/lib/auth/settings';
import { parseConfig } from '@/lib/config/load';

const models = [{ id: 'gpt-4o', title: 'GPT-4o' }];

function config(doc: Record<string, unknown>, env: Record<string, string> = {}) {
  return parseConfig({ models, ...doc }, { source: 'test', env });
}

describe('sign-in settings', () => {
  it('offers development sign-in on the embedded default, with a session secret kept beside the data', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kp-auth-'));
    const c = config({ store: { type: 'local', dir: path.join(dir, 'requests') } });
    const auth = resolveAuth(c);
    expect(auth.devSignIn).toBe(true);
    expect(auth.oidc).toBeUndefined();
    expect(readFileSync(path.join(dir, 'session-secret'), 'utf8')).toBe(auth.secret);
    // A restart signs sessions with the same secret, so nobody is signed out.
    expect(resolveAuth(c).secret).toBe(auth.secret);
  });

  it('refuses a real deployment with no OIDC and no explicit opt-in to development sign-in', () => {
    const c = config({ store: { type: 'kubernetes', namespace: 'kp' } }, { NEXTAUTH_SECRET: 's' });
    expect(() => resolveAuth(c)).toThrow(AuthConfigError);
    expect(() => resolveAuth(c)).toThrow(/no sign-in is configured: set auth.oidc \(OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET\)/);
    const optedIn = config({ store: { type: 'kubernetes', namespace: 'kp' } }, { NEXTAUTH_SECRET: 's', KEYPORTAL_DEV_SIGNIN: 'true' });
    expect(resolveAuth(optedIn).devSignIn).toBe(true);
  });

  it('needs NEXTAUTH_SECRET outside the embedded mode, and OIDC_CLIENT_SECRET when OIDC is set', () => {
    const env = { OIDC_ISSUER: 'https://id.example.com', OIDC_CLIENT_ID: 'keyportal' };
    expect(() => config({ store: { type: 'kubernetes' } }, env)).toThrow(/auth.oidc: is set, so OIDC_CLIENT_SECRET \(or OIDC_CLIENT_SECRET_FILE\) is needed/);
    const c = config({ store: { type: 'kubernetes' } }, { ...env, OIDC_CLIENT_SECRET: 'cs' });
    expect(() => resolveAuth(c)).toThrow(/NEXTAUTH_SECRET \(or NEXTAUTH_SECRET_FILE\) is needed/);
    const ok = resolveAuth(config({ store: { type: 'kubernetes' } }, { ...env, OIDC_CLIENT_SECRET: 'cs', NEXTAUTH_SECRET: 'ns' }));
    expect(ok).toMatchObject({ devSignIn: false, oidc: { issuer: 'https://id.example.com', clientId: 'keyportal', clientSecret: 'cs', groupsClaim: 'groups' } });
  });

  it('refuses secrets written into the file, naming the variable to use instead', () => {
    expect(() => config({ auth: { oidc: { issuer: 'https://id.example.com', clientId: 'x', clientSecret: 'oops' } } })).toThrow(
      /auth.oidc.clientSecret: secrets are never read from the config file; set OIDC_CLIENT_SECRET/,
    );
  });
});

describe('approvers', () => {
  const approvers = { emails: ['admin@example.com', '*@platform.example.com'], groups: ['keyportal-approvers'] };
  it('matches email globs case-insensitively and OIDC groups exactly', () => {
    expect(isApprover(approvers, 'Admin@Example.com', [])).toBe(true);
    expect(isApprover(approvers, 'sre@platform.example.com', [])).toBe(true);
    expect(isApprover(approvers, 'sre@platform.example.com.evil.test', [])).toBe(false);
    expect(isApprover(approvers, 'dev@example.com', ['keyportal-approvers'])).toBe(true);
    expect(isApprover(approvers, 'dev@example.com', ['Keyportal-Approvers', 'devs'])).toBe(false);
  });

  it('never matches an address that is not one: a glob’s * would cross the second @', () => {
    expect(isApprover(approvers, 'x@evil.com@platform.example.com', [])).toBe(false);
    expect(isApprover(approvers, ' sre@platform.example.com ', [])).toBe(true);
    expect(isApprover(approvers, 'sre@platform.example.com\n', [])).toBe(true);
    expect(isApprover(approvers, '@platform.example.com', [])).toBe(false);
    expect(matchesEmail('x@evil.com@platform.example.com', ['*@platform.example.com'])).toBeUndefined();
    expect(matchesEmail('Ada@Platform.Example.com', ['*@platform.example.com'])).toBe('*@platform.example.com');
  });
});
