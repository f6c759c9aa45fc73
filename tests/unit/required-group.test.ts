import { describe, expect, it } from 'vitest';
import { buildAuthOptions } from '@/lib/auth/options';
import { revokeForMissingGroup } from '@/lib/auth/required-group';
import { resolveAuth } from '@/lib/auth/settings';
import { parseConfig } from '@/lib/config/load';
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

type SignIn = (a: { user: { email?: string | null; groups?: string[] }; account: { provider: string } }) => Promise<boolean | string>;

describe('auth.oidc.requiredGroup', () => {
  it('a person who signs in without the group is refused, and every key they hold is revoked through offboarding', async () => {
    const { store, issued, open } = await storeWithKeys();
    const { callbacks } = buildAuthOptions(config, resolveAuth(config), { missingRequiredGroup: (email, group) => revokeForMissingGroup(store, email, group) });
    const signIn = callbacks?.signIn as unknown as SignIn;

    expect(await signIn({ user: { email: 'Leaver@Example.com', groups: ['contractors'] }, account: { provider: 'oidc' } })).toBe(false);
    expect(await store.get(issued)).toMatchObject({ state: 'revoked', decidedBy: 'keyportal', reason: 'You are no longer in the group staff, which keys require.' });
    expect(await store.get(open)).toMatchObject({ state: 'denied', decision: 'denied' });
  });

  it('a person in the group signs in and keeps their keys', async () => {
    const { store, issued } = await storeWithKeys();
    let called = false;
    const { callbacks } = buildAuthOptions(config, resolveAuth(config), { missingRequiredGroup: async () => void (called = true) });
    const signIn = callbacks?.signIn as unknown as SignIn;
    expect(await signIn({ user: { email: 'leaver@example.com', groups: ['staff'] }, account: { provider: 'oidc' } })).toBe(true);
    expect(called).toBe(false);
    expect((await store.get(issued)).state).toBe('issued');
  });
});
