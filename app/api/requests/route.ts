import { readJson } from '@/lib/http/body';
import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { createRequest, listOwn } from '@/lib/portal/requests';
import { parseQuery } from '@/lib/portal/parse';
import { createRequestBody, ownQuery } from '@/lib/validations/requests';

/** `?cursor=&limit=` → `{ requests, nextCursor?, total }`, newest first. */
export function GET(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    const { requests, nextCursor, total } = await listOwn(deps, user, parseQuery(req.url, ownQuery));
    return json({ requests, nextCursor, total });
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
