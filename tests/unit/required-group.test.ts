import { describe, expect, it } from 'vitest';
import { SessionEndedError, buildAuthOptions } from '@/lib/auth/options';
import { revokeForMissingGroup } from '@/lib/auth/required-group';
import { resolveAuth } from '@/lib/auth/settings';
import { parseConfig } from '@/lib/config/load';
import { MemoryPeople } from '../helpers/memory-people';
import { MemoryStore } from '../helpers/memory-store';

const oidcEnv = { NEXTAUTH_SECRET: 'n'.repeat(32), OIDC_CLIENT_SECRET: 'client-secret' };
const config = parseConfig(
  { models: [{ id: 'gpt-4o', title: 'GPT-4o' }, { id: 'experimental', title: 'Experimental' }], store: { type: 'kubernetes' }, auth: { oidc: { issuer: 'https://id.example.com', clientId: 'keyportal', requiredGroup: 'staff' } } },
  { source: 'test', env: oidcEnv },
);

async function storeWithKeys() {
  const store = new MemoryStore();
  const issued = (await store.create({ email: 'leaver@example.com', model: 'gpt-4o' })).request;
  const approved = await store.update(issued, { state: 'approved', decision: 'approved', decidedBy: 'plugin:whitelist', decidedAt: '2026-01-01T00:00:00Z' });
  await store.update(approved, { state: 'issued', keySha256: 'a'.repeat(64), issuedAt: '2026-01-01T00:00:00Z' });
  const open = (await store.create({ email: 'leaver@example.com', model: 'experimental' })).request;
  return { store, issued: issued.id, open: open.id };
}

type SignIn = (a: { user: { email?: string | null; groups?: string[]; groupsClaimed?: boolean }; account: { provider: string } }) => Promise<boolean | string>;
type Jwt = (a: { token: Record<string, unknown>; user?: { email?: string | null; groups?: string[] } }) => Promise<Record<string, unknown>>;

describe('auth.oidc.requiredGroup', () => {
  it('a person who signs in without the group is refused, and every key they hold is revoked through offboarding', async () => {
    const { store, issued, open } = await storeWithKeys();
    const { callbacks } = buildAuthOptions(config, resolveAuth(config), { missingRequiredGroup: (email, group) => revokeForMissingGroup({ store, people: new MemoryPeople() }, email, group) });
    const signIn = callbacks?.signIn as unknown as SignIn;

    expect(await signIn({ user: { email: 'Leaver@Example.com', groups: ['contractors'], groupsClaimed: true }, account: { provider: 'oidc' } })).toBe('/signin?error=RequiredGroup');
    expect(await store.get(issued)).toMatchObject({ state: 'revoked', decidedBy: 'keyportal', reason: 'You are no longer in the group staff, which keys require.' });
    expect(await store.get(open)).toMatchObject({ state: 'denied', decision: 'denied' });
  });

  it('a person in the group signs in and keeps their keys', async () => {
    const { store, issued } = await storeWithKeys();
    let called = false;
    const { callbacks } = buildAuthOptions(config, resolveAuth(config), { missingRequiredGroup: async () => void (called = true) });
    const signIn = callbacks?.signIn as unknown as SignIn;
    expect(await signIn({ user: { email: 'leaver@example.com', groups: ['staff'], groupsClaimed: true }, account: { provider: 'oidc' } })).toBe(true);
    expect(called).toBe(false);
    expect((await store.get(issued)).state).toBe('issued');
  });

  it('a sign-in without any groups claim (Azure AD past 200 groups, a provider that omits it) is refused with its own message, and takes nothing away', async () => {
    const { store, issued, open } = await storeWithKeys();
    let called = false;
    const { callbacks } = buildAuthOptions(config, resolveAuth(config), { missingRequiredGroup: async () => void (called = true) });
    const signIn = callbacks?.signIn as unknown as SignIn;
    expect(await signIn({ user: { email: 'leaver@example.com', groups: [], groupsClaimed: false }, account: { provider: 'oidc' } })).toBe('/signin?error=GroupsClaimMissing');
    expect(called).toBe(false);
    expect((await store.get(issued)).state).toBe('issued');
    expect((await store.get(open)).state).toBe('pending');
  });
});

