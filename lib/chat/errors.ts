/**
 * What a chat call can end in, sorted by what the loop does next: try again later (Slack down,
 * rate limited, a token being fixed), or stop trying this one item (a channel that does not exist,
 * a requester with no Slack account). Messages never hold the token.
 */

/** Try again: at `retryAfterMs` when Slack said when (429 Retry-After), else on the loop's backoff. */
export class ChatUnavailableError extends Error {
  override readonly name = 'ChatUnavailableError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    /** Held back here, at Slack's pace, before Slack had to say so. */
    readonly paced = false,
    /**
     * The call went out and no verdict came back (the connection dropped, the time ran out, an
     * answer that could not be read): Slack may have done it. A post is then looked for before it
     * is made again (lib/chat/slack-history.ts).
     */
    readonly unsure = false,
  ) {
    super(message);
  }
}

/** Slack answered `ok: false` with `code`; `retryable` when only a fix elsewhere (the token) lets it through. */
export class ChatRefusedError extends Error {
  override readonly name = 'ChatRefusedError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** Slack error codes that a retry can cure; every other `ok: false` is the same next time. */
export const TRANSIENT_CODES = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);
/** The token is wrong or gone: every call fails until someone fixes it, so keep trying (slowly) rather than drop work. */
export const AUTH_CODES = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'no_permission', 'missing_scope']);
