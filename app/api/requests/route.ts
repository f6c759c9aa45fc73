import { readJson } from '@/lib/http/body';
import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { createRequest, listOwn } from '@/lib/portal/requests';
import { createRequestBody } from '@/lib/validations/requests';

export function GET() {
  return handle(async () => {
    const { deps, user } = await signedIn();
    return json({ requests: await listOwn(deps, user) });
  });
}

export function POST(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, createRequestBody);
    const { request } = await createRequest(deps, user, body.model);
    return json({ request }, 201, { location: `/api/requests/${request.id}` });
  });
}
