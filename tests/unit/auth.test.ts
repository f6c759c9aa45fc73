import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchesEmail } from '@/lib/approval/patterns';
import { isApprover } from '@/lib/auth/roles';
import { localPath } from '@/lib/http/local-path';
import { buildAuthOptions } from '@/lib/auth/options';
import { AuthConfigError, resolveAuth } from '@/lib/auth/settings';
import { parseConfig } from '@/lib/config/load';

const models = [{ id: 'gpt-4o', title: 'GPT-4o' }];
/** A session secret of the length config load asks for. */
const NS = 'n'.repeat(32);

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
    const c = config({ store: { type: 'kubernetes', namespace: 'kp' } }, { NEXTAUTH_SECRET: NS });
    expect(() => resolveAuth(c)).toThrow(AuthConfigError);
    expect(() => resolveAuth(c)).toThrow(/no sign-in is configured: set auth.oidc \(OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET\)/);
    const optedIn = config({ store: { type: 'kubernetes', namespace: 'kp' } }, { NEXTAUTH_SECRET: NS, KEYPORTAL_DEV_SIGNIN: 'true' });
    expect(resolveAuth(optedIn).devSignIn).toBe(true);
  });

  it('needs NEXTAUTH_SECRET outside the embedded mode, and OIDC_CLIENT_SECRET when OIDC is set', () => {
    const env = { OIDC_ISSUER: 'https://id.example.com', OIDC_CLIENT_ID: 'keyportal' };
    expect(() => config({ store: { type: 'kubernetes' } }, env)).toThrow(/auth.oidc: is set, so OIDC_CLIENT_SECRET \(or OIDC_CLIENT_SECRET_FILE\) is needed/);
    const c = config({ store: { type: 'kubernetes' } }, { ...env, OIDC_CLIENT_SECRET: 'cs' });
    expect(() => resolveAuth(c)).toThrow(/NEXTAUTH_SECRET \(or NEXTAUTH_SECRET_FILE\) is needed/);
    const ok = resolveAuth(config({ store: { type: 'kubernetes' } }, { ...env, OIDC_CLIENT_SECRET: 'cs', NEXTAUTH_SECRET: NS }));
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

describe('identity a company can trust', () => {
  const oidcEnv = { OIDC_ISSUER: 'https://id.example.com', OIDC_CLIENT_ID: 'keyportal', OIDC_CLIENT_SECRET: 'cs', NEXTAUTH_SECRET: NS };
  function profileOf(doc: Record<string, unknown> = {}) {
    const c = config({ store: { type: 'kubernetes' }, ...doc }, oidcEnv);
    const provider = buildAuthOptions(c, resolveAuth(c)).providers[0] as unknown as { profile(raw: unknown): { email: string | null } };
    return (claims: Record<string, unknown>) => provider.profile({ sub: 'u1', ...claims }).email;
  }

  it('takes the email only when the identity provider says it verified it', () => {
    const profile = profileOf();
    expect(profile({ email: 'Ada@Example.com', email_verified: true })).toBe('ada@example.com');
    expect(profile({ email: 'ada@example.com', email_verified: 'true' })).toBe('ada@example.com');
    expect(profile({ email: 'ada@example.com', email_verified: false })).toBeNull();
    // No claim at all is not a yes.
    expect(profile({ email: 'ada@example.com' })).toBeNull();
  });

  it('trusts a provider that never sends email_verified only when told to, knowingly', () => {
    const profile = profileOf({ auth: { oidc: { issuer: 'https://id.example.com', clientId: 'keyportal', trustUnverifiedEmail: true } } });
    expect(profile({ email: 'ada@example.com' })).toBe('ada@example.com');
    expect(profile({ email: 'ada@example.com', email_verified: false })).toBeNull();
  });

  it('refuses an address that is not one, before it becomes a label hash or an approver match', () => {
    const profile = profileOf();
    expect(profile({ email: 'x@evil.com@platform.example.com', email_verified: true })).toBeNull();
    expect(profile({ email: 'not-an-address', email_verified: true })).toBeNull();
  });

  it.each(['https://keys.example.com', 'http://keys.example.com', 'http://10.0.0.5:3000', 'https://localhost:3000'])(
    'never offers development sign-in at %s, whatever the setting says',
    (publicUrl) => {
      const c = config({ store: { type: 'kubernetes' }, portal: { publicUrl } }, { NEXTAUTH_SECRET: NS, KEYPORTAL_DEV_SIGNIN: 'true' });
      expect(() => resolveAuth(c)).toThrow(/development sign-in cannot be used when portal.publicUrl is .*only for http:\/\/ on a loopback host/);
    },
  );

  it.each(['http://localhost:3000', 'http://127.0.0.1:3102', 'http://[::1]:3000'])('offers it, when asked, at %s', (publicUrl) => {
    const c = config({ store: { type: 'kubernetes' }, portal: { publicUrl } }, { NEXTAUTH_SECRET: NS, KEYPORTAL_DEV_SIGNIN: 'true' });
    expect(resolveAuth(c).devSignIn).toBe(true);
  });

  it('approver rights from a group end groupsMaxAgeSeconds after sign-in, until the user signs in again', () => {
    const c = config({ store: { type: 'kubernetes' }, auth: { oidc: { issuer: 'https://id.example.com', clientId: 'keyportal', groupsMaxAgeSeconds: 600 } } }, oidcEnv);
    const { callbacks } = buildAuthOptions(c, resolveAuth(c));
    const session = (groupsAt: number) =>
      (callbacks?.session as unknown as (a: unknown) => { groups: string[]; groupsExpired?: boolean })({
        session: { expires: '' },
        token: { email: 'lead@example.com', groups: ['keyportal-approvers'], groupsAt },
      });
    expect(session(Date.now() - 599_000)).toMatchObject({ groups: ['keyportal-approvers'], groupsExpired: false });
    expect(session(Date.now() - 601_000)).toMatchObject({ groups: [], groupsExpired: true });
  });
});

describe('redirects after sign-in stay on the portal', () => {
  it.each([
    ['/requests/abc?x=1#top', '/requests/abc?x=1#top'],
    ['/approvals', '/approvals'],
    ['//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['/\t/evil.example', '/'],
    ['/%09/evil.example', '/%09/evil.example'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    [undefined, '/'],
  ])('%s → %s', (raw, expected) => {
    expect(localPath(raw)).toBe(expected);
  });
});
