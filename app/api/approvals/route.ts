import { signedIn } from '@/lib/http/context';
import { heldReply, heldWait } from '@/lib/http/held-read';
import { handle } from '@/lib/http/respond';
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
    const answer = await awaitQueue(deps, user, query, heldWait(req, wait));
    const { requests, nextCursor, total, counts } = answer.view;
    return heldReply(answer, () => ({ requests, nextCursor, total, counts }));
  });
}
