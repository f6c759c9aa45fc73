import { signedIn } from '@/lib/http/context';
import { handle, heldReply } from '@/lib/http/respond';
import { parseQuery } from '@/lib/portal/parse';
import { awaitQueue } from '@/lib/portal/status-wait';
import { queueQuery } from '@/lib/validations/requests';

/**
 * `?state=&model=&requester=&cursor=&limit=` → `{ requests, nextCursor?, total, counts }`, with its
 * `ETag`; `If-None-Match` and `?wait=N` as for one request: held until the page shown changes.
 */
export function GET(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    const { wait, ...query } = parseQuery(req.url, queueQuery);
    const ifNoneMatch = req.headers.get('if-none-match') ?? undefined;
    const answer = await awaitQueue(deps, user, query, { waitMs: wait * 1000, signal: req.signal, ...(ifNoneMatch ? { ifNoneMatch } : {}) });
    const { requests, nextCursor, total, counts } = answer.view;
    return heldReply(answer, () => ({ requests, nextCursor, total, counts }));
  });
}
