import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Slack's request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature: v0=<hex of HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>`, with
 * `X-Slack-Request-Timestamp` no more than five minutes from our clock. Checked on the raw bytes,
 * before anything is parsed.
 */

export const SLACK_TOLERANCE_SECONDS = 300;

export type SlackVerdict = { ok: true } | { ok: false; why: 'missing' | 'stale' | 'mismatch' };

export function verifySlackSignature(rawBody: string, timestamp: string | null, signature: string | null, secret: string, nowMs = Date.now()): SlackVerdict {
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp) || !/^v0=[0-9a-f]{64}$/.test(signature)) return { ok: false, why: 'missing' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_TOLERANCE_SECONDS) return { ok: false, why: 'stale' };
  const expected = createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest();
  const given = Buffer.from(signature.slice(3), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? { ok: true } : { ok: false, why: 'mismatch' };
}

/**
 * Signatures seen in the last five minutes, in this process: the same signed bytes twice are a
 * replay (or a client resending), and are acknowledged without acting again. Across replicas the
 * actions themselves are idempotent (a second approval by the same person changes nothing).
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(private readonly max = 50_000) {}

  /** True the first time these signed bytes are seen inside the window. */
  firstSight(signature: string, nowMs = Date.now()): boolean {
    for (const [sig, until] of this.seen) {
      if (until > nowMs) break;
      this.seen.delete(sig);
    }
    if (this.seen.has(signature)) return false;
    if (this.seen.size >= this.max) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(signature, nowMs + SLACK_TOLERANCE_SECONDS * 1000);
    return true;
  }
}
