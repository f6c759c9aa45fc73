import { signedIn } from '@/lib/http/context';
import { handle, json } from '@/lib/http/respond';
import { listQueue } from '@/lib/portal/requests';
import { parseQuery } from '@/lib/portal/parse';
import { queueQuery } from '@/lib/validations/requests';

/** `?state=&model=&requester=&cursor=&limit=` → `{ requests, nextCursor?, total, counts }`. */
export function GET(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    const query = parseQuery(req.url, queueQuery);
    const { requests, nextCursor, total, counts } = await listQueue(deps, user, query);
    return json({ requests, nextCursor, total, counts });
  });
}
