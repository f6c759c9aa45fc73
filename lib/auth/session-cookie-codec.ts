import { randomUUID } from 'node:crypto';
import hkdf from '@panva/hkdf';
import { EncryptJWT, jwtDecrypt } from 'jose';
import type { JWT, JWTDecodeParams, JWTEncodeParams } from 'next-auth/jwt';

/** next-auth's defaults: a cookie's lifetime when none is given, and jose's leeway on its time claims. */
const DEFAULT_MAX_AGE_S = 30 * 24 * 60 * 60;
const CLOCK_TOLERANCE_S = 15;
/** Keys kept: one per secret and salt; more than a few means a caller varies them, and they are let go. */
const KEYS_KEPT = 8;

type Derive = (secret: string | Buffer, salt: string) => Promise<Uint8Array>;

/** next-auth v4's derivation of the cookie's key from NEXTAUTH_SECRET (next-auth/jwt `getDerivedEncryptionKey`). */
const nextAuthKey: Derive = (secret, salt) => hkdf('sha256', secret, salt, `NextAuth.js Generated Encryption Key${salt ? ` (${salt})` : ''}`, 32);

export interface SessionCookieCodec {
  encode(params: JWTEncodeParams): Promise<string>;
  decode(params: JWTDecodeParams): Promise<JWT | null>;
}

/**
 * next-auth v4's session cookie in exactly its format (a JWE, `dir` + A256GCM, with iat, exp and
 * a random jti; the same libraries, jose and @panva/hkdf), given to next-auth as its documented
 * `jwt.encode`/`jwt.decode` and used for the portal's own session read.
 *
 * Why not next-auth's own: it derives the key from the secret (HKDF) again on every encode and
 * every decode, 150–300 µs of CPU each here (bench/session-cookie.ts): 5 % of the web server's
 * CPU in the load bench, at every sign-in and on every call a signed-in browser makes. The key
 * depends on nothing but the secret and the salt, so it is derived once for each. Everything
 * else, the decryption and every claim check, is still jose's on every call, with next-auth's
 * leeway.
 */
export function sessionCookieCodec(derive: Derive = nextAuthKey): SessionCookieCodec {
  const keys = new Map<string, Promise<Uint8Array>>();
  const keyFor = (secret: string | Buffer, salt: string): Promise<Uint8Array> => {
    const id = `${salt}\u0000${Buffer.isBuffer(secret) ? `b:${secret.toString('base64')}` : `s:${secret}`}`;
    let key = keys.get(id);
    if (!key) {
      if (keys.size >= KEYS_KEPT) keys.clear();
      key = derive(secret, salt);
      keys.set(id, key);
      // A derivation that failed is not kept: the next call tries again and says why.
      key.catch(() => keys.get(id) === key && keys.delete(id));
    }
    return key;
  };
  return {
    async encode({ token = {}, secret, maxAge = DEFAULT_MAX_AGE_S, salt = '' }) {
      const now = Math.floor(Date.now() / 1000);
      return new EncryptJWT(token)
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .setIssuedAt()
        .setExpirationTime(now + maxAge)
        .setJti(randomUUID())
        .encrypt(await keyFor(secret, salt));
    },
    async decode({ token, secret, salt = '' }) {
      if (!token) return null;
      const { payload } = await jwtDecrypt(token, await keyFor(secret, salt), { clockTolerance: CLOCK_TOLERANCE_S });
      return payload as JWT;
    },
  };
}

/** The one codec of the process: next-auth's options and the portal's session read use it. */
export const sessionCookie = sessionCookieCodec();
