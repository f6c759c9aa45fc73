import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 over `<timestamp>.<endpoint>.<body>`, sent as `t=<unix seconds>,v2=<hex>`: the
 * scheme the signed webhooks verify and the `http` plugin signs with. The timestamp makes a
 * captured call useless once it is stale; the endpoint (`approval`, `offboarding`, `decide` for
 * the http plugin) makes a signature made for one endpoint worthless at another, even when the
 * two share a secret.
 *
 * `v1` (no endpoint in the signed text) is refused: a v1 signature for an approval could be
 * replayed, within its five minutes, to the offboarding webhook.
 */
export const SIGNATURE_HEADER = 'x-keyportal-signature';

/** Where a signature is valid: one name per signed endpoint. */
export type SignedEndpoint = 'approval' | 'offboarding' | 'decide' | 'audit';

export function sign(secret: string, timestamp: number, endpoint: SignedEndpoint, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${endpoint}.${body}`).digest('hex');
}

export function signatureHeader(secret: string, endpoint: SignedEndpoint, body: string, now: Date = new Date()): string {
  const t = Math.floor(now.getTime() / 1000);
  return `t=${t},v2=${sign(secret, t, endpoint, body)}`;
}

export type VerifyResult =
  | { ok: true; timestamp: number; signature: string; /** Which of the secrets matched. */ index: number }
  | { ok: false; problem: 'missing' | 'malformed' | 'stale' | 'mismatch'; message: string };

/** Checks a signature header for `endpoint` against every current secret (several allow rotation). */
export function verifySignature(
  header: string | null | undefined,
  endpoint: SignedEndpoint,
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
  const v2 = parts.v2 ?? '';
  if (parts.v1 !== undefined && parts.v2 === undefined) {
    return { ok: false, problem: 'malformed', message: `v1 signatures name no endpoint and are refused: sign "<t>.${endpoint}.<body>" and send t=<unix seconds>,v2=<64 hex chars>` };
  }
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(v2)) {
    return { ok: false, problem: 'malformed', message: `the ${SIGNATURE_HEADER} header must look like t=<unix seconds>,v2=<64 hex chars>` };
  }
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(now - t) > tolerance) {
    return { ok: false, problem: 'stale', message: `the signature timestamp is more than ${tolerance} s away from the server's clock` };
  }
  const given = Buffer.from(v2, 'hex');
  for (const [index, secret] of secrets.entries()) {
    if (timingSafeEqual(given, Buffer.from(sign(secret, t, endpoint, body), 'hex'))) return { ok: true, timestamp: t, signature: v2, index };
  }
  return { ok: false, problem: 'mismatch', message: `the signature does not match the body signed for the ${endpoint} endpoint` };
}
