import { createHmac } from 'node:crypto';

/**
 * How Slack signs what it sends to an app, and how the double sends it, following
 * "Verifying requests from Slack" (https://api.slack.com/authentication/verifying-requests-from-slack):
 * - `X-Slack-Request-Timestamp`: unix seconds when Slack sent it;
 * - `X-Slack-Signature`: `v0=` + hex HMAC-SHA256, keyed with the app's signing secret, of
 *   `v0:<timestamp>:<raw body>` — the raw bytes, so an app that re-encodes the parsed form fails;
 * and "Handling user interaction" (https://api.slack.com/interactivity/handling): an interaction is
 * a form POST with one field, `payload`, holding JSON; the app must answer within 3 seconds.
 */

/** The two signature headers for `rawBody`, as Slack would send them at `timestamp` (unix seconds). */
export function signRequest(rawBody: string, signingSecret: string, timestamp = Math.floor(Date.now() / 1000)): { headers: Record<string, string> } {
  const hex = createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex');
  return { headers: { 'X-Slack-Request-Timestamp': String(timestamp), 'X-Slack-Signature': `v0=${hex}` } };
}

/**
 * The body of an interaction: `payload=<JSON>` form-encoded as Slack's are (URLSearchParams
 * writes a space as `+`, as Slack does), so an app must verify the bytes, not its own re-encoding.
 */
export function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** One interaction exactly as it went out: replay() sends these bytes and headers again. */
export interface SentInteraction {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** The payload as built, for a test to read without parsing the body. */
  payload: Record<string, unknown>;
  at: number;
}

/** What the app answered; `status` 0 with `timedOut` when it took longer than Slack waits. */
export interface InteractionResult {
  status: number;
  body: string;
  timedOut: boolean;
  /** How long the app took to answer, in milliseconds. */
  ms: number;
  /** A trigger_id the payload carried, which views.open on the double accepts once within 3 s. */
  triggerId?: string;
  sent: SentInteraction;
}

/** Builds the request Slack would send: the form body, its signature, Slack's content type and user agent. */
export function signedInteraction(url: string, payload: Record<string, unknown>, signingSecret: string, timestamp?: number): SentInteraction {
  const body = interactionBody(payload);
  return {
    url,
    body,
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'User-Agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      ...signRequest(body, signingSecret, timestamp).headers,
    },
    payload,
    at: Date.now(),
  };
}

/**
 * POSTs `sent` (plus `extraHeaders`, e.g. the retry headers) and waits at most `timeoutMs`, as
 * Slack gives up on an app after 3 seconds and shows the person an error.
 */
export async function deliver(sent: SentInteraction, timeoutMs: number, extraHeaders: Record<string, string> = {}): Promise<Omit<InteractionResult, 'triggerId' | 'sent'>> {
  const started = Date.now();
  try {
    const res = await fetch(sent.url, {
      method: 'POST',
      headers: { ...sent.headers, ...extraHeaders },
      body: sent.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await res.text();
    return { status: res.status, body, timedOut: false, ms: Date.now() - started };
  } catch (err) {
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
      return { status: 0, body: '', timedOut: true, ms: Date.now() - started };
    }
    throw err;
  }
}
