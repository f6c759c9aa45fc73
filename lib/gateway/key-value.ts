import { randomBytes } from 'node:crypto';

/** `prefix` + 32 url-safe random characters (192 bits). */
export function randomKey(prefix: string): string {
  return `${prefix}${randomBytes(24).toString('base64url')}`;
}
