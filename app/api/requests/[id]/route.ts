import { signedIn } from '@/lib/http/context';
import { heldReply, heldWait } from '@/lib/http/held-read';
import { handle } from '@/lib/http/respond';
import { parseQuery } from '@/lib/portal/parse';
import { awaitRequest } from '@/lib/portal/status-wait';
import { statusQuery } from '@/lib/validations/requests';

/**
 * `{ request }` with its `ETag`. With `If-None-Match` the answer is 304 while the request is
 * unchanged, and `?wait=N` holds it up to N seconds for a change (a status page's long poll);
 * `Retry-After` on a 304 says this replica could not hold it: ask again after that pause.
 */
export function GET(req: Request, ctx: { params: Promise<{ id: string }> }) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    const { wait } = parseQuery(req.url, statusQuery);
    const answer = await awaitRequest(deps, user, (await ctx.params).id, heldWait(req, wait));
    return heldReply(answer, () => ({ request: answer.view }));
  });
}