describe('sessions', () => {
  const hooks = (offboarded: Map<string, { standing: boolean; at: number }>) => ({ offboarding: async (email: string) => offboarded.get(email) });

  it('someone offboarded is refused at sign-in, a session they still hold ends at its next use, and stays ended once they are let back in', async () => {
    const gone = new Map<string, { standing: boolean; at: number }>();
    const { callbacks } = buildAuthOptions(config, resolveAuth(config), hooks(gone));
    const signIn = callbacks?.signIn as unknown as SignIn;
    const jwt = callbacks?.jwt as unknown as Jwt;
    const token = await jwt({ token: {}, user: { email: 'eve@example.com', groups: ['staff'] } });
    expect(await jwt({ token })).toMatchObject({ email: 'eve@example.com' });
    gone.set('eve@example.com', { standing: true, at: (token.signedInAt as number) + 1000 });
    await expect(jwt({ token })).rejects.toThrow(SessionEndedError);
    expect(await signIn({ user: { email: 'Eve@example.com', groups: ['staff'], groupsClaimed: true }, account: { provider: 'oidc' } })).toBe('/signin?error=Offboarded');
    // Let back in: a fresh sign-in works, the session from before the offboarding stays ended.
    gone.set('eve@example.com', { standing: false, at: (token.signedInAt as number) + 1000 });
    expect(await signIn({ user: { email: 'eve@example.com', groups: ['staff'], groupsClaimed: true }, account: { provider: 'oidc' } })).toBe(true);
    await expect(jwt({ token })).rejects.toThrow(SessionEndedError);
    const fresh = await jwt({ token: {}, user: { email: 'eve@example.com', groups: ['staff'] } });
    expect(await jwt({ token: { ...fresh, signedInAt: (token.signedInAt as number) + 2000 } })).toMatchObject({ email: 'eve@example.com' });
  });

  it('an offboarding recorded in the same second as the sign-in (its time is kept to the second) ends that session too', async () => {
    const gone = new Map<string, { standing: boolean; at: number }>();
    const jwt = buildAuthOptions(config, resolveAuth(config), hooks(gone)).callbacks?.jwt as unknown as Jwt;
    const token = { email: 'eve@example.com', groups: [], groupsAt: Date.now(), signedInAt: Date.now() };
    gone.set('eve@example.com', { standing: false, at: Math.floor(token.signedInAt / 1000) * 1000 });
    await expect(jwt({ token })).rejects.toThrow(SessionEndedError);
    gone.set('eve@example.com', { standing: false, at: Math.floor(token.signedInAt / 1000) * 1000 - 1000 });
    expect(await jwt({ token })).toMatchObject({ email: 'eve@example.com' });
  });

  it('a session has an absolute lifetime: using it does not extend it', async () => {
    const { callbacks } = buildAuthOptions(config, resolveAuth(config), hooks(new Map()));
    const jwt = callbacks?.jwt as unknown as Jwt;
    const token = await jwt({ token: {}, user: { email: 'eve@example.com', groups: [] } });
    const hours = (h: number) => h * 3_600_000;
    // Used every hour for seven hours: still the sign-in's time. (Moved back from the token's own
    // time, not from a second Date.now(): a millisecond between the two made this flaky.)
    const signedInAt = (token.signedInAt as number) - hours(7);
    const used = await jwt({ token: { ...token, signedInAt } });
    expect(used.signedInAt).toBe(signedInAt);
    await expect(jwt({ token: { ...token, signedInAt: Date.now() - hours(8) - 1000 } })).rejects.toThrow(/lifetime/);
    // A session from before signedInAt existed counts from its groups' time.
    await expect(jwt({ token: { email: 'eve@example.com', groupsAt: Date.now() - hours(9) } })).rejects.toThrow(SessionEndedError);
    expect(config.auth.sessionMaxAgeHours).toBe(8);
  });
});
