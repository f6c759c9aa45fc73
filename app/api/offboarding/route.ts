import { readJson } from '@/lib/http/body';
import { signedIn } from '@/lib/http/context';
import { assertSameOrigin } from '@/lib/http/origin';
import { handle, json } from '@/lib/http/respond';
import { liftPerson, offboardPerson, previewOffboardPerson } from '@/lib/portal/offboarding';
import { parseQuery } from '@/lib/portal/parse';
import { liftPersonBody, offboardPersonBody, offboardPreviewQuery } from '@/lib/validations/offboarding';

/** What "revoke all keys of this person" would change: the confirmation step's numbers. */
export function GET(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    const { email } = parseQuery(req.url, offboardPreviewQuery);
    return json({ preview: await previewOffboardPerson(deps, user, email) });
  });
}

/** An approver's "revoke all keys of this person", after confirming. */
export function POST(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, offboardPersonBody);
    return json({ result: await offboardPerson(deps, user, body.email, body.reason) });
  });
}

/** An approver's "let back in": lifts a standing offboarding (recorded beside it). */
export function DELETE(req: Request) {
  return handle(async () => {
    const { deps, user } = await signedIn();
    assertSameOrigin(req, deps.config.portal.publicUrl);
    const body = await readJson(req, liftPersonBody);
    return json({ result: await liftPerson(deps, user, body.email, body.reason) });
  });
}
