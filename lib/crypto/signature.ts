import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 over `timestamp.body`, sent as `t=<unix seconds>,v1=<hex>`: the scheme the `http`
 * plugin signs with and the approval webhook verifies. Signing the timestamp with the body makes
 * a captured request useless once it is stale.
 */
export const SIGNATURE_HEADER = 'x-keyportal-signature';

export function sign(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

export function signatureHeader(secret: string, body: string, now: Date = new Date()): string {
  const t = Math.floor(now.getTime() / 1000);
  return `t=${t},v1=${sign(secret, t, body)}`;
}

export type VerifyResult =
  | { ok: true; timestamp: number; signature: string; /** Which of the secrets matched. */ index: number }
  | { ok: false; problem: 'missing' | 'malformed' | 'stale' | 'mismatch'; message: string };

/** Checks a signature header against every current secret (several allow rotation). */
export function verifySignature(
  header: string | null | undefined,
  body: string,
  secrets: readonly string[],
  options: { now?: Date; toleranceSeconds?: number } = {},
): VerifyResult {
  if (!header) return { ok: false, problem: 'missing', message: `the ${SIGNATURE_HEADER} header is missing` };
  const parts = Object.fromEntries(
    header.split(',').map((p) => {
      const i = p.indexOf('=');
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()];
    }),
  );
  const t = Number(parts.t);
  const v1 = parts.v1 ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(v1)) {
    return { ok: false, problem: 'malformed', message: `the ${SIGNATURE_HEADER} header must look like t=<unix seconds>,v1=<64 hex chars>` };
  }
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(now - t) > tolerance) {
    return { ok: false, problem: 'stale', message: `the signature timestamp is more than ${tolerance} s away from the server's clock` };
  }
  const given = Buffer.from(v1, 'hex');
  for (const [index, secret] of secrets.entries()) {
    if (timingSafeEqual(given, Buffer.from(sign(secret, t, body), 'hex'))) return { ok: true, timestamp: t, signature: v1, index };
  }
  return { ok: false, problem: 'mismatch', message: 'the signature does not match the body' };
}
