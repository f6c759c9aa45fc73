import { readJson } from '@/lib/http/body';
import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { heldReply, heldWait } from '@/lib/http/held-read';
import { handle, json } from '@/lib/http/respond';
import { createRequest } from '@/lib/portal/requests';
import { awaitOwnList } from '@/lib/portal/status-wait';
import { parseQuery } from '@/lib/portal/parse';
import { createRequestBody, ownQuery } from '@/lib/validations/requests';

/**
 * `?cursor=&limit=` → `{ requests, nextCursor?, total }`, newest first, with its `ETag`. With
 * `If-None-Match` the answer is 304 while the page is unchanged, and `?wait=N` holds it up to N
 * seconds for a change to any of the person's requests ("My requests" follows them).
 */
export function GET(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    const { wait, ...page } = parseQuery(req.url, ownQuery);
    const answer = await awaitOwnList(deps, user, page, heldWait(req, wait));
    return heldReply(answer, () => ({ requests: answer.view.requests, nextCursor: answer.view.nextCursor, total: answer.view.total }));
  });
}

export function POST(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, createRequestBody);
    const { request } = await createRequest(deps, user, body.model, { ...(body.justification ? { justification: body.justification } : {}) });
    return json({ request }, 201, { location: `/api/requests/${request.id}` });
  });
}
