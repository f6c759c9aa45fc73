import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import hkdf from '@panva/hkdf';
import { decodeProtectedHeader } from 'jose';
import type { NextApiRequest } from 'next';
import { decode as nextAuthDecode, encode as nextAuthEncode, getToken } from 'next-auth/jwt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildAuthOptions } from '@/lib/auth/options';
import { sessionCookie, sessionCookieCodec } from '@/lib/auth/session-cookie-codec';
import { resolveAuth } from '@/lib/auth/settings';
import { parseConfig } from '@/lib/config/load';

const SECRET = 'a-session-secret-of-the-portal-1234567890';
const OTHER = 'another-secret-entirely-0987654321abcdef';
const claims = { email: 'ada@example.com', name: 'Ada', groups: ['staff'], signedInAt: 1_700_000_000_000 };

/** The codec, with next-auth's derivation counted. */
function counted() {
  let derivations = 0;
  const codec = sessionCookieCodec((secret, salt) => {
    derivations++;
    return hkdf('sha256', secret, salt, `NextAuth.js Generated Encryption Key${salt ? ` (${salt})` : ''}`, 32);
  });
  return { codec, derivations: () => derivations };
}

/** What a decode answered, or the kind of error it threw. */
const outcome = (p: Promise<unknown>) => p.then((v) => ({ ok: v }), (e: unknown) => ({ threw: (e as Error).name }));

afterEach(() => vi.useRealTimers());

describe('the session cookie codec given to next-auth', () => {
  it("reads next-auth's own cookies and writes cookies next-auth reads, claims and all", async () => {
    const { codec } = counted();
    const theirs = await nextAuthEncode({ token: claims, secret: SECRET, maxAge: 3600 });
    expect(await codec.decode({ token: theirs, secret: SECRET })).toEqual(await nextAuthDecode({ token: theirs, secret: SECRET }));
    const ours = await codec.encode({ token: claims, secret: SECRET, maxAge: 3600 });
    const read = await nextAuthDecode({ token: ours, secret: SECRET });
    expect(read).toMatchObject(claims);
    expect(read?.exp).toBe((read?.iat as number) + 3600);
    expect(read?.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(decodeProtectedHeader(ours)).toEqual(decodeProtectedHeader(theirs));
    // With a salt, as next-auth's other tokens use one.
    const salted = await codec.encode({ token: claims, secret: SECRET, salt: 'x' });
    expect(await nextAuthDecode({ token: salted, secret: SECRET, salt: 'x' })).toMatchObject(claims);
    await expect(nextAuthDecode({ token: salted, secret: SECRET })).rejects.toThrow();
  });

  it('derives the key once for each secret and salt, however many cookies', async () => {
    const { codec, derivations } = counted();
    for (let i = 0; i < 50; i++) await codec.decode({ token: await codec.encode({ token: { email: `p${i}@example.com` }, secret: SECRET }), secret: SECRET });
    expect(derivations()).toBe(1);
    await codec.encode({ token: claims, secret: SECRET, salt: 'x' });
    await codec.encode({ token: claims, secret: OTHER });
    expect(derivations()).toBe(3);
  });

  it("refuses what next-auth's own decode refuses: a tampered cookie, another secret, an expired one", async () => {
    const { codec } = counted();
    const token = await nextAuthEncode({ token: claims, secret: SECRET });
    const tampered = `${token.slice(0, -6)}AAAAAA`;
    for (const [t, s] of [[tampered, SECRET], [token, OTHER], ['not-a-cookie', SECRET]] as const) {
      const theirs = await outcome(nextAuthDecode({ token: t, secret: s }));
      expect(theirs).toHaveProperty('threw');
      expect(await outcome(codec.decode({ token: t, secret: s }))).toEqual(theirs);
    }
    expect(await codec.decode({ token: '', secret: SECRET })).toBeNull();
  });

  it("ends a cookie's life exactly where next-auth's decode does: 15 s past its expiry", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.UTC(2026, 11, 7, 12, 0, 0);
    vi.setSystemTime(start);
    const { codec } = counted();
    const token = await codec.encode({ token: claims, secret: SECRET, maxAge: 60 });
    for (const secondsAfter of [0, 74, 74.999, 75, 90]) {
      vi.setSystemTime(start + secondsAfter * 1000);
      const theirs = await outcome(nextAuthDecode({ token, secret: SECRET }));
      expect(await outcome(codec.decode({ token, secret: SECRET })), `${secondsAfter} s after sign-in`).toEqual(theirs);
    }
  });

  it('is what next-auth is given for the session cookie', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kp-codec-'));
    const c = parseConfig({ models: [{ id: 'gpt-4o', title: 'GPT-4o' }], store: { type: 'local', dir: path.join(dir, 'requests') } }, { source: 'test', env: {} });
    expect(buildAuthOptions(c, resolveAuth(c)).jwt).toBe(sessionCookie);
  });

  it('is what getToken reads a session with, answering as it does with its own decode', async () => {
    const { codec } = counted();
    const cookie = await nextAuthEncode({ token: claims, secret: SECRET });
    for (const value of [cookie, 'not-a-cookie']) {
      const req = { cookies: { 'next-auth.session-token': value }, headers: {} } as unknown as NextApiRequest;
      expect(await getToken({ req, secret: SECRET, secureCookie: false, decode: codec.decode })).toEqual(await getToken({ req, secret: SECRET, secureCookie: false }));
    }
  });
});
