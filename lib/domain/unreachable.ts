/** What a failed call's socket says when no connection carried an answer: refused, no route, no DNS name (yet), no connect in time. */
const NOTHING_ANSWERED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

type Failure = { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;

/**
 * Whether a failed call means nothing answered at the address (worth asking again while a new
 * Service starts to route), as against an answer we refuse: a redirect (`redirect: 'error'`)
 * or a body cut short also reject a fetch. The code is on node:http's error itself, and on a
 * fetch error's cause.
 */
export function nothingAnswered(err: unknown): boolean {
  const e = err as Failure;
  return e?.name === 'TimeoutError' || NOTHING_ANSWERED.has(e?.code ?? e?.cause?.code ?? '');
}

/** The short reason a call failed, for a message: the socket's code when there is one, else its text. */
export function failureCause(err: unknown): string {
  const e = err as Failure;
  return e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
