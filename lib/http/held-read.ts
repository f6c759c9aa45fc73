import type { StatusWait } from '../portal/status-wait';
import { json } from './respond';

/**
 * What a read that may be held asks for (lib/portal/status-wait.ts): the client's tag
 * (`If-None-Match`), how long it will wait (`?wait`, parsed by the route's zod query) and its
 * request's signal, which aborts when the client goes away.
 */
export function heldWait(req: Request, waitSeconds: number): StatusWait {
  const ifNoneMatch = req.headers.get('if-none-match') ?? undefined;
  return { waitMs: waitSeconds * 1000, signal: req.signal, ...(ifNoneMatch ? { ifNoneMatch } : {}) };
}

/**
 * The answer to a read that may have been held: the body with its tag, or 304 when the client's
 * copy is current; `Retry-After` when this replica could not hold it.
 */
export function heldReply(answer: { etag: string; fresh: boolean; refused?: true }, body: () => unknown): Response {
  if (answer.fresh) return json(body(), 200, { etag: answer.etag });
  return new Response(null, { status: 304, headers: { etag: answer.etag, 'cache-control': 'no-store', ...(answer.refused ? { 'retry-after': '2' } : {}) } });
}
