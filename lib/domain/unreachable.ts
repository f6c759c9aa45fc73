/** What a fetch failure's cause says when no connection carried an answer: refused, no route, no DNS name (yet), no connect in time. */
const NOTHING_ANSWERED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Whether a failed fetch means nothing answered at the address (worth asking again while a new
 * Service starts to route), as against an answer we refuse: a redirect (`redirect: 'error'`)
 * or a body cut short also reject fetch.
 */
export function nothingAnswered(err: unknown): boolean {
  const e = err as { name?: string; cause?: { code?: string } } | undefined;
  return e?.name === 'TimeoutError' || NOTHING_ANSWERED.has(e?.cause?.code ?? '');
}

/** The short reason a fetch failed, for a message: the socket's code when there is one, else its text. */
export function fetchFailureCause(err: unknown): string {
  const e = err as (Error & { cause?: { code?: string; message?: string } }) | undefined;
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
